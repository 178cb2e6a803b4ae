"""Classical MDS on exactly Euclidean input, and Gower's formula for points added later."""


import numpy as np
import pytest
from scipy.spatial.distance import cdist, pdist, squareform

from langgeo import LanggeoError
from langgeo.geometry.embedding import add_points, classical_mds


def test_recovers_euclidean_distances_exactly():
    points = np.random.default_rng(0).normal(size=(12, 3))
    euclid = squareform(pdist(points))
    coords, eigenvalues = classical_mds(euclid**2, transform="sqrt")
    assert coords.shape == (12, 3)
    np.testing.assert_allclose(squareform(pdist(coords)), euclid, atol=1e-9)
    assert (eigenvalues[3:] > -1e-9).all()


def test_hamming_embeds_without_negative_eigenvalues():
    bits = np.random.default_rng(1).integers(0, 2, size=(10, 500))
    hamming = squareform(pdist(bits, metric="hamming"))
    coords, eigenvalues = classical_mds(hamming)
    assert eigenvalues.min() > -1e-12
    np.testing.assert_allclose(squareform(pdist(coords)) ** 2, hamming, atol=1e-9)


def test_deterministic_signs_and_requested_dimension():
    d = squareform(pdist(np.random.default_rng(2).normal(size=(6, 4)))) ** 2
    a, _ = classical_mds(d, n_components=2)
    b, _ = classical_mds(d.copy(), n_components=2)
    assert a.shape == (6, 2) and (a == b).all()
    assert (a[np.abs(a).argmax(axis=0), [0, 1]] > 0).all()


def test_too_many_components_is_a_clear_error():
    d = squareform(pdist(np.random.default_rng(3).normal(size=(5, 2)))) ** 2
    with pytest.raises(LanggeoError, match="only 2 positive eigenvalues"):
        classical_mds(d, n_components=4)


def test_gower_puts_an_embedded_point_back_where_it_was():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(12, 3))
    new = rng.normal(size=(2, 3))
    # Squared Euclidean distances, embedded with the sqrt transform: exactly Euclidean.
    reference = squareform(pdist(points, "sqeuclidean"))
    coords, _ = classical_mds(reference)
    placed = add_points(coords, cdist(new, points, "sqeuclidean"))
    # The placed points' distances to the references are the true ones.
    np.testing.assert_allclose(cdist(placed, coords, "sqeuclidean"),
                               cdist(new, points, "sqeuclidean"), rtol=1e-9, atol=1e-9)
    # A reference point's own distances give back its own coordinates.
    np.testing.assert_allclose(add_points(coords, reference[[3]]), coords[[3]], atol=1e-9)
    same = add_points(coords, reference[[3]] ** 0.5, transform="none")
    np.testing.assert_allclose(same, coords[[3]], atol=1e-9)
    with pytest.raises(LanggeoError, match="do not match"):
        add_points(coords, reference[:, :5])
