"""Choosing transfer sources by distance, scored as the transfer-source literature scores it.

The protocol of LangRank (Lin et al., 2019, "Choosing Transfer Languages for Cross-Lingual
Learning", ACL) and of the studies that evaluate language distances by the transfer sources
they pick (e.g. de Vries et al., 2022, "Make the Best of Cross-lingual Transfer", ACL): for
each target language b, rank the candidate sources a ≠ b by a distance ``d(a, b)``, closest
first, and score that ranking against the true transfer performance ``P[a, b]`` (higher is
better: the fine-tuning gain G of :mod:`langgeo.studies.finetune`, or ``−R`` of the pruning
study).

Conventions shared by every function here:

- ``distances`` and ``performance`` are ``(n, n)``, rows = source a, columns = target b; the
  ranking for b reads column b (``distances`` need not be symmetric); diagonals are ignored
  (they may hold anything, NaN included); every off-diagonal entry must be finite.
- Ties in ``distances`` are broken uniformly at random *in expectation*: a score is its mean
  over every order of the tied sources (as scikit-learn's ``ndcg_score`` does by default), so
  a ranker that cannot tell sources apart is not rewarded or punished by an arbitrary order.

Metrics, per target b (arrays of shape ``(n,)``):

- **NDCG@k** (:func:`ndcg_at_k`). Relevance as in LangRank: the candidates are ranked by
  their true performance (1 = best; ties share the best rank of their group, "min"
  ranking), and the candidate of rank r gets relevance ``max(0, top + 1 − r)``, ``top = 10``:
  10 for the best source, 9 for the second, …, 1 for the tenth, 0 below (LangRank's
  γ_max = 10; the same rule as the URIEL+ reproduction of its evaluation). With relevance
  ``rel_i`` of the source ranked i-th by distance,
  ``DCG@k = Σ_{i=1..k} g(rel_i) / log2(i + 1)`` with the linear gain ``g(r) = r``
  (``gain="linear"``, the default; scikit-learn's ``ndcg_score``) or the exponential gain
  ``g(r) = 2^r − 1`` (``gain="exponential"``, LightGBM's lambdarank gain, with which
  LangRank's ranker was trained), and ``NDCG@k = DCG@k / IDCG@k``, IDCG the DCG of the
  candidates sorted by relevance. In [0, 1]; k larger than the n − 1 candidates means all.
- **Top-1 performance loss** (:func:`top1_loss`): ``max_a P[a, b] − P[first, b]``, the
  performance given up by transferring from the source ranked first instead of the best
  one; ≥ 0, in the units of ``P``; 0 is perfect.
- **Spearman per target** (:func:`target_spearman`): Spearman's ρ between ``−d(·, b)`` and
  ``P[·, b]`` over the n − 1 candidates (ties take average ranks); 0 where either side is
  constant (no order, no correlation; as :func:`langgeo.studies.transfer.transfer_test`).

And over all n (n − 1) ordered pairs: the **pooled Spearman** (:func:`pooled_spearman`).

:func:`evaluate_ranking` summarizes one ranker (the means over targets and the pooled ρ),
each with a percentile bootstrap interval over targets; :func:`evaluate_rankers` does so for
many at once, on the same resamples of targets, and adds ``random``: the mean over seeded
random rankings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import rankdata

from langgeo import LanggeoError
from langgeo.evaluation.baselines import random_distances

#: LangRank's relevance of the best source (γ_max): the ten best candidates get 10, 9, …, 1.
TOP_RELEVANCE = 10
K = 3
N_BOOTSTRAP = 1000
N_RANDOM = 100
CONFIDENCE = 0.95
GAINS = ("linear", "exponential")
SUMMARIES = ("ndcg", "top1_loss", "target_spearman", "pooled_spearman")


def check_transfer(performance: np.ndarray, distances: np.ndarray | None = None, *,
                   what: str = "distances", codes: Sequence[str] | None = None
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """Both matrices as float64, after checking that they are square, of one shape ``(n, n)``
    with ``n >= 3`` (two candidate sources per target) and finite off the diagonal, and
    that ``codes`` (when given) are ``n`` distinct names. Raises :class:`LanggeoError`
    naming the matrix (``what`` for the distances) and what to do."""
    p = np.asarray(performance, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise LanggeoError(f"the performance matrix must be square (n, n), rows = source, "
                           f"columns = target; got shape {p.shape}")
    n = p.shape[0]
    if n < 3:
        raise LanggeoError(f"ranking transfer sources needs at least 3 languages (2 candidate "
                           f"sources per target); got {n}")
    off = ~np.eye(n, dtype=bool)
    if not np.isfinite(p[off]).all():
        raise LanggeoError("the performance matrix has NaN or infinite entries off the "
                           "diagonal; drop the targets whose performance is undefined (e.g. "
                           "relative gains where a target's own gain is <= 0) before ranking")
    d = None
    if distances is not None:
        d = np.asarray(distances, dtype=np.float64)
        if d.shape != p.shape:
            raise LanggeoError(f"{what} has shape {d.shape} but the performance matrix has "
                               f"{p.shape}; give both over the same languages in one order")
        if not np.isfinite(d[off]).all():
            raise LanggeoError(f"{what} has NaN or infinite entries off the diagonal; impute "
                               "missing distances before ranking with them")
    if codes is not None and (len(codes) != n or len(set(codes)) != n):
        raise LanggeoError(f"{len(codes)} language codes ({len(set(codes))} distinct) for "
                           f"{n} languages; give one distinct code per row")
    return p, d


def _columns(matrix: np.ndarray) -> np.ndarray:
    """``(n, n − 1)``: row b holds column b of ``matrix`` without its diagonal entry
    (the candidates a ≠ b in order)."""
    n = matrix.shape[0]
    off = ~np.eye(n, dtype=bool)
    return matrix.T[off].reshape(n, n - 1)


def relevance(performance: np.ndarray, top: int = TOP_RELEVANCE) -> np.ndarray:
    """LangRank's graded relevance of each candidate, ``(n, n − 1)`` (row b: the sources
    a ≠ b in order): ``max(0, top + 1 − rank)``, rank 1 = highest performance, ties sharing
    the best rank of their group."""
    p, _ = check_transfer(performance)
    ranks = rankdata(-_columns(p), method="min", axis=1)
    return np.maximum(0, top + 1 - ranks).astype(np.float64)


def _tie_groups(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``values`` ``(m, c)``: the order that sorts it ascending (stable) and, for
    each sorted position, the id of its tie group (0, 1, … along the row)."""
    order = np.argsort(values, axis=1, kind="stable")
    ordered = np.take_along_axis(values, order, axis=1)
    starts = np.concatenate([np.ones((len(values), 1), bool),
                             ordered[:, 1:] != ordered[:, :-1]], axis=1)
    return order, np.cumsum(starts, axis=1) - 1


def _expected_dcg(keys: np.ndarray, gains: np.ndarray, k: int) -> np.ndarray:
    """DCG@k of each row ranked by ``keys`` ascending, averaged over the orders of tied
    keys: each position of a tie group receives the group's mean gain."""
    m, c = keys.shape
    order, group = _tie_groups(keys)
    g = np.take_along_axis(gains, order, axis=1)
    discount = np.where(np.arange(c) < k, 1.0 / np.log2(np.arange(c) + 2.0), 0.0)
    out = np.zeros(m)
    for row in range(m):
        sums = np.bincount(group[row], weights=g[row])
        counts = np.bincount(group[row])
        out[row] = float((sums / counts)[group[row]] @ discount)
    return out


def _gain(rel: np.ndarray, gain: str) -> np.ndarray:
    if gain not in GAINS:
        raise LanggeoError(f"gain {gain!r}: choose one of {list(GAINS)}")
    return rel if gain == "linear" else np.exp2(rel) - 1.0


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise LanggeoError(f"NDCG@k needs a whole number k >= 1, got {k!r}")


def ndcg_at_k(distances: np.ndarray, performance: np.ndarray, k: int = K, *,
              gain: str = "linear", top: int = TOP_RELEVANCE) -> np.ndarray:
    """NDCG@k of ranking each target's candidate sources by distance (module docstring),
    ``(n,)`` in [0, 1]."""
    _check_k(k)
    p, d = check_transfer(performance, distances)
    gains = _gain(relevance(p, top), gain)
    dcg = _expected_dcg(_columns(d), gains, k)
    ideal = _expected_dcg(-gains, gains, k)
    return dcg / ideal


def top1_loss(distances: np.ndarray, performance: np.ndarray) -> np.ndarray:
    """``max_a P[a, b] − P[first, b]`` per target, ``(n,)`` in the units of ``performance``;
    the first place shared by tied sources counts their mean performance."""
    p, d = check_transfer(performance, distances)
    dc, pc = _columns(d), _columns(p)
    first = dc == dc.min(axis=1, keepdims=True)
    return pc.max(axis=1) - (pc * first).sum(axis=1) / first.sum(axis=1)


def _unit_ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis, centred and scaled to unit norm (Spearman's ρ of
    two such rows is their dot product); zero rows where ``x`` is constant."""
    r = rankdata(x, axis=-1)
    r = r - r.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(r, axis=-1, keepdims=True)
    return np.divide(r, norm, out=np.zeros_like(r), where=norm > 0)


def target_spearman(distances: np.ndarray, performance: np.ndarray) -> np.ndarray:
    """Spearman's ρ between ``−d(·, b)`` and ``P[·, b]`` per target, ``(n,)``; 0 where either
    is constant over the candidates."""
    p, d = check_transfer(performance, distances)
    return (_unit_ranks(-_columns(d)) * _unit_ranks(_columns(p))).sum(axis=1)


def _pooled(dc: np.ndarray, pc: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Pooled ρ over the candidates of ``targets`` (``(..., m)`` indices, repeats count as
    copies), for ``dc`` of shape ``(..., n, n − 1)`` or ``(n, n − 1)``."""
    x = -dc[..., targets, :].reshape(*dc.shape[:-2], *targets.shape[:-1], -1)
    y = pc[targets].reshape(*targets.shape[:-1], -1)
    return (_unit_ranks(x) * _unit_ranks(y)).sum(axis=-1)


def pooled_spearman(distances: np.ndarray, performance: np.ndarray) -> float:
    """Spearman's ρ between ``−d(a, b)`` and ``P[a, b]`` over all ordered pairs a ≠ b (0 if
    either is constant). Performance is compared across targets here, whose scales may
    differ: the per-target ρ is the primary statistic."""
    p, d = check_transfer(performance, distances)
    n = p.shape[0]
    return float(_pooled(_columns(d), _columns(p), np.arange(n)))


def _per_target(d: np.ndarray, p: np.ndarray, k: int, gain: str, top: int
                ) -> dict[str, np.ndarray]:
    return {"ndcg": ndcg_at_k(d, p, k, gain=gain, top=top), "top1_loss": top1_loss(d, p),
            "target_spearman": target_spearman(d, p)}


def _resamples(n: int, n_bootstrap: int, seed: int) -> np.ndarray:
    """``(n_bootstrap, n)`` indices of targets drawn with replacement."""
    return np.random.default_rng(seed).integers(0, n, (n_bootstrap, n))


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _summarize(per_target: dict[str, np.ndarray], pooled: float,
               pooled_resampled: np.ndarray | None, samples: np.ndarray | None,
               confidence: float) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for name, values in per_target.items():
        out[name] = float(values.mean())
        low = high = None
        if samples is not None:
            low, high = _interval(values[samples].mean(axis=1), confidence)
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = low, high
    out["pooled_spearman"] = pooled
    low = high = None
    if pooled_resampled is not None:
        low, high = _interval(pooled_resampled, confidence)
    out["pooled_spearman_ci_low"], out["pooled_spearman_ci_high"] = low, high
    return out


def _check_settings(n_bootstrap: int, confidence: float, top: int) -> None:
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) \
            or n_bootstrap < 0:
        raise LanggeoError(f"n_bootstrap must be a whole number >= 0 (0: no intervals), got "
                           f"{n_bootstrap!r}")
    if not 0 < confidence < 1:
        raise LanggeoError(f"confidence {confidence!r} must lie strictly between 0 and 1")
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise LanggeoError(f"top (the relevance of the best source) must be a whole number "
                           f">= 1, got {top!r}")


def evaluate_ranking(distances: np.ndarray, performance: np.ndarray, *, k: int = K,
                     gain: str = "linear", top: int = TOP_RELEVANCE,
                     n_bootstrap: int = N_BOOTSTRAP, seed: int = 0,
                     confidence: float = CONFIDENCE, codes: Sequence[str] | None = None
                     ) -> dict:
    """One ranker (a distance matrix) against the true transfer performance.

    Returns
    -------
    A JSON-serializable dict: ``k``, ``gain``, ``n_targets``; ``ndcg``, ``top1_loss``,
    ``target_spearman`` (means over targets) and ``pooled_spearman``, each with
    ``<name>_ci_low`` / ``<name>_ci_high``: the percentile bootstrap interval at
    ``confidence`` over ``n_bootstrap`` resamples of the targets with replacement (seeded
    with ``seed``; per-target metrics: the mean over the resampled targets; pooled ρ: over
    the candidates of the resampled targets, copies counted), None when ``n_bootstrap`` is
    0; ``per_target``: code (or index) -> ``ndcg``, ``top1_loss``, ``spearman``, ``first``
    (the source ranked first; with ties, the first of them in language order) and ``best``
    (the best source).
    """
    _check_k(k)
    _check_settings(n_bootstrap, confidence, top)
    p, d = check_transfer(performance, distances, codes=codes)
    n = p.shape[0]
    names = list(codes) if codes is not None else list(range(n))
    per = _per_target(d, p, k, gain, top)
    dc, pc = _columns(d), _columns(p)
    samples = _resamples(n, n_bootstrap, seed) if n_bootstrap else None
    pooled = float(_pooled(dc, pc, np.arange(n)))
    resampled = _pooled(dc, pc, samples) if samples is not None else None
    out: dict = {"k": int(k), "gain": gain, "n_targets": n,
                 **_summarize(per, pooled, resampled, samples, confidence)}
    candidates = [[a for a in range(n) if a != b] for b in range(n)]
    out["per_target"] = {
        names[b]: {"ndcg": float(per["ndcg"][b]), "top1_loss": float(per["top1_loss"][b]),
                   "spearman": float(per["target_spearman"][b]),
                   "first": names[candidates[b][int(np.argmin(dc[b]))]],
                   "best": names[candidates[b][int(np.argmax(pc[b]))]]}
        for b in range(n)}
    return out


def evaluate_rankers(rankers: Mapping[str, np.ndarray], performance: np.ndarray, *,
                     k: int = K, gain: str = "linear", top: int = TOP_RELEVANCE,
                     n_bootstrap: int = N_BOOTSTRAP, seed: int = 0,
                     confidence: float = CONFIDENCE, n_random: int = N_RANDOM,
                     codes: Sequence[str] | None = None) -> dict[str, dict]:
    """:func:`evaluate_ranking` for each named distance matrix (ours, the baselines), on the
    same bootstrap resamples of the targets (``seed``), plus ``random``.

    ``random`` (unless ``n_random`` is 0) is the expected score of a random ranking: the
    per-target metrics and the pooled ρ averaged over ``n_random`` seeded random distance
    matrices (:func:`langgeo.evaluation.baselines.random_distances` with seeds ``seed``,
    ``seed + 1``, …), summarized and bootstrapped like the others (each resample averages
    over the same draws); its ``per_target`` holds the averaged metrics only.
    """
    if not rankers:
        raise LanggeoError("evaluate_rankers: no rankers given; pass name -> (n, n) distances")
    if n_random and "random" in rankers:
        raise LanggeoError("evaluate_rankers adds its own 'random' ranker (the mean over "
                           f"{n_random} seeded random rankings); rename or drop the given "
                           "'random', or pass n_random=0")
    if isinstance(n_random, bool) or not isinstance(n_random, (int, np.integer)) \
            or n_random < 0:
        raise LanggeoError(f"n_random must be a whole number >= 0, got {n_random!r}")
    p, _ = check_transfer(performance, codes=codes)
    for name, d in rankers.items():
        check_transfer(p, d, what=f"ranker {name!r}")
    out = {name: evaluate_ranking(d, p, k=k, gain=gain, top=top, n_bootstrap=n_bootstrap,
                                  seed=seed, confidence=confidence, codes=codes)
           for name, d in rankers.items()}
    if n_random:
        out["random"] = _random_ranker(p, k, gain, top, n_bootstrap, seed, confidence,
                                       n_random, codes)
    return out


def _random_ranker(p: np.ndarray, k: int, gain: str, top: int, n_bootstrap: int, seed: int,
                   confidence: float, n_random: int, codes: Sequence[str] | None) -> dict:
    _check_k(k)
    _check_settings(n_bootstrap, confidence, top)
    n = p.shape[0]
    names = list(codes) if codes is not None else list(range(n))
    draws = [random_distances(n, seed + i).distances for i in range(n_random)]
    per_draw = [_per_target(d, p, k, gain, top) for d in draws]
    per = {name: np.mean([x[name] for x in per_draw], axis=0) for name in per_draw[0]}
    dc = np.stack([_columns(d) for d in draws])  # (n_random, n, n − 1)
    pc = _columns(p)
    pooled = float(_pooled(dc, pc, np.arange(n)).mean())
    samples = _resamples(n, n_bootstrap, seed) if n_bootstrap else None
    resampled = None
    if samples is not None:
        # In chunks of resamples: one rankdata call per chunk, not per resample.
        chunks = np.array_split(samples, max(1, len(samples) // 100))
        resampled = np.concatenate([_pooled(dc, pc, c).mean(axis=0) for c in chunks])
    out: dict = {"k": int(k), "gain": gain, "n_targets": n, "n_random": int(n_random),
                 **_summarize(per, pooled, resampled, samples, confidence)}
    out["per_target"] = {names[b]: {"ndcg": float(per["ndcg"][b]),
                                    "top1_loss": float(per["top1_loss"][b]),
                                    "spearman": float(per["target_spearman"][b])}
                         for b in range(n)}
    return out
