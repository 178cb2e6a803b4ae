"""The ensemble of the pairs' matrices: normalized, averaged over the pairs that cover each
language pair."""

import numpy as np
import pytest

from langgeo import LanggeoError
from langgeo.geometry.ensemble import ensemble


def test_ensemble_normalizes_and_averages_over_covering_pairs():
    # Mean off-diagonal distances: A 0.2, B 0.4, C 0.8.
    a = (["a", "b", "c"], np.array([[0, .1, .3], [.1, 0, .2], [.3, .2, 0]]))
    b = (["b", "c", "d"], np.array([[0, .6, .2], [.6, 0, .4], [.2, .4, 0]]))
    c = (["d", "a"], np.array([[0, .8], [.8, 0]]))
    with pytest.raises(LanggeoError, match="1 language pairs.*a-d"):
        ensemble([a, b])
    codes, d, coverage = ensemble([a, b, c])
    assert codes == ["a", "b", "c", "d"]
    scale = (0.2 + 0.4 + 0.8) / 3
    # b-c is in A and B: mean of 0.2/0.2 and 0.6/0.4, back in the inputs' units.
    assert d[1, 2] == d[2, 1] == pytest.approx((1 + 1.5) / 2 * scale)
    assert d[0, 1] == pytest.approx(0.1 / 0.2 * scale)   # only in A
    assert d[2, 3] == pytest.approx(0.4 / 0.4 * scale)   # only in B
    assert d[0, 3] == pytest.approx(1 * scale)           # only in C
    assert (np.diag(d) == 0).all() and np.allclose(d, d.T)
    assert coverage.tolist() == [[2, 1, 1, 1], [1, 2, 2, 1], [1, 2, 2, 1], [1, 1, 1, 2]]
    _, plain, _ = ensemble([a, b, c], normalize=False)
    assert plain[1, 2] == pytest.approx(0.4) and plain[0, 3] == pytest.approx(0.8)


def test_ensemble_of_one_or_equal_levels_is_the_plain_mean():
    m = np.array([[0, .2, .4], [.2, 0, .3], [.4, .3, 0]])
    codes, d, _ = ensemble([(["x", "y", "z"], m)])
    assert codes == ["x", "y", "z"] and np.allclose(d, m)
    # Same languages in another order, same level: plain mean after aligning.
    perm = [2, 0, 1]
    _, d2, cov = ensemble([(["x", "y", "z"], m), (["z", "x", "y"], m[np.ix_(perm, perm)])])
    assert np.allclose(d2, m) and (cov == 2).all()


def test_ensemble_errors():
    ok = (["a", "b"], np.array([[0, .5], [.5, 0]]))
    with pytest.raises(LanggeoError, match="1 language pairs.*a-c"):
        ensemble([ok, (["c", "b"], np.array([[0, .5], [.5, 0]]))])
    with pytest.raises(LanggeoError, match="no positive"):
        ensemble([ok, (["a", "b"], np.zeros((2, 2)))])
    with pytest.raises(LanggeoError, match="symmetric"):
        ensemble([(["a", "b"], np.array([[0, .5], [.4, 0]]))])
    with pytest.raises(LanggeoError, match="distinct"):
        ensemble([(["a", "a"], np.zeros((2, 2)))])


def test_ensemble_of_one_matrix_is_that_matrix_bit_for_bit():
    rng = np.random.default_rng(3)
    x = rng.random((6, 6))
    m = (x + x.T) / 2
    np.fill_diagonal(m, 0)
    codes, out, coverage = ensemble([(list("abcdef"), m)])
    assert codes == list("abcdef") and np.array_equal(out, m) and (coverage == 1).all()
