"""Agreement of the latent space with gold language families."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.metrics.cluster import contingency_matrix


def purity(labels_true: Sequence, labels_pred: Sequence) -> float:
    """Share of items whose cluster's majority gold label is their own label, in [0, 1]."""
    table = contingency_matrix(labels_true, labels_pred)
    return float(table.max(axis=0).sum() / table.sum())


def _silhouette(latent: np.ndarray, labels: Sequence) -> float | None:
    # Defined only for 2 <= number of labels <= n - 1.
    n_labels = len(set(labels))
    if not 2 <= n_labels <= len(labels) - 1:
        return None
    return float(silhouette_score(latent, labels, metric="euclidean"))


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
    aris, purities, silhouettes = [], [], []
    for s in range(seed, seed + n_seeds):
        pred = KMeans(n_clusters=k, n_init=10, random_state=s).fit_predict(latent)
        aris.append(adjusted_rand_score(gold, pred))
        purities.append(purity(gold, pred))
        sil = _silhouette(latent, pred)
        if sil is not None:
            silhouettes.append(sil)
    return {
        "ari_mean": float(np.mean(aris)), "ari_std": float(np.std(aris)),
        "purity_mean": float(np.mean(purities)), "purity_std": float(np.std(purities)),
        "silhouette": _silhouette(latent, gold),
        "kmeans_silhouette_mean": float(np.mean(silhouettes)) if silhouettes else None,
        "n_languages": len(gold), "n_labels": k, "n_seeds": n_seeds,
    }
