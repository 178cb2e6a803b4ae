import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform

from langgeo import LanggeoError
from langgeo.embedding import classical_mds


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
