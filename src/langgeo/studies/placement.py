"""A language space in Python: load one, compute a text's signature, place it, query it.

A *space* is what the pipeline leaves in a project folder: the reference languages' codes and
labels (``data/labels.parquet``), their distances (``data/distances/ensemble.parquet``), their
latent vectors (``data/embedding/latent.parquet``) and, per (model, dataset), the signatures
and factor files they were computed from. :func:`load_space` loads one; :meth:`Space.place` puts
new texts in it without moving the references (out-of-sample classical MDS). ``langgeo.space``
is :func:`load_space`.

    import langgeo
    s = langgeo.space(".")
    s.neighbours("fr", 3)
    result = s.place({"mine": langgeo.studies.placement.read_text("mine.txt")})
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from langgeo import LanggeoError
from langgeo.method.signature import TextSignature, compute_sizes

#: Neighbours that vote for a placed text's family and branch.
VOTERS = 5


@dataclass
class Placement:
    """Where new texts land in a space.

    ``names``: the texts, ``(m,)``; ``distances``: ``(m, n)`` to the reference languages
    (``codes`` of the space); ``coords``: ``(m, k)`` in the space's latent coordinates;
    ``neighbours``: one table per text (code, name, family, branch, distance), nearest first;
    ``guesses``: one row per text (family, family_confidence, branch, branch_confidence).
    """

    names: list[str]
    codes: list[str]
    distances: np.ndarray
    coords: np.ndarray
    neighbours: dict[str, pd.DataFrame]
    guesses: pd.DataFrame


def vote(neighbour_labels: Sequence[str], neighbour_distances: Sequence[float]
         ) -> tuple[str, float]:
    """The label of the nearest neighbours weighted by ``1 / distance`` and its share of the
    total weight (the confidence, in (0, 1]). Ties go to the label of the nearer neighbour."""
    d = np.asarray(neighbour_distances, dtype=np.float64)
    weights = 1.0 / np.maximum(d, 1e-12)
    totals: dict[str, float] = {}
    for label, w in zip(neighbour_labels, weights):
        totals[label] = totals.get(label, 0.0) + float(w)
    best = max(totals, key=lambda label: (totals[label], -list(neighbour_labels).index(label)))
    return best, totals[best] / float(weights.sum())


@dataclass
class Space:
    """A reference space of languages.

    ``codes``: ``(n,)`` language codes; ``labels``: one row per code (code, name, family,
    branch, ...), indexed by code; ``distances``: ``(n, n)`` ensemble distances;
    ``latent``: ``(n, k)`` latent vectors (classical MDS of the distances, reference
    coordinates); ``transform``: the embedding's distance transform (``sqrt`` or ``none``);
    ``root``: the project folder, where the per-(model, dataset) files live.
    """

    codes: list[str]
    labels: pd.DataFrame
    distances: np.ndarray
    latent: np.ndarray
    transform: str = "sqrt"
    root: Path | None = None
    pairs: list[tuple[str, str]] = field(default_factory=list)

    def index(self, code: str) -> int:
        if code not in self.codes:
            raise LanggeoError(f"language {code!r} is not in this space ({len(self.codes)} "
                               f"languages: {', '.join(self.codes[:10])}, ...)")
        return self.codes.index(code)

    def neighbours(self, code: str, k: int = 5) -> pd.DataFrame:
        """The ``k`` languages nearest to ``code`` by the distance matrix (not the map),
        nearest first, ties by position: columns code, name, family, branch, distance."""
        i = self.index(code)
        order = [j for j in np.argsort(self.distances[i], kind="stable") if j != i][:k]
        return self._table(order, self.distances[i, order])

    def _table(self, order: Sequence[int], distances: np.ndarray) -> pd.DataFrame:
        codes = [self.codes[j] for j in order]
        table = self.labels.reindex(codes)[["name", "family", "branch"]].reset_index(names="code")
        table["distance"] = np.asarray(distances, dtype=np.float64)
        return table

    def place_distances(self, distances: np.ndarray,
                        names: Sequence[str] | None = None, k: int = 5) -> Placement:
        """Place new points given their distances ``(m, n)`` to the reference languages (the
        same kind of distance as the space's, averaged over the same (model, dataset) pairs).

        Coordinates by Gower's out-of-sample formula
        (:func:`langgeo.geometry.embedding.add_points`): the references keep theirs. The
        family and branch guesses are a ``1 / distance`` weighted vote of the :data:`VOTERS`
        nearest references.
        """
        from langgeo.geometry.embedding import add_points

        d = np.atleast_2d(np.asarray(distances, dtype=np.float64))
        if d.shape[1] != len(self.codes):
            raise LanggeoError(f"{d.shape[1]} distances per text for {len(self.codes)} "
                               "reference languages")
        names = [f"text{i + 1}" for i in range(len(d))] if names is None else list(names)
        coords = add_points(self.latent, d, self.transform)
        neighbours, guesses = {}, []
        for name, row in zip(names, d):
            order = np.argsort(row, kind="stable")
            neighbours[name] = self._table(order[:k], row[order[:k]])
            voters = self._table(order[:VOTERS], row[order[:VOTERS]])
            guess = {"text": name}
            for level in ("family", "branch"):
                label, confidence = vote(voters[level].tolist(), voters["distance"].tolist())
                guess[level], guess[f"{level}_confidence"] = label, confidence
            guesses.append(guess)
        return Placement(names, list(self.codes), d, coords, neighbours, pd.DataFrame(guesses))

    def place(self, texts: Mapping[str, Sequence[str]], params: Any = None, k: int = 5,
              models: Mapping[str, tuple[Any, Any]] | None = None) -> Placement:
        """Place new texts: their signatures with the space's models and settings, their
        distances to every reference language (``distances.kind`` of the params: from the
        reference factor files for ``factors``, from the signature files for ``hamming``),
        averaged over the (model, dataset) pairs as the ensemble is, then
        :meth:`place_distances`.

        ``texts``: name -> documents (e.g. from :func:`read_text`); ``params``: those the
        space was computed with (default: ``root/params.yaml``); ``models``: optional model
        name -> (model, tokenizer) already loaded.
        """
        from langgeo.formats.matrix_file import read_matrix
        from langgeo.geometry.matrices import mean_off_diagonal
        from langgeo.layout import Layout
        from langgeo.method.models import load_model, load_tokenizer
        from langgeo.params import load_params

        if self.root is None:
            raise LanggeoError("this space was not loaded from a project folder; use "
                               "place_distances with distances computed elsewhere")
        params = load_params(self.root / "params.yaml") if params is None else params
        kind = params.distances.kind
        if kind not in ("factors", "hamming"):
            raise LanggeoError(f"placing a text needs distances.kind factors or hamming; the "
                               f"params say {kind!r}")
        layout, sig, cal = Layout(self.root), params.signatures, params.calibration
        models = dict(models or {})
        index = {c: i for i, c in enumerate(self.codes)}
        pending = []  # (positions of the pair's references, its distances to come, its scale)
        # A text's signature depends on the model and the tokens, not on the dataset: each
        # model makes one pass per text for all the sizes its pairs use (each dataset's
        # references were computed at that dataset's own size).
        sizes: dict[str, set[int]] = {}
        for model_name, dataset in self.pairs:
            sizes.setdefault(model_name, set()).add(params.tokens(dataset))
        computed: dict[str, dict[str, dict[int, TextSignature]]] = {}
        # Comparing with the references (reading files, popcounts: one core) runs in a thread
        # while the next model loads and makes its pass (both cores): 2-3 s less per text.
        with ThreadPoolExecutor(max_workers=1) as compare:
            for model_name, dataset in self.pairs:
                # Each pair over its own languages (UDHR lacks Odia), as the ensemble was built.
                pair_path = layout.pair_distances(model_name, dataset)
                pair_codes, matrix = read_matrix(pair_path)
                if set(pair_codes) - set(index):
                    raise LanggeoError(f"{pair_path} holds languages the ensemble lacks; run "
                                       "`dvc repro`")
                folder = layout.signatures(model_name, dataset)
                suffix = ".factors.parquet" if kind == "factors" else ".parquet"
                paths = [folder / f"{c}{suffix}" for c in pair_codes]
                missing = [str(p) for p in paths if not p.is_file()]
                if missing:
                    raise LanggeoError(f"{len(missing)} reference file(s) missing locally, e.g. "
                                       f"{', '.join(missing[:3])}; run `dvc pull` in {self.root}")
                if model_name not in computed:
                    if model_name not in models:
                        model_dir = layout.model(model_name)
                        models[model_name] = (load_model(model_dir, sig.device, sig.dtype),
                                              load_tokenizer(model_dir))
                    model, tokenizer = models[model_name]
                    computed[model_name] = {
                        # A blank document would still add its newline's tokens.
                        name: compute_sizes(model, tokenizer, [d for d in docs if d.strip()],
                                            sorted(sizes[model_name]), cal.seq_len, sig.score,
                                            sig.binarization, sig.damping, sig.batch_size,
                                            hessian_dtype=sig.hessian_dtype,
                                            bits=kind == "hamming", name=name)
                        for name, docs in texts.items()}
                tokens = params.tokens(dataset)
                signatures = [by_size[tokens] for by_size in computed[model_name].values()]
                check_reference(paths[0], signatures[0], model_name)
                pending.append(([index[c] for c in pair_codes],
                                 compare.submit(_distances_to_references, kind, signatures, paths),
                                 mean_off_diagonal(matrix)))
            per_pair = [(at, future.result(), scale) for at, future, scale in pending]
        # The ensemble's own arithmetic (distances.ensemble): each pair scaled by
        # mean(scales) / its scale, averaged over the pairs that hold the reference.
        mean_scale = float(np.mean([scale for _, _, scale in per_pair]))
        total = np.zeros((len(texts), len(self.codes)))
        coverage = np.zeros(len(self.codes))
        for at, distances, scale in per_pair:
            total[:, at] += distances * (mean_scale / scale)
            coverage[at] += 1
        total /= np.maximum(coverage, 1)
        return self.place_distances(total, list(texts), k)

    def without(self, code: str) -> Space:
        """The space less one language, re-embedded (for leave-one-out checks)."""
        from langgeo.geometry.embedding import classical_mds

        keep = [j for j, c in enumerate(self.codes) if c != code]
        d = self.distances[np.ix_(keep, keep)]
        coords, _ = classical_mds(d, None, self.transform)
        return Space([self.codes[j] for j in keep], self.labels, d, coords, self.transform,
                     self.root, self.pairs)


#: Metadata that must agree between a placed text's signature and the reference's.
COMPARED = ("score", "binarization", "damping", "tokens", "seq_len", "hessian_dtype")


def check_reference(path: str | os.PathLike[str], text: TextSignature, model: str) -> None:
    """Refuse a reference computed with other settings or weights than the text's, naming
    the difference (their distances would compare unlike things)."""
    import pyarrow.parquet as pq

    from langgeo.formats.factor_file import FACTORS_METADATA_KEY, factors_path
    from langgeo.formats.signature_file import METADATA_KEY

    path = Path(path)
    if not path.name.endswith(".factors.parquet") and factors_path(path).is_file():
        path = factors_path(path)  # the factor file also names the model's weights
    meta = pq.read_schema(path).metadata or {}
    key = FACTORS_METADATA_KEY if FACTORS_METADATA_KEY in meta else METADATA_KEY
    if key not in meta:
        raise LanggeoError(f"{path} is not a langgeo signature or factor file")
    reference = json.loads(meta[key])
    fields = COMPARED + (("model_identity",) if "model_identity" in reference else ())
    ours = text.factors.metadata
    differ = [f"{f} {reference.get(f)!r} (params/model: {ours.get(f)!r})" for f in fields
              if reference.get(f) != ours.get(f)]
    if differ:
        raise LanggeoError(f"the reference space was computed with other settings for model "
                           f"{model!r} than the ones configured: {'; '.join(differ)}; use the "
                           f"params and model it was computed with, or recompute it "
                           f"(`dvc repro`)")


def _distances_to_references(kind: str, texts: Sequence[TextSignature],
                             paths: Sequence[Path]) -> np.ndarray:
    """``(len(texts), len(paths))`` distances of the texts to the reference files."""
    from langgeo.formats.factor_file import read_factors
    from langgeo.geometry.continuous import factor_distances, factor_features
    from langgeo.geometry.hamming import hamming_to_files

    if kind == "hamming":
        return hamming_to_files([t.bits for t in texts], paths)
    reference = factor_features([read_factors(p) for p in paths])
    return factor_distances(factor_features([t.factors for t in texts]), reference)


def read_text(path: str | os.PathLike[str]) -> list[str]:
    """Documents of a UTF-8 text file (paragraphs separated by blank lines) or of every
    ``*.txt`` file in a folder (sorted by name, one language)."""
    import re

    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise LanggeoError(f"folder {path} holds no .txt file; give a text file or a folder "
                               "of .txt files in one language")
    elif path.is_file():
        files = [path]
    else:
        raise LanggeoError(f"text {path} not found")
    documents = []
    for file in files:
        data = file.read_bytes()
        try:
            if b"\0" in data:
                raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL byte")
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LanggeoError(f"{file} is not UTF-8 text (a binary file?); give plain text") \
                from exc
        documents += [d.strip() for d in re.split(r"\n\s*\n", text) if d.strip()]
    if not documents:
        raise LanggeoError(f"{path} holds no text (empty or only whitespace)")
    return documents


def load_space(path: str | os.PathLike[str] = ".", params: Any = None) -> Space:
    """Load the space a pipeline run left in the project folder ``path``.

    Reads ``data/labels.parquet``, ``data/distances/ensemble.parquet`` and
    ``data/embedding/latent.parquet`` (missing files: run `dvc pull`, which names them).
    ``params``: the :class:`langgeo.params.Params` of that run (default: ``path/params.yaml``),
    for the embedding's transform and the (model, dataset) pairs.
    """
    from langgeo.formats.matrix_file import read_matrix
    from langgeo.layout import Layout
    from langgeo.params import load_params

    root = Path(path)
    layout = Layout(root)
    if params is None:
        params = load_params(root / "params.yaml")
    wanted = [layout.labels(), layout.ensemble_distances(), layout.embedding() / "latent.parquet"]
    missing = [str(p) for p in wanted if not p.is_file()]
    if missing:
        raise LanggeoError(f"the reference space is not here: missing {', '.join(missing)}; run "
                           "`dvc pull` (or `dvc repro`) in the project first")
    codes, distances = read_matrix(layout.ensemble_distances())
    latent = pd.read_parquet(layout.embedding() / "latent.parquet")
    if latent["language"].tolist() != codes:
        raise LanggeoError(f"{wanted[2]} and {wanted[1]} hold different languages; run "
                           "`dvc repro` to bring them up to date")
    labels = pd.read_parquet(layout.labels()).set_index("code")
    coords = latent.drop(columns="language").to_numpy(dtype=np.float64)
    return Space(codes, labels, distances, coords, params.embedding.distance_transform, root,
                 params.pairs())
