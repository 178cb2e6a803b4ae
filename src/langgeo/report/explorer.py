"""An interactive explorer of the language space as ONE self-contained HTML file.

The page, its styles and its script are files in ``langgeo/assets`` (explorer.html, .css,
.js), inlined with the data when a page is written; a strict
Content-Security-Policy forbids the page from fetching anything, so the file opens offline,
from disk or as an MLflow artifact, and never contacts another host.

The page shows the latent space (first two MDS dimensions, optionally t-SNE) with zoom,
pan and hover details; colours by family, branch or cluster; finds a language by code or
name and lists its nearest neighbours by the distance matrix (not by the 2-D picture);
draws the minimum spanning tree; switches between configurations (the ensemble and each
(model, dataset) matrix of the weight geometry, and the representation geometry of each layer
of a model from ``langgeo interlingua``); colours the languages by the cost of pruning with
another language's text (``langgeo transfer``); and exports what is shown as CSV.

Every configuration carries its exact distances (8 bytes a pair), so a model's layers cost
O(languages²) each; the page embeds them within :data:`LAYER_BUDGET` and says which layers
it left out and where they are.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import to_hex

from langgeo import LanggeoError
from langgeo.formats.matrix_file import read_matrix
from langgeo.formats.storage import atomic_path, check_parquet_files
from langgeo.geometry.embedding import classical_mds
from langgeo.geometry.matrices import check_matrix
from langgeo.geometry.trees import minimum_spanning_edges
from langgeo.layout import Layout
from langgeo.report.figures import label_column
from langgeo.report.projections import tsne_coords
from langgeo.report.study_figures import COST_CMAP

#: One configuration: language codes, their ``(n, n)`` distance matrix and ``(n, k)`` latent
#: vectors (k >= 2; the first two columns are drawn).
Configuration = tuple[Sequence[str], np.ndarray, np.ndarray]

#: No request of any kind may leave the page; inline script and style only, images only
#: from data: and blob: URLs.
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "img-src data: blob:")

#: Bytes of page data for the representation layers of all models together. The page is a
#: report in git, copied again by every preset run. A layer takes ~20 KiB at 57 languages
#: and ~50 KiB at 95, so every layer of the default (2 models, 50 layers, ~1 MiB) and of the
#: udhr-paper preset (~2.5 MiB) fits, as before (all 50 fit up to ~125 languages). At 442
#: languages (udhr-all) a layer takes ~1 MiB: the page keeps each model's most aligned layer
#: and measures ~5 MiB, not 53.
LAYER_BUDGET = 4 * 2**20


@dataclass(frozen=True)
class TransferCost:
    """``R[a, b] = log P[a, b] − log P[b, b]`` of the pruning panel (``langgeo transfer``):
    ``codes`` ``(n,)`` the panel, ``cost`` ``(n, n)`` with row a the language whose text pruned
    the model and column b the language it was evaluated on."""

    codes: list[str]
    cost: np.ndarray


@dataclass(frozen=True)
class Representation:
    """One model's representation geometry per layer (``langgeo interlingua``).

    ``layers`` is its ``layers.csv`` (one row per layer: ``layer``, mean ``ilo``,
    ``retrieval_p1``, ...); ``matrices`` holds, row for row, the layer's language codes
    ``(n,)`` and distance matrix ``(n, n)``; ``source`` is the folder of every layer's
    matrix, which the page names when it leaves layers out."""

    model: str
    layers: pd.DataFrame
    matrices: list[tuple[list[str], np.ndarray]]
    source: str


def _read_csv(path: Path, fix: str, **options: Any) -> pd.DataFrame:
    try:
        return pd.read_csv(path, **options)
    except (OSError, ValueError) as exc:  # pandas' parser errors are ValueErrors
        why = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise LanggeoError(f"{path} is not a readable CSV table ({why}). {fix}") from exc


def read_transfer_cost(path: str | Path) -> TransferCost:
    """The R matrix of ``reports/pruning/matrix.csv`` (rows source, target, ..., R; source
    ``dense`` rows, the unpruned model, are left out). A file that does not hold one R per
    (source, target) pair of one panel raises a LanggeoError naming it and the fix."""
    fix = (f"Restore it with `git checkout -- {path}` or re-run its stage: "
           "`dvc repro -f -s transfer`")
    # Codes stay text ("no" is Norwegian, not a missing value); only an empty R is missing.
    table = _read_csv(Path(path), fix, dtype={"source": str, "target": str},
                      keep_default_na=False, na_values={"R": [""]})
    missing = sorted({"source", "target", "R"} - set(table.columns))
    if missing:
        raise LanggeoError(f"{path} lacks column(s) {missing}. {fix}")
    pruned = table[table["source"] != "dense"]
    codes = list(dict.fromkeys(pruned["source"]))
    cost = pd.to_numeric(pruned["R"], errors="coerce")
    if (len(codes) < 2 or pruned.duplicated(["source", "target"]).any()
            or set(pruned["target"]) != set(codes) or len(pruned) != len(codes) ** 2
            or not np.isfinite(cost).all()):
        raise LanggeoError(f"{path} does not hold a finite R for every (source, target) pair "
                           f"of one panel ({len(codes)} sources, {len(pruned)} rows). {fix}")
    square = pruned.assign(R=cost).pivot(index="source", columns="target", values="R")
    return TransferCost(codes, square.loc[codes, codes].to_numpy(dtype=np.float64))


def read_representation(layout: Layout, model: str) -> Representation:
    """A model's ``layers.csv`` (in ``reports/interlingua/<model>/``) and every layer's
    distances (``data/interlingua/<model>/layer_NN.parquet``). A missing or damaged file
    raises a LanggeoError naming it and the fix."""
    rerun = f"re-run its stage: `dvc repro -f -s interlingua@{model}`"
    fix = f"Restore it with `git checkout -- {layout.interlingua(model)}` or {rerun}"
    path = layout.interlingua(model) / "layers.csv"
    layers = _read_csv(path, fix)
    columns = ["layer", "ilo", "retrieval_p1"]
    values = layers.reindex(columns=columns).apply(pd.to_numeric, errors="coerce")
    if (layers.empty or not np.isfinite(values.to_numpy(dtype=np.float64)).all()
            or (values["layer"] % 1).any() or values["layer"].duplicated().any()):
        raise LanggeoError(f"{path} needs one row per layer with a distinct whole 'layer' and "
                           f"finite {columns[1:]}. {fix}")
    layers = layers.assign(layer=values["layer"].astype(int))
    source = layout.representation_distances(model)
    fix = f"Restore it with `dvc checkout {source}` (or `dvc pull`) or {rerun}"
    paths = [layout.layer_distances(model, layer) for layer in layers["layer"]]
    check_parquet_files(paths, fix)
    matrices = []
    for p in paths:
        codes, d = read_matrix(p, fix)
        matrices.append((codes, check_matrix(d, codes, what=f"distance matrix {p}", hint=fix)))
    return Representation(model, layers, matrices, str(source))


def _rounded(coords: np.ndarray) -> list[list[float]]:
    # Six significant digits are far finer than a pixel and keep the page small.
    return [[float(f"{v:.6g}") for v in row] for row in np.asarray(coords)[:, :2].tolist()]


def _configuration(name: str, config: Configuration, clusters: Sequence | None,
                   tsne_seed: int | None) -> dict:
    codes, distances, latent = config
    codes = [str(c) for c in codes]
    d = check_matrix(distances, codes, what=f"configuration {name!r}: distance matrix")
    latent = np.asarray(latent, dtype=np.float64)
    if latent.ndim != 2 or latent.shape[0] != len(codes) or latent.shape[1] < 2:
        raise LanggeoError(f"configuration {name!r}: latent vectors have shape {latent.shape}; "
                           f"need ({len(codes)}, k >= 2), rows in the order of its codes")
    if clusters is not None and len(clusters) != len(codes):
        raise LanggeoError(f"configuration {name!r}: {len(clusters)} cluster assignments for "
                           f"{len(codes)} languages")
    layouts = {"MDS": _rounded(latent)}
    if tsne_seed is not None and len(codes) >= 5:
        layouts["t-SNE"] = _rounded(tsne_coords(latent, tsne_seed))
    upper = d[np.triu_indices(len(codes), k=1)].astype("<f8")
    edges, _ = minimum_spanning_edges(d)
    return {"name": name, "codes": codes, "layouts": layouts,
            # Exact float64 values (base64, row-major upper triangle) so the page ranks
            # neighbours exactly as numpy does, at 8 bytes a pair.
            "distances": base64.b64encode(upper.tobytes()).decode("ascii"),
            "mst": edges.tolist(),
            "clusters": None if clusters is None else [str(c) for c in clusters]}


def _placed(placement: Any) -> list[dict]:
    # Drawn in the first configuration's MDS map, whose coordinates they share.
    return [{"name": name, "xy": _rounded(placement.coords[[i]])[0],
             "family": str(placement.guesses.iloc[i]["family"]),
             "branch": str(placement.guesses.iloc[i]["branch"]),
             "neighbours": [[str(c), float(d)] for c, d in
                            zip(placement.neighbours[name]["code"],
                                placement.neighbours[name]["distance"])]}
            for i, name in enumerate(placement.names)]


def _layers(representation: Representation, transform: str) -> list[dict]:
    """One configuration per layer, in depth order."""
    confs = []
    for position in np.argsort(representation.layers["layer"].to_numpy(), kind="stable"):
        row = representation.layers.iloc[position]
        layer = int(row["layer"])
        codes, d = representation.matrices[position]
        name = f"representation, {representation.model}, layer {layer}"
        # MDS only (no t-SNE): dozens of layers per model would make the page and stage slow.
        conf = _configuration(name, (codes, d, classical_mds(d, 2, transform)[0]), None, None)
        conf["layer"] = {"model": representation.model, "layer": layer,
                         "ilo": float(row["ilo"]), "retrieval_p1": float(row["retrieval_p1"])}
        confs.append(conf)
    return confs


def embedded_layers(sizes: Sequence[Sequence[int]], best: Sequence[int],
                    budget: int) -> list[list[int]]:
    """Which layers the page embeds, per model: every layer when their ``sizes`` (bytes; one
    sequence per model, one size per layer in depth order) fit in ``budget``; otherwise each
    model's ``best`` layer (a position in its sequence) and the layers at whole multiples of
    the smallest stride from it that fits, one stride for all models so their depths are
    sampled alike; each best layer alone when no stride fits. Returns positions, ascending."""
    for stride in range(1, max(map(len, sizes), default=0)):
        kept = [list(range(b % stride, len(s), stride))
                for s, b in zip(sizes, best, strict=True)]
        if sum(s[i] for s, k in zip(sizes, kept) for i in k) <= budget:
            return kept
    return [[b] for b in best]


def _representations(representations: Sequence[Representation], transform: str
                     ) -> tuple[list[dict], list[dict]]:
    """The layer configurations within :data:`LAYER_BUDGET` (read when called, so tests can
    shrink it), and per model its layers, those embedded and where all of them are."""
    built = [_layers(r, transform) for r in representations]
    sizes = [[len(_json(conf).encode()) for conf in confs] for confs in built]
    # The page opens on the most aligned layer, so it is always kept.
    best = [int(np.argmax([conf["layer"]["ilo"] for conf in confs])) for confs in built]
    kept = embedded_layers(sizes, best, LAYER_BUDGET)
    summary = [{"model": r.model, "layers": [conf["layer"]["layer"] for conf in confs],
                "embedded": [confs[i]["layer"]["layer"] for i in k], "source": r.source}
               for r, confs, k in zip(representations, built, kept, strict=True)]
    return [confs[i] for confs, k in zip(built, kept, strict=True) for i in k], summary


def _transfer(transfer: TransferCost) -> dict:
    n = len(transfer.codes)
    if transfer.cost.shape != (n, n) or not np.isfinite(transfer.cost).all():
        raise LanggeoError(f"transfer cost of shape {transfer.cost.shape} for a panel of {n} "
                           "languages; need a finite (n, n) R, rows in the order of its codes")
    cmap = colormaps[COST_CMAP]
    # The colormap's own lookup table: the page maps R to a colour as matplotlib does in
    # cost.png, over the range of the whole matrix, so sources compare on one scale.
    return {"panel": transfer.codes, "cost": transfer.cost.tolist(), "colormap": COST_CMAP,
            "lut": [to_hex(c) for c in cmap(np.arange(cmap.N))],
            "range": [float(transfer.cost.min()), float(transfer.cost.max())]}


def explorer_payload(configurations: Mapping[str, Configuration], labels: pd.DataFrame,
                     clusters: Mapping[str, Sequence] | None = None,
                     tsne_seed: int | None = 0, title: str = "langgeo explorer",
                     placed: Any = None, representations: Sequence[Representation] = (),
                     transfer: TransferCost | None = None, transform: str = "sqrt") -> dict:
    """The data embedded in the page (JSON-serializable). See :func:`write_explorer`; its
    ``representations`` entry lists per model ``layers`` (all, in depth order), those
    ``embedded`` within :data:`LAYER_BUDGET` and the ``source`` folder of all of them."""
    if not configurations:
        raise LanggeoError("the explorer needs at least one configuration (name -> (codes, "
                           "distances, latent))")
    clusters = dict(clusters or {})
    unknown = sorted(set(clusters) - set(configurations))
    if unknown:
        raise LanggeoError(f"clusters given for unknown configuration(s) {unknown}; use the "
                           f"names {sorted(configurations)}")
    confs = [_configuration(str(name), config, clusters.get(name), tsne_seed)
             for name, config in configurations.items()]
    layers, embedded = _representations(representations, transform)
    confs += layers
    codes = {c for conf in confs for c in conf["codes"]}
    if transfer is not None:
        codes |= set(transfer.codes)
    codes = sorted(codes)
    columns = [label_column(labels, codes, col) for col in ("name", "family", "branch")]
    payload = {"title": title,
               "languages": {c: list(row) for c, row in zip(codes, zip(*columns), strict=True)},
               "configurations": confs, "representations": embedded}
    if placed is not None:
        payload["placed"] = _placed(placed)
    if transfer is not None:
        payload["transfer"] = _transfer(transfer)
    return payload


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _asset(name: str) -> str:
    """The text of one of the page's files in ``langgeo/assets`` (read when a page is written,
    so the script and styles are ordinary files that tools can lint and test)."""
    return (resources.files("langgeo.report") / "assets" / name).read_text(encoding="utf-8")


def explorer_html(payload: dict) -> str:
    """The whole page for a payload from :func:`explorer_payload`."""
    # "<" escaped as \\u003c so no name can close the data <script> element early.
    data = _json(payload).replace("<", "\\u003c")
    parts = {"TITLE": html.escape(payload["title"]), "CSP": CSP, "CSS": _asset("explorer.css"),
             "DATA": data, "JS": _asset("explorer.js")}
    # One pass, so a "%JS%" inside a language name stays text.
    return re.sub(r"%(TITLE|CSP|CSS|DATA|JS)%", lambda m: parts[m.group(1)],
                  _asset("explorer.html"))


def write_explorer(path: str | Path, configurations: Mapping[str, Configuration],
                   labels: pd.DataFrame, clusters: Mapping[str, Sequence] | None = None,
                   tsne_seed: int | None = 0, title: str = "langgeo explorer",
                   placed: Any = None, representations: Sequence[Representation] = (),
                   transfer: TransferCost | None = None, transform: str = "sqrt") -> Path:
    """Write the explorer page atomically and return its path.

    Parameters
    ----------
    configurations : name -> (codes, distances ``(n, n)``, latent ``(n, k)``), e.g.
        ``{"ensemble": ..., "gemma3-270m/eld": ...}``; the first is shown first.
    labels : table with columns code, name, family, branch (data/labels.parquet) covering
        every code of every configuration.
    clusters : optional name -> one cluster id per language of that configuration.
    tsne_seed : seed of a t-SNE layout added to each configuration (a few seconds per 150
        languages); ``None`` offers the MDS layout only.
    placed : optional :class:`langgeo.studies.placement.Placement` of new texts, drawn as
        diamonds in the first configuration's MDS map (its coordinates are in that map's
        frame).
    representations : models' layer geometries (:func:`read_representation`): each layer
        becomes a configuration "representation, <model>, layer N", laid out by classical
        MDS of its distances with ``transform`` (params ``embedding.distance_transform``);
        layers beyond :data:`LAYER_BUDGET` are left out (:func:`embedded_layers`).
    transfer : the pruning panel's R (:func:`read_transfer_cost`): offers colouring the
        languages by the cost of pruning with a chosen source language's text.
    """
    return write_page(path, explorer_payload(configurations, labels, clusters, tsne_seed,
                                             title, placed, representations, transfer,
                                             transform))


def write_page(path: str | Path, payload: dict) -> Path:
    """Write the page of a payload from :func:`explorer_payload` atomically; return its path."""
    with atomic_path(path) as tmp:
        tmp.write_text(explorer_html(payload), encoding="utf-8")
    return Path(path)
