"""Distances on continuous quantities instead of bits: sampled raw scores (the binarization
ablation: L2 and cosine on per-matrix quantiles) and column factors (log factors centred per
Hessian)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

from langgeo import LanggeoError

if TYPE_CHECKING:
    from langgeo.formats.factor_file import Factors


def _score_blocks(scores: np.ndarray | Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    blocks = [scores] if isinstance(scores, np.ndarray) else scores
    n = None
    for block in blocks:
        block = np.asarray(block, dtype=np.float64)
        if block.ndim != 2 or (n is not None and block.shape[0] != n):
            raise LanggeoError(f"score blocks must be (n_languages, n_values) with the same "
                               f"n_languages; got shape {block.shape}")
        if not np.isfinite(block).all():
            raise LanggeoError("scores contain NaN or infinity; drop or fix those values first")
        n = block.shape[0]
        yield block


def l2_distances(scores: np.ndarray | Iterable[np.ndarray]) -> np.ndarray:
    """Mean squared difference between per-language score vectors.

    Parameters
    ----------
    scores : float array ``(n_languages, n_values)``, or an iterable of column blocks
        ``(n_languages, m_k)`` (the same values split into pieces, streamed).

    Returns
    -------
    ``(n, n)`` float64, ``d(a, b) = ‖a − b‖² / n_values``. Dividing by the number of values
    makes it independent of how many weights were sampled, and on 0/1 vectors it *is* the
    normalized Hamming distance, so it is the continuous counterpart of the signature
    distance; like it, it is a squared Euclidean distance, which the ``sqrt`` transform of
    the embedding embeds exactly. It keeps the scores' units (squared): put them on a common
    scale first (e.g. log or per-matrix ranks) or use :func:`cosine_distances`.
    """
    gram, m = None, 0
    for block in _score_blocks(scores):
        # Distances do not change when the same vector is subtracted from every language;
        # centering each value across languages avoids cancellation in |a|² + |b|² − 2a·b.
        block = block - block.mean(axis=0)
        g = block @ block.T
        gram = g if gram is None else gram + g
        m += block.shape[1]
    if gram is None or m == 0:
        raise LanggeoError("no score values given")
    sq = np.diag(gram)
    d = np.maximum(sq[:, None] + sq[None, :] - 2 * gram, 0) / m
    np.fill_diagonal(d, 0)
    return d


def cosine_distances(scores: np.ndarray | Iterable[np.ndarray]) -> np.ndarray:
    """Cosine distance ``1 − a·b / (‖a‖ ‖b‖)`` between per-language score vectors.

    Parameters
    ----------
    scores : as for :func:`l2_distances`.

    Returns
    -------
    ``(n, n)`` float64 in ``[0, 2]`` (``[0, 1]`` for nonnegative scores such as importance).
    Invariant to rescaling any language's scores, so no normalization is needed for scale;
    on vectors centered per language it is ``1 − Pearson r``. Not a squared Euclidean
    distance in general: embed it with ``distance_transform: none`` or take ``2 · d``, which
    is the squared distance between the unit-normalized vectors.
    """
    gram = None
    for block in _score_blocks(scores):
        g = block @ block.T
        gram = g if gram is None else gram + g
    if gram is None:
        raise LanggeoError("no score values given")
    norms = np.sqrt(np.diag(gram))
    if (norms == 0).any():
        raise LanggeoError(f"score vectors of languages {np.flatnonzero(norms == 0).tolist()} "
                           "are all zero; cosine distance is undefined for them")
    d = np.clip(1 - gram / np.outer(norms, norms), 0, 2)
    np.fill_diagonal(d, 0)
    return d


def score_quantiles_from_files(paths: Sequence[str | os.PathLike[str]]) -> np.ndarray:
    """Per-language vectors of sampled importance scores, each turned into its quantile within
    its weight matrix (``(rank - 0.5) / count`` over that matrix's sampled weights).

    Returns ``(n_languages, n_samples)`` float64 in (0, 1). Raw scores differ between layers
    by orders of magnitude; quantiles put every matrix on one scale and are the continuous
    counterpart of the median bits (bit = quantile > 0.5), which makes L2 or cosine distances
    on them the binarization ablation. Files are ``<lang>.scores.parquet`` (see
    :mod:`langgeo.formats.signature_file`); they must hold the same positions.
    """
    from scipy.stats import rankdata

    from langgeo.formats.score_file import read_scores

    rows, reference = [], None
    for path in paths:
        meta, table = read_scores(path)
        key = (meta["modules"], table["position"].to_numpy())
        if reference is None:
            reference = key
        elif key[0] != reference[0] or not np.array_equal(key[1], reference[1]):
            raise LanggeoError(f"score sample {path} holds other weights than {paths[0]}; "
                               "recompute the signatures with the same model, seed and "
                               "keep_scores")
        module = table["module_index"].to_numpy()
        score = table["score"].to_numpy(dtype=np.float64)
        quantile = np.empty_like(score)
        for m in np.unique(module):
            take = module == m
            quantile[take] = (rankdata(score[take]) - 0.5) / take.sum()
        rows.append(quantile)
    if not rows:
        raise LanggeoError("no score samples given")
    return np.stack(rows)


#: Floor of a column factor relative to the largest of its Hessian, before the log: a dead
#: input feature (factor 0) then sits far below every live one, as its weights sit at the
#: bottom of the ranking, without an infinite log.
FACTOR_FLOOR = 1e-6


def factor_features(factors: Sequence[Factors]) -> np.ndarray:
    """Log column factors centred per Hessian, one row per language.

    Returns ``(n_languages, n_factors)`` float64: for each Hessian, ``log(max(c, floor))`` minus
    its mean over that Hessian's columns, Hessians in file order. Scaling a Hessian's factors
    by a constant leaves every per-matrix median bit unchanged, and centring removes exactly
    that scale. All inputs must come from the same model weights and score formula.
    """
    if not factors:
        raise LanggeoError("no factor files given")
    first = factors[0].metadata
    rows = []
    for f in factors:
        m = f.metadata
        for key in ("model_identity", "score"):
            if m.get(key) != first.get(key):
                raise LanggeoError(f"factors of {m.get('language')!r} have {key} {m.get(key)!r}, "
                                   f"those of {first.get('language')!r} {first.get(key)!r}; "
                                   "compare factors of one model and score formula only")
        if list(f.factors) != list(factors[0].factors):
            raise LanggeoError(f"factors of {m.get('language')!r} hold other Hessians than those "
                               f"of {first.get('language')!r}")
        parts = []
        for c in f.factors.values():
            c = c.astype(np.float64)
            logs = np.log(np.maximum(c, FACTOR_FLOOR * max(float(c.max()), 1e-300)))
            parts.append(logs - logs.mean())
        rows.append(np.concatenate(parts))
    return np.stack(rows)


def factor_distances(features: np.ndarray, others: np.ndarray | None = None) -> np.ndarray:
    """Mean squared difference of :func:`factor_features` rows: ``(n, n)`` between the rows of
    ``features``, or ``(n, m)`` against the rows of ``others``.

    A squared Euclidean distance (divided by the number of factors), so, like the normalized
    Hamming distance, its square root embeds exactly by classical MDS.
    """
    a = np.asarray(features, dtype=np.float64)
    b = a if others is None else np.asarray(others, dtype=np.float64)
    d = ((a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T) / a.shape[1]
    d = np.maximum(d, 0.0)  # rounding of the expanded square
    if others is None:
        d = (d + d.T) / 2
        np.fill_diagonal(d, 0.0)
    return d


def factor_distances_from_files(paths: Sequence[str | os.PathLike[str]]) -> np.ndarray:
    """``(n, n)`` :func:`factor_distances` between the languages of factor files."""
    from langgeo.formats.factor_file import read_factors

    return factor_distances(factor_features([read_factors(p) for p in paths]))
