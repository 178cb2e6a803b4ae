"""Two-dimensional maps of latent vectors for the figures and the explorer: t-SNE, UMAP."""

from __future__ import annotations

import importlib.util

import numpy as np

from langgeo import LanggeoError
from langgeo._util import single_threaded


@single_threaded
def tsne_coords(latent: np.ndarray, seed: int = 0, perplexity: float | None = None
                ) -> np.ndarray:
    """t-SNE (scikit-learn, PCA initialisation) of latent vectors ``(n, k)`` to ``(n, 2)``.
    ``perplexity`` defaults to ``min(30, (n - 1) / 3)``; same seed, same output."""
    from sklearn.manifold import TSNE

    n = len(latent)
    if n < 5:
        raise LanggeoError(f"t-SNE needs at least 5 languages, got {n}")
    perplexity = min(30.0, (n - 1) / 3) if perplexity is None else perplexity
    # Exact gradients beat Barnes-Hut (several times faster, no approximation) up to a
    # thousand or so points; language sets are far smaller.
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed,
                method="exact" if n <= 1000 else "barnes_hut"
                ).fit_transform(np.asarray(latent, dtype=np.float64))


def umap_available() -> bool:
    return importlib.util.find_spec("umap") is not None


@single_threaded
def umap_coords(latent: np.ndarray, seed: int = 0, n_neighbors: int | None = None
                ) -> np.ndarray:
    """UMAP (package umap-learn) of latent vectors ``(n, k)`` to ``(n, 2)``, deterministic
    given ``seed`` (which also makes it single-threaded). ``n_neighbors`` defaults to
    ``min(15, n - 1)``. Imported here because umap-learn takes seconds to import and its
    first fit compiles with numba (~20 s)."""
    if not umap_available():
        raise LanggeoError("UMAP needs the package umap-learn; `pip install umap-learn==0.5.12` "
                           "or leave the UMAP figure out")
    import umap

    n = len(latent)
    if n < 4:
        raise LanggeoError(f"UMAP needs at least 4 languages, got {n}")
    reducer = umap.UMAP(n_components=2, n_neighbors=min(15, n - 1) if n_neighbors is None
                        else n_neighbors, random_state=seed, n_jobs=1)
    return reducer.fit_transform(np.asarray(latent, dtype=np.float64))
