"""Classical (Torgerson) MDS: latent vectors whose Euclidean distances reproduce the input."""

from __future__ import annotations

import numpy as np

from langgeo import LanggeoError
from langgeo.distances import check_matrix


def classical_mds(distances: np.ndarray, n_components: int | None = None,
                  transform: str = "sqrt") -> tuple[np.ndarray, np.ndarray]:
    """Embed a symmetric distance matrix.

    Parameters
    ----------
    distances : (n, n) array: finite, symmetric, non-negative, zero diagonal.
    n_components : dimensions to keep; ``None`` keeps every positive eigenvalue.
    transform : ``sqrt`` embeds ``sqrt(distances)``. A normalized Hamming distance between
        0/1 vectors is a squared Euclidean distance, and so is a mean of them, so its square
        root embeds exactly (no negative eigenvalues). ``none`` embeds the distances as given.

    Returns
    -------
    coords : (n, k) array, columns in decreasing eigenvalue order, each column's sign fixed
        so that its largest-magnitude entry is positive (deterministic output).
    eigenvalues : (n,) array, all eigenvalues of the double-centred Gram matrix, decreasing.
    """
    d = check_matrix(distances)
    delta = np.sqrt(d) if transform == "sqrt" else d
    n = d.shape[0]
    centre = np.eye(n) - 1.0 / n
    gram = -0.5 * centre @ (delta**2) @ centre
    eigenvalues, vectors = np.linalg.eigh((gram + gram.T) / 2)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, vectors = eigenvalues[order], vectors[:, order]
    tolerance = 1e-10 * max(abs(eigenvalues).max(), 1e-300)
    n_positive = int((eigenvalues > tolerance).sum())
    k = n_positive if n_components is None else n_components
    if k > n_positive:
        raise LanggeoError(f"embedding.n_components={k} but the distance matrix has only "
                           f"{n_positive} positive eigenvalues; lower it or use null")
    vectors = vectors[:, :k]
    signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(k)])
    coords = vectors * signs * np.sqrt(eigenvalues[:k])
    return coords, eigenvalues
