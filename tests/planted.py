"""Synthetic languages with planted structure, shared by the figure and explorer tests."""

import numpy as np
from scipy.spatial.distance import pdist, squareform


def planted_languages(n: int, n_families: int, seed: int = 0, dims: int = 6,
                      spread: float = 0.3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` languages in ``n_families`` families of 2 branches each.

    Returns family and branch indices (shape ``(n,)``) and an ``(n, n)`` distance matrix:
    squared Euclidean distances of points around family and branch centres (``spread``: the
    languages' own scatter), scaled to a maximum of 0.08 like normalized Hamming distances.
    """
    rng = np.random.default_rng(seed)
    family = np.arange(n) % n_families
    branch = family * 2 + (np.arange(n) // n_families) % 2
    points = 4 * rng.normal(size=(n_families, dims))[family] \
        + rng.normal(size=(2 * n_families, dims))[branch] + spread * rng.normal(size=(n, dims))
    d = squareform(pdist(points, "sqeuclidean"))
    return family, branch, d * (0.08 / d.max())
