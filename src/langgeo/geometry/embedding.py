"""Classical (Torgerson) MDS: latent vectors whose Euclidean distances reproduce the input."""

from __future__ import annotations

import numpy as np

from langgeo import LanggeoError
from langgeo._util import single_threaded
from langgeo.geometry.matrices import check_matrix


@single_threaded
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


@single_threaded
def add_points(coords: np.ndarray, distances: np.ndarray, transform: str = "sqrt") -> np.ndarray:
    """Out-of-sample classical MDS (Gower, 1968): coordinates of new points in an existing
    embedding, the reference coordinates unchanged.

    Parameters
    ----------
    coords : (n, k) reference coordinates from :func:`classical_mds` (centred columns).
    distances : (m, n) distances of each new point to the n references, of the kind that
        was embedded, before ``transform``.
    transform : the transform :func:`classical_mds` used (``sqrt`` or ``none``).

    Returns
    -------
    (m, k) array: for each new point ``y = ½ Λ⁻¹ Xᵀ (b − δ²)``, with ``X`` the reference
    coordinates, ``Λ = XᵀX`` (diagonal: the kept eigenvalues), ``b`` the references' squared
    norms and ``δ²`` the new point's squared embedded distances. A point that the references
    describe exactly (its distances those of a point in their span) lands exactly there.
    """
    x = np.asarray(coords, dtype=np.float64)
    d = np.atleast_2d(np.asarray(distances, dtype=np.float64))
    if x.ndim != 2 or d.shape[1] != x.shape[0]:
        raise LanggeoError(f"distances of shape {d.shape} do not match {x.shape[0]} reference "
                           "points")
    if not np.isfinite(d).all() or (d < 0).any():
        raise LanggeoError("distances to reference points must be finite and non-negative")
    delta2 = d if transform == "sqrt" else d**2
    eigenvalues = (x**2).sum(axis=0)
    b = (x**2).sum(axis=1)
    return 0.5 * (b[None, :] - delta2) @ x / eigenvalues[None, :]
