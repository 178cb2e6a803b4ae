"""An interactive explorer of the language space as ONE self-contained HTML file.

The page, its styles and its script are files in ``langgeo/assets`` (explorer.html, .css,
.js), inlined with the data when a page is written; a strict
Content-Security-Policy forbids the page from fetching anything, so the file opens offline,
from disk or as an MLflow artifact, and never contacts another host.

The page shows the latent space (first two MDS dimensions, optionally t-SNE) with zoom,
pan and hover details; colours by family, branch or cluster; finds a language by code or
name and lists its nearest neighbours by the distance matrix (not by the 2-D picture);
draws the minimum spanning tree; switches between configurations (the ensemble and each
(model, dataset) matrix); and exports what is shown as CSV.
"""

from __future__ import annotations

import base64
import html
import json
import re
from importlib import resources
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from langgeo import LanggeoError
from langgeo.distances import check_matrix
from langgeo.figures import label_column, minimum_spanning_edges, tsne_coords
from langgeo.storage import atomic_path

#: One configuration: language codes, their ``(n, n)`` distance matrix and ``(n, k)`` latent
#: vectors (k >= 2; the first two columns are drawn).
Configuration = tuple[Sequence[str], np.ndarray, np.ndarray]

#: No request of any kind may leave the page; inline script and style only, images only
#: from data: and blob: URLs.
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "img-src data: blob:")


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


def explorer_payload(configurations: Mapping[str, Configuration], labels: pd.DataFrame,
                     clusters: Mapping[str, Sequence] | None = None,
                     tsne_seed: int | None = 0, title: str = "langgeo explorer",
                     placed: Any = None) -> dict:
    """The data embedded in the page (JSON-serializable). See :func:`write_explorer`."""
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
    codes = sorted({c for conf in confs for c in conf["codes"]})
    columns = [label_column(labels, codes, col) for col in ("name", "family", "branch")]
    payload = {"title": title,
               "languages": {c: list(row) for c, row in zip(codes, zip(*columns), strict=True)},
               "configurations": confs}
    if placed is not None:
        payload["placed"] = _placed(placed)
    return payload


def _asset(name: str) -> str:
    """The text of one of the page's files in ``langgeo/assets`` (read when a page is written,
    so the script and styles are ordinary files that tools can lint and test)."""
    return (resources.files("langgeo") / "assets" / name).read_text(encoding="utf-8")


def explorer_html(payload: dict) -> str:
    """The whole page for a payload from :func:`explorer_payload`."""
    # "<" escaped as \\u003c so no name can close the data <script> element early.
    data = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).replace("<", "\\u003c")
    parts = {"TITLE": html.escape(payload["title"]), "CSP": CSP, "CSS": _asset("explorer.css"),
             "DATA": data, "JS": _asset("explorer.js")}
    # One pass, so a "%JS%" inside a language name stays text.
    return re.sub(r"%(TITLE|CSP|CSS|DATA|JS)%", lambda m: parts[m.group(1)],
                  _asset("explorer.html"))


def write_explorer(path: str | Path, configurations: Mapping[str, Configuration],
                   labels: pd.DataFrame, clusters: Mapping[str, Sequence] | None = None,
                   tsne_seed: int | None = 0, title: str = "langgeo explorer",
                   placed: Any = None) -> Path:
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
    placed : optional :class:`langgeo.placement.Placement` of new texts, drawn as diamonds in the
        first configuration's MDS map (its coordinates are in that map's frame).
    """
    page = explorer_html(explorer_payload(configurations, labels, clusters, tsne_seed, title,
                                          placed))
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(path)
