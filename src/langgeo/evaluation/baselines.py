"""Baseline distance matrices over our languages, to be scored by the same protocol as ours.

- URIEL+ (``urielplus==1.3.2``) ``geographic``, ``genetic``, ``featural``, ``syntactic``,
  ``phonological`` and ``inventory`` distances: the angle between two languages' feature
  vectors over the features both have a value for, divided by π/2 (in [0, 1]: the features
  are non-negative), which is what ``URIELPlus().new_distance`` returns (there computed in
  float32 and rounded to 4 decimals). We compute it vectorized from the package's data files:
  ``new_distance`` loops over features in Python and takes ~6.5 minutes for the 59×59
  genetic matrix, this takes about a second, mostly reading the file. The data are the files
  ``URIELPlus()`` starts from (``database/original_uriel``; no ``integrate_databases()``, which
  takes over a minute and re-keys languages by Glottocode), read directly so that nothing is
  written into the installed package and no cached state of it can change the result.
- ``script``: 0 if two languages' corpus text is in the same writing system, else 1.
- ``random``: a seeded random symmetric matrix.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np

from langgeo import LanggeoError
from langgeo._util import single_threaded
from langgeo.data.languages import CORPUS_SCRIPTS
from langgeo.params import URIEL_KINDS

__all__ = ["URIEL_KINDS", "DEFAULT_URIEL_KINDS", "CORPUS_SCRIPTS", "Baseline",
           "uriel_distances", "script_distances", "random_distances", "baseline_distances"]

_DATA_DIR = ("database", "original_uriel")
# kind -> (data file, prefix of the kind's feature names; "" takes every feature)
_KINDS = {
    "geographic": ("geocoord_features.npz", ""),
    "genetic": ("family_features.npz", ""),
    "featural": ("features.npz", ""),
    "syntactic": ("features.npz", "S_"),
    "phonological": ("features.npz", "P_"),
    "inventory": ("features.npz", "INV_"),
}
# The kind names are declared once, in langgeo.params (which validates params without numpy);
# tests/evaluation/test_baselines.py checks that this table has exactly those.
DEFAULT_URIEL_KINDS: tuple[str, ...] = ("geographic", "featural", "syntactic", "genetic")


@dataclass(frozen=True, eq=False)
class Baseline:
    """A baseline distance matrix.

    distances : (n, n) float64, symmetric, zero diagonal, no missing values.
    imputed_pairs : number of language pairs (i < j) whose distance the source lacks and
        that were filled in (see :func:`uriel_distances`); 0 for complete sources.
    """

    distances: np.ndarray
    imputed_pairs: int = 0


@functools.lru_cache(maxsize=None)
def _uriel_table(filename: str) -> tuple[dict[str, int], np.ndarray, np.ndarray, np.ndarray]:
    """One URIEL data file: language -> row, feature names, per-feature values (n_all, F;
    0 where unknown) and whether each is known. Several sources of one feature are merged as
    URIEL+ does by default (``aggregation='U'``): the largest known value."""
    try:
        source = resources.files("urielplus").joinpath(*_DATA_DIR, filename)
    except ModuleNotFoundError as error:
        raise LanggeoError("URIEL+ baselines need the 'urielplus' package; install it with "
                           "'pip install urielplus==1.3.2'") from error
    try:
        with source.open("rb") as handle, np.load(handle) as archive:
            langs, feats, data = archive["langs"], archive["feats"], archive["data"]
    except (FileNotFoundError, KeyError) as error:
        raise LanggeoError(f"URIEL+ data file {source} is missing or not in the expected "
                           "format; reinstall urielplus==1.3.2") from error
    # URIEL+ marks an unknown value -1 and checks that known ones lie in [0, 1], so the
    # maximum over sources is the largest known value, or -1 where none is known.
    if not np.all((data == -1) | ((data >= 0) & (data <= 1))):
        raise LanggeoError(f"URIEL+ data file {source} holds values outside -1 and [0, 1]; "
                           "reinstall urielplus==1.3.2")
    values = data.max(axis=2)
    known = values != -1
    values[~known] = 0
    return {str(lang): i for i, lang in enumerate(langs)}, feats.astype(str), values, known


def _angular_distances(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """URIEL+'s angular distance between rows, over the features both rows know.

    ``values``: (n, F) with 0 where unknown; ``known``: (n, F) bool. Returns (n, n), NaN
    where two rows share no known feature. As in URIEL+, a vector that is all zeros on the
    shared features is replaced by a constant vector (so two such vectors are at distance 0).
    """
    k = known.astype(np.float64)
    shared = k @ k.T
    dot = values @ values.T
    # sq_norm[i, j]: squared norm of row i over the features shared with row j.
    sq_norm = (values**2) @ k.T
    # total[i, j]: sum of row j over the features shared with row i, i.e. its dot product
    # with a constant vector there.
    total = k @ values.T
    norm_i, norm_j = np.sqrt(sq_norm), np.sqrt(sq_norm.T)
    zero_i, zero_j = norm_i == 0, norm_j == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        cos = np.select(
            [zero_i & zero_j, zero_i, zero_j],
            [np.ones_like(dot), total / (np.sqrt(shared) * norm_j),
             total.T / (np.sqrt(shared) * norm_i)],
            dot / (norm_i * norm_j))
    distances = 2 * np.arccos(np.clip(cos, -1.0, 1.0)) / np.pi
    distances[shared == 0] = np.nan
    np.fill_diagonal(distances, 0.0)
    return distances


@single_threaded
def uriel_distances(kind: str, iso639_3: Sequence[str], missing: str = "mean") -> Baseline:
    """URIEL+ distances of one kind between languages given by ISO 639-3 code.

    Parameters
    ----------
    kind : one of :data:`URIEL_KINDS`.
    iso639_3 : n codes (URIEL+ keys languages by ISO 639-3).
    missing : what to do with a pair of languages that share no known feature of this kind
        (for example a language URIEL+ has no syntax data for): ``"mean"`` fills it with the
        mean of the pairs that do have a distance, which places the language at an average,
        uninformative distance from the others; ``"error"`` raises.

    Returns
    -------
    Baseline with (n, n) angular distances in [0, 1] and the number of imputed pairs.
    """
    if kind not in _KINDS:
        raise LanggeoError(f"unknown URIEL+ distance kind {kind!r}; choose from {URIEL_KINDS}")
    if missing not in ("mean", "error"):
        raise LanggeoError(f"missing={missing!r}: use 'mean' or 'error'")
    filename, prefix = _KINDS[kind]
    index, feats, values, known = _uriel_table(filename)
    unknown = [code for code in iso639_3 if code not in index]
    if unknown:
        raise LanggeoError(f"ISO 639-3 code(s) {unknown} are not in URIEL+; check the iso639_3 "
                           "column of langgeo/data/resources/languages.csv")
    rows = [index[code] for code in iso639_3]
    columns = np.char.startswith(feats, prefix)
    distances = _angular_distances(values[np.ix_(rows, columns)].astype(np.float64),
                                   known[np.ix_(rows, columns)])
    gaps = np.isnan(distances)
    n_imputed = int(gaps.sum() // 2)
    off_diagonal = ~np.eye(len(rows), dtype=bool)
    if n_imputed:
        if missing == "error" or gaps[off_diagonal].all():
            lacking = [code for code, row, off in zip(iso639_3, gaps, off_diagonal)
                       if row[off].all()]
            raise LanggeoError(f"URIEL+ has no {kind} distance for {n_imputed} pair(s) of "
                               f"languages (no {kind} data at all for {lacking}); use "
                               "missing='mean' to impute them or leave those languages out")
        distances[gaps] = np.nanmean(distances[off_diagonal])
    return Baseline(distances, n_imputed)


def script_distances(codes: Sequence[str],
                     scripts: dict[str, str] | None = None) -> Baseline:
    """0/1 script identity distances: 0 where two languages are written in the same script.

    ``scripts`` maps each code to its script (default :data:`CORPUS_SCRIPTS`).
    """
    scripts = CORPUS_SCRIPTS if scripts is None else scripts
    unknown = [code for code in codes if code not in scripts]
    if unknown:
        raise LanggeoError(f"no script known for language(s) {unknown}; add them to "
                           "langgeo.data.languages.CORPUS_SCRIPTS or pass scripts=")
    names = np.array([scripts[code] for code in codes])
    return Baseline((names[:, None] != names[None, :]).astype(np.float64))


def random_distances(n: int, seed: int) -> Baseline:
    """A seeded random (n, n) distance matrix, entries uniform in [0.5, 1): any three such
    numbers satisfy the triangle inequality, so it is a metric with no structure."""
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.uniform(0.5, 1.0, (n, n)), 1)
    return Baseline(upper + upper.T)


def baseline_distances(codes: Sequence[str], iso639_3: Sequence[str], seed: int,
                       uriel_kinds: Sequence[str] = DEFAULT_URIEL_KINDS,
                       missing: str = "mean",
                       scripts: dict[str, str] | None = None) -> dict[str, Baseline]:
    """Every baseline over the same languages, in the same order.

    Parameters
    ----------
    codes : n corpus language codes (for the script table).
    iso639_3 : their n ISO 639-3 codes (for URIEL+), e.g. ``data/labels.parquet``'s column.
    seed : seed of the random baseline.
    scripts : ISO 15924 script of each code (default :data:`CORPUS_SCRIPTS`).

    Returns
    -------
    ``{"uriel_<kind>": ..., "script": ..., "random": ...}``.
    """
    if len(codes) != len(iso639_3):
        raise LanggeoError(f"{len(codes)} language codes but {len(iso639_3)} ISO 639-3 codes")
    out = {f"uriel_{kind}": uriel_distances(kind, iso639_3, missing) for kind in uriel_kinds}
    out["script"] = script_distances(codes, scripts)
    out["random"] = random_distances(len(codes), seed)
    return out
