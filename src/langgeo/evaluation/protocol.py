"""Agreement of a language geometry with gold Glottolog labels, and its significance.

One protocol for every distance matrix, ours and the baselines alike
(:func:`evaluate_distances`): classical MDS gives latent vectors; k-means (on the latent
vectors), average-linkage agglomerative clustering and HDBSCAN (both on the distances) are
scored against each gold level with ARI, NMI and purity; each ARI gets a permutation p-value
and a bootstrap interval over languages. :func:`mantel_test` compares two geometries
directly, :func:`partial_mantel_test` does so controlling for a third.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence

import numpy as np
from scipy.cluster.hierarchy import fcluster
from scipy.stats import rankdata
from sklearn.cluster import HDBSCAN, KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import (
    adjusted_rand_score,
    normalized_mutual_info_score,
    silhouette_score,
)
from sklearn.metrics.cluster import contingency_matrix
from threadpoolctl import threadpool_limits

from langgeo import LanggeoError
from langgeo._util import single_threaded
from langgeo.geometry.embedding import classical_mds
from langgeo.geometry.matrices import check_matrix
from langgeo.geometry.trees import average_linkage

#: Defaults sized so that one 59-language matrix at two gold levels takes ~4 s on one core
#: (the bootstrap's k-means refits are most of it).
N_PERMUTATIONS = 999
N_BOOTSTRAP = 100
N_MANTEL_PERMUTATIONS = 9999
KMEANS_N_INIT = 10
CONFIDENCE = 0.95


def purity(labels_true: Sequence, labels_pred: Sequence) -> float:
    """Share of items whose cluster's majority gold label is their own label, in [0, 1]."""
    table = contingency_matrix(labels_true, labels_pred)
    return float(table.max(axis=0).sum() / table.sum())


def silhouette(x: np.ndarray, labels: Sequence, metric: str = "euclidean") -> float | None:
    """Silhouette of ``labels``; ``x`` is ``(n, d)`` points, or ``(n, n)`` distances with
    ``metric="precomputed"``. None where undefined (fewer than 2 or more than n - 1 labels)."""
    if not 2 <= len(set(labels)) <= len(labels) - 1:
        return None
    return float(silhouette_score(x, labels, metric=metric))


def kmeans_labels(latent: np.ndarray, k: int, seeds: Iterable[int]) -> list[np.ndarray]:
    """k-means (``n_init=10``) cluster labels of ``(n, d)`` latent vectors, one array per seed."""
    # One thread: on a few dozen points OpenMP start-up costs ten times the work itself.
    # A matrix with ties (script identity, bootstrap copies) can have fewer distinct points
    # than k; k-means then leaves clusters empty, which is the right answer, not a failure.
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return [KMeans(n_clusters=k, n_init=KMEANS_N_INIT, random_state=s).fit_predict(latent)
                for s in seeds]


def agglomerative_labels(distances: np.ndarray, k: int) -> np.ndarray:
    """Average-linkage (UPGMA) clusters of an ``(n, n)`` distance matrix, cut at ``k``."""
    return fcluster(average_linkage(distances), t=k, criterion="maxclust")


def hdbscan_labels(distances: np.ndarray, min_cluster_size: int = 2) -> np.ndarray:
    """HDBSCAN clusters of an ``(n, n)`` distance matrix; each noise point becomes its own
    singleton cluster, so that noise is scored as unclustered rather than as one group."""
    labels = HDBSCAN(min_cluster_size=min_cluster_size, metric="precomputed",
                     copy=True).fit_predict(distances)
    noise = labels == -1
    labels[noise] = labels.max() + 1 + np.arange(noise.sum())
    return labels


def agreement(gold: Sequence, pred: Sequence) -> dict[str, float]:
    """ARI, NMI (arithmetic normalization) and purity of a clustering against gold labels."""
    return {"ari": float(adjusted_rand_score(gold, pred)),
            "nmi": float(normalized_mutual_info_score(gold, pred)),
            "purity": purity(gold, pred)}


def _pairs(counts: np.ndarray) -> np.ndarray:
    return counts * (counts - 1) / 2


def ari_permutation_test(gold: Sequence, preds: Sequence[Sequence],
                         n_permutations: int = N_PERMUTATIONS,
                         seed: int = 0) -> tuple[float, float]:
    """Permutation test of the mean ARI of one or more clusterings against gold labels.

    The null distribution shuffles the gold labels (the same shuffles for every clustering).
    Shuffling keeps both partitions' label sizes, so of the ARI's terms only the pair counts
    of the contingency table change: the whole null is computed at once from those.

    Parameters
    ----------
    gold : n gold labels.
    preds : clusterings, each n labels (e.g. one per k-means seed).

    Returns
    -------
    observed : the mean ARI over ``preds``.
    p_value : ``(1 + #{null >= observed}) / (1 + n_permutations)``, in (0, 1]; 1.0 where
        no relabelling can change the ARI (both partitions all singletons or one block).
    """
    gold_codes = np.unique(np.asarray(gold), return_inverse=True)[1]
    n = len(gold_codes)
    rng = np.random.default_rng(seed)
    shuffled = rng.permuted(np.tile(gold_codes, (n_permutations, 1)), axis=1)
    n_gold = gold_codes.max() + 1
    sum_gold = _pairs(np.bincount(gold_codes)).sum()
    observed, null = [], np.zeros(n_permutations)
    for pred in preds:
        pred_codes = np.unique(np.asarray(pred), return_inverse=True)[1]
        if len(pred_codes) != n:
            raise LanggeoError(f"a clustering has {len(pred_codes)} labels for {n} languages")
        n_pred = pred_codes.max() + 1
        sum_pred = _pairs(np.bincount(pred_codes)).sum()
        expected = sum_gold * sum_pred / _pairs(n)
        span = (sum_gold + sum_pred) / 2 - expected
        observed.append(adjusted_rand_score(gold_codes, pred_codes))
        if span == 0:
            # Both partitions are all singletons or one block: no relabelling changes ARI.
            null += observed[-1]
            continue
        cells = shuffled * n_pred + pred_codes + (np.arange(n_permutations) * n_gold
                                                  * n_pred)[:, None]
        table = np.bincount(cells.ravel(), minlength=n_permutations * n_gold * n_pred)
        null += (_pairs(table.reshape(n_permutations, -1)).sum(axis=1) - expected) / span
    observed_mean = float(np.mean(observed))
    null /= len(observed)
    # The tolerance makes a null value equal to the observed one count despite rounding.
    count = int((null >= observed_mean - 1e-12).sum())
    return observed_mean, (1 + count) / (1 + n_permutations)


def bootstrap_interval(statistic: Callable[[np.ndarray], float], n_items: int,
                       n_bootstrap: int = N_BOOTSTRAP, seed: int = 0,
                       confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(indices)`` over items drawn with
    replacement (``indices``: int array of length ``n_items``, repeats allowed)."""
    rng = np.random.default_rng(seed)
    values = [statistic(rng.integers(0, n_items, n_items)) for _ in range(n_bootstrap)]
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def _permutation_p(statistic: Callable[[np.ndarray], np.ndarray], observed: float, n: int,
                   n_permutations: int, seed: int, chunk: int) -> float:
    """``(1 + count) / (1 + n_permutations)``: the share of joint row/column permutations of
    ``n`` items (``statistic`` takes a ``(size, n)`` batch of orders) at least as large as
    ``observed``, in seeded chunks."""
    rng = np.random.default_rng(seed)
    count = 0
    for start in range(0, n_permutations, chunk):
        size = min(chunk, n_permutations - start)
        order = rng.permuted(np.tile(np.arange(n), (size, 1)), axis=1)
        count += int((statistic(order) >= observed - 1e-12).sum())
    return (1 + count) / (1 + n_permutations)


@single_threaded
def mantel_test(a: np.ndarray, b: np.ndarray, n_permutations: int = N_MANTEL_PERMUTATIONS,
                seed: int = 0, chunk: int = 500) -> tuple[float, float]:
    """Mantel test: Spearman correlation of the upper triangles of two ``(n, n)`` distance
    matrices over the same languages, in the same order.

    The null permutes the languages of ``b`` (its rows and columns jointly), which keeps
    the dependence between pairs that share a language. One-sided: the alternative is a
    positive correlation.

    Returns
    -------
    rho : Spearman correlation over the ``n (n - 1) / 2`` pairs.
    p_value : ``(1 + #{null >= rho}) / (1 + n_permutations)``.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise LanggeoError(f"Mantel test needs two square matrices of one shape, got "
                           f"{a.shape} and {b.shape}")
    n = a.shape[0]
    upper = np.triu_indices(n, 1)
    rank_a = rankdata(a[upper])
    rank_a = (rank_a - rank_a.mean()) / np.linalg.norm(rank_a - rank_a.mean())
    # A joint permutation only moves entries between pairs, so the ranks of b are computed
    # once and permuted with it; their mean and norm do not change.
    rank_b = np.zeros((n, n))
    rank_b[upper] = rankdata(b[upper])
    rank_b += rank_b.T
    centre, scale = rank_b[upper].mean(), np.linalg.norm(rank_b[upper] - rank_b[upper].mean())

    def correlation(order: np.ndarray) -> np.ndarray:
        permuted = rank_b[order[:, :, None], order[:, None, :]][:, upper[0], upper[1]]
        return (permuted - centre) @ rank_a / scale

    rho = float(correlation(np.arange(n)[None])[0])
    return rho, _permutation_p(correlation, rho, n, n_permutations, seed, chunk)


@single_threaded
def partial_mantel_test(a: np.ndarray, b: np.ndarray, control: np.ndarray,
                        n_permutations: int = N_MANTEL_PERMUTATIONS, seed: int = 0,
                        chunk: int = 500) -> dict[str, float]:
    """Partial Mantel test on ranks: does ``a`` follow ``b`` beyond what ``control`` explains?

    The upper triangles of the three ``(n, n)`` matrices are ranked; the ranks of ``a`` and
    of ``b`` are each residualized on the ranks of ``control`` (least squares with an
    intercept), and the statistic is the correlation of the two residuals: the partial
    Spearman correlation, ``(r_ab - r_ac r_bc) / sqrt((1 - r_ac²)(1 - r_bc²))``. The null
    permutes the languages of ``a`` (rows and columns jointly) and residualizes each
    permuted ``a`` on ``control`` again (Smouse, Long & Sokal, 1986), which keeps the
    dependence between pairs that share a language. One-sided (positive partial
    correlation).

    Returns
    -------
    ``partial_rho``, ``p`` (``(1 + #{null >= partial_rho}) / (1 + n_permutations)``) and,
    for reading it, the plain Spearman correlations ``rho_ab``, ``rho_a_control`` and
    ``rho_b_control``.
    """
    mats = [np.asarray(m, dtype=np.float64) for m in (a, b, control)]
    if any(m.ndim != 2 or m.shape != mats[0].shape for m in mats) or \
            mats[0].shape[0] != mats[0].shape[1]:
        raise LanggeoError("partial Mantel test needs three square matrices of one shape, got "
                           + ", ".join(str(m.shape) for m in mats))
    n = mats[0].shape[0]
    if n < 3:
        raise LanggeoError(f"partial Mantel test needs at least 3 languages, got {n}")
    upper = np.triu_indices(n, 1)

    def centred(x: np.ndarray) -> np.ndarray:
        r = rankdata(x[upper])
        return r - r.mean()

    ra, rb, rc = (centred(m) for m in mats)
    norm_c = np.linalg.norm(rc)
    # A constant control explains nothing: the partial correlation is the plain one.
    unit_c = rc / norm_c if norm_c > 0 else np.zeros_like(rc)
    res_b = rb - (rb @ unit_c) * unit_c
    if np.linalg.norm(res_b) < 1e-12 * max(np.linalg.norm(rb), 1.0):
        raise LanggeoError("partial Mantel test: the second matrix is a function of the "
                           "control's ranks, so nothing is left to correlate")
    unit_b = res_b / np.linalg.norm(res_b)
    # Permuting a moves its ranks with its entries; the residual of a permuted a on the
    # control is then that vector minus its projection on unit_c, so two dot products per
    # permutation give the statistic (unit_b is orthogonal to unit_c and to the intercept).
    rank_a = np.zeros((n, n))
    rank_a[upper] = ra
    rank_a += rank_a.T
    sq_norm_a = ra @ ra

    def statistic(order: np.ndarray) -> np.ndarray:
        permuted = rank_a[order[:, :, None], order[:, None, :]][:, upper[0], upper[1]]
        along_c = permuted @ unit_c
        left = np.maximum(sq_norm_a - along_c**2, 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = (permuted @ unit_b) / np.sqrt(left)
        return np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0)

    partial = float(statistic(np.arange(n)[None])[0])
    p = _permutation_p(statistic, partial, n, n_permutations, seed, chunk)

    def corr(x: np.ndarray, y: np.ndarray) -> float:
        scale = np.linalg.norm(x) * np.linalg.norm(y)
        return float(x @ y / scale) if scale > 0 else 0.0

    return {"partial_rho": partial, "p": p,
            "rho_ab": corr(ra, rb), "rho_a_control": corr(ra, rc),
            "rho_b_control": corr(rb, rc)}


def evaluate_kmeans(latent: np.ndarray, gold: Sequence[str], n_seeds: int,
                    seed: int) -> dict[str, float | int | None]:
    """k-means with k = number of gold labels, once per seed ``seed .. seed + n_seeds - 1``.

    Parameters
    ----------
    latent : (n_languages, n_dims) latent vectors.
    gold : n_languages gold labels (e.g. Glottolog primary branches).

    Returns
    -------
    ``ari_mean/ari_std`` and ``purity_mean/purity_std`` over seeds (std with ddof=0),
    ``silhouette``: of the gold labels in the latent space (Euclidean; None where undefined),
    ``kmeans_silhouette_mean``: of the k-means clusters, and the counts.
    """
    gold = list(gold)
    k = len(set(gold))
    preds = kmeans_labels(latent, k, range(seed, seed + n_seeds))
    aris = [adjusted_rand_score(gold, p) for p in preds]
    purities = [purity(gold, p) for p in preds]
    silhouettes = [s for s in (silhouette(latent, p) for p in preds) if s is not None]
    return {
        "ari_mean": float(np.mean(aris)), "ari_std": float(np.std(aris)),
        "purity_mean": float(np.mean(purities)), "purity_std": float(np.std(purities)),
        "silhouette": silhouette(latent, gold),
        "kmeans_silhouette_mean": float(np.mean(silhouettes)) if silhouettes else None,
        "n_languages": len(gold), "n_labels": k, "n_seeds": n_seeds,
    }


def _resampled_ari(gold: np.ndarray, cluster: Callable[[np.ndarray, int], np.ndarray]
                   ) -> Callable[[np.ndarray], float]:
    """Bootstrap statistic: ``cluster(indices, k)`` clusters the resampled languages into k =
    their number of distinct gold labels; the ARI then counts each distinct language once,
    since copies of one language always share cluster and label and would inflate it."""
    def statistic(indices: np.ndarray) -> float:
        pred = cluster(indices, len(set(gold[indices])))
        first = np.unique(indices, return_index=True)[1]
        return float(adjusted_rand_score(gold[indices][first], pred[first]))
    return statistic


def _interval(statistic: Callable[[np.ndarray], float], n_items: int, n_bootstrap: int,
              seed: int) -> tuple[float | None, float | None]:
    if n_bootstrap == 0:
        return None, None
    return bootstrap_interval(statistic, n_items, n_bootstrap, seed)


@single_threaded
def evaluate_distances(distances: np.ndarray, labels: Mapping[str, Sequence[str]], *,
                       transform: str = "sqrt", kmeans_seeds: int = 10, seed: int = 0,
                       n_permutations: int = N_PERMUTATIONS, n_bootstrap: int = N_BOOTSTRAP,
                       min_cluster_size: int = 2,
                       latent: np.ndarray | None = None) -> dict[str, float | int | None]:
    """The whole evaluation protocol for one distance matrix.

    Latent vectors are ``latent`` where given (the embed stage's, ``(n, k)``), else
    ``classical_mds(distances, None, transform)`` (every positive eigenvalue). For each gold
    level, with k = its number of labels:

    - ``kmeans``: k-means on the latent vectors, seeds ``seed .. seed + kmeans_seeds - 1``;
      ARI/NMI/purity as mean and std (ddof=0) over seeds;
    - ``agglomerative``: average linkage on ``distances``, cut into k clusters;
    - ``hdbscan``: HDBSCAN on ``distances`` (``min_cluster_size``), noise points as
      singletons; it picks its own number of clusters.

    Each method's ARI gets a permutation p-value (:func:`ari_permutation_test`, seeded with
    ``seed``; for k-means the statistic is the mean ARI over seeds) and a percentile
    bootstrap interval over languages (:func:`bootstrap_interval`, seeded with ``seed``): each
    replicate re-clusters the resampled languages (latent rows or matrix rows and columns;
    copies act as weights), with k its number of distinct gold labels and, for k-means, the
    single seed ``seed``, and scores each distinct language once; ``n_bootstrap=0`` skips
    it. HDBSCAN gets no interval: copies of a language lie at distance 0 and would form
    spurious dense clusters.

    Parameters
    ----------
    distances : (n, n) symmetric, non-negative, zero diagonal, no missing values.
    labels : gold level name -> n labels in the matrix's language order, e.g.
        ``{"family": [...], "branch": [...]}``.
    transform : passed to :func:`langgeo.geometry.embedding.classical_mds`; use the same for every
        matrix that is compared.

    Returns
    -------
    A flat, JSON-serializable dict: ``n_languages``, ``n_dims`` and, per level ``L``,
    ``L/n_labels``, ``L/silhouette_latent`` (gold labels, Euclidean in the latent space),
    ``L/silhouette_distances`` (gold labels, on ``distances`` as given), and for each
    method ``M`` in kmeans, agglomerative, hdbscan: ``L/M/ari``, ``L/M/nmi``,
    ``L/M/purity`` (k-means: ``_mean`` and ``_std`` of each), ``L/M/ari_p``,
    ``L/M/ari_ci_low``, ``L/M/ari_ci_high`` and, for hdbscan, ``L/hdbscan/n_clusters`` and
    ``L/hdbscan/noise_fraction``. None where a value is undefined.
    """
    d = check_matrix(distances, min_languages=3,
                     hint="impute missing entries before evaluating it")
    n = d.shape[0]
    if latent is None:
        latent, _ = classical_mds(d, None, transform)
    elif latent.shape[0] != n:
        raise LanggeoError(f"{latent.shape[0]} latent vectors for a matrix of {n} languages")
    metrics: dict[str, float | int | None] = {"n_languages": n, "n_dims": latent.shape[1]}
    hdbscan_pred = hdbscan_labels(d, min_cluster_size)
    # Clusters of one are HDBSCAN's noise points (a real cluster has >= min_cluster_size).
    cluster_sizes = np.unique(hdbscan_pred, return_counts=True)[1]
    for level, gold_labels in labels.items():
        gold = np.asarray(gold_labels)
        if gold.shape != (n,):
            raise LanggeoError(f"gold level {level!r} has {gold.size} labels for a matrix of "
                               f"{n} languages")
        k = len(set(gold))
        out = {"n_labels": k, "silhouette_latent": silhouette(latent, gold),
               "silhouette_distances": silhouette(d, gold, "precomputed")}

        preds = kmeans_labels(latent, k, range(seed, seed + kmeans_seeds))
        scores = [agreement(gold, p) for p in preds]
        for name in ("ari", "nmi", "purity"):
            out[f"kmeans/{name}_mean"] = float(np.mean([s[name] for s in scores]))
            out[f"kmeans/{name}_std"] = float(np.std([s[name] for s in scores]))
        out["kmeans/ari_p"] = ari_permutation_test(gold, preds, n_permutations, seed)[1]
        out["kmeans/ari_ci_low"], out["kmeans/ari_ci_high"] = _interval(
            _resampled_ari(gold, lambda i, k_i: kmeans_labels(latent[i], k_i, [seed])[0]),
            n, n_bootstrap, seed)

        pred = agglomerative_labels(d, k)
        out.update({f"agglomerative/{m}": v for m, v in agreement(gold, pred).items()})
        out["agglomerative/ari_p"] = ari_permutation_test(gold, [pred], n_permutations,
                                                          seed)[1]
        out["agglomerative/ari_ci_low"], out["agglomerative/ari_ci_high"] = _interval(
            _resampled_ari(gold, lambda i, k_i: agglomerative_labels(d[np.ix_(i, i)], k_i)),
            n, n_bootstrap, seed)

        out.update({f"hdbscan/{m}": v for m, v in agreement(gold, hdbscan_pred).items()})
        out["hdbscan/ari_p"] = ari_permutation_test(gold, [hdbscan_pred], n_permutations,
                                                    seed)[1]
        out["hdbscan/ari_ci_low"] = out["hdbscan/ari_ci_high"] = None
        out["hdbscan/n_clusters"] = int((cluster_sizes > 1).sum())
        out["hdbscan/noise_fraction"] = float((cluster_sizes == 1).sum() / n)
        metrics.update({f"{level}/{key}": value for key, value in out.items()})
    return metrics
