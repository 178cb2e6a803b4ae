"""Synthetic languages with planted structure: families and branches for the figure,
placement and explorer tests, hidden states of planted families for the interlingua tests."""

import numpy as np
import pandas as pd
from scipy.spatial.distance import pdist, squareform

from langgeo.geometry.embedding import classical_mds


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


def planted_figure_inputs(n: int, seed: int = 0):
    """n languages in 3 families of 2 branches each, their labels, distances and MDS."""
    family, branch, d = planted_languages(n, 3, seed)
    codes = [f"l{i:03d}" for i in range(n)]
    labels = pd.DataFrame({"code": codes, "name": [f"Lang {i}" for i in range(n)],
                           "family": [f"Fam{f}" for f in family],
                           "branch": [f"Fam{f}-{b}" for f, b in zip(family, branch)]})
    latent, eigenvalues = classical_mds(d)
    spectrum = pd.DataFrame({"component": np.arange(1, n + 1), "eigenvalue": eigenvalues,
                             "kept": np.arange(n) < latent.shape[1]})
    return labels, codes, d, latent, spectrum


def planted_states(seed: int = 0):
    """Two layers of 8 languages in 2 families × 12 units: layer 0 keeps each language
    apart (a large offset per language), layer 1 shares one space; in both, each family
    arranges the units its own way, so the centred distance tells the families apart."""
    rng = np.random.default_rng(seed)
    n_languages, n_units, dim = 8, 12, 24
    family = np.arange(n_languages) % 2
    content = rng.standard_normal((2, n_units, dim))[family]
    own = 0.3 * rng.standard_normal((n_languages, n_units, dim))
    offsets = 10 * rng.standard_normal((n_languages, 1, dim))
    return np.stack([content + own + offsets, content + own]), family
