"""langgeo.method.importance: scores and their column factors against the textbook formulas
in float64; the blocked Cholesky diagonal."""

import logging

import pytest
import torch

from langgeo import LanggeoError
from langgeo.method.binarize import top_half
from langgeo.method.importance import cholesky_diagonal, column_factors, importance
from tests.helpers.references import reference_scores


def random_hessian(d: int, n: int = 40, dead: tuple[int, ...] = (), seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g) * torch.linspace(0.2, 3.0, d)
    x[:, list(dead)] = 0
    return x.T @ x / n


@pytest.mark.parametrize("score", ["sparsegpt", "obs", "wanda", "magnitude"])
@pytest.mark.parametrize("dead", [(), (3, 7)])
@pytest.mark.parametrize("d", [24, 300])  # 300: more than one block of the blocked Cholesky
def test_scores_and_bits_match_reference(score, dead, d):
    h = random_hessian(d, n=2 * d, dead=dead)
    w = torch.randn(16, d, generator=torch.Generator().manual_seed(5))
    fast = importance(w, column_factors(h, score, 0.01, 2 * d), score)
    slow = reference_scores(w, h, score, 0.01, 2 * d)
    torch.testing.assert_close(fast.double(), slow, rtol=2e-4, atol=1e-8)
    assert (top_half(fast) == top_half(slow)).all()


@pytest.mark.parametrize("block", [1, 4, 8, 37, 64])
def test_cholesky_diagonal_equals_the_factor_diagonal(block):
    a = random_hessian(37, n=80) + 0.01 * torch.eye(37)
    expected = torch.diagonal(torch.linalg.cholesky(a.double()))
    got = cholesky_diagonal(a.clone(), block=block)
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=0)


def test_cholesky_diagonal_detects_indefinite_trailing_blocks():
    # The leading block is positive definite; only the last Schur complement is not.
    a = torch.eye(10)
    a[9, 9] = -1.0
    assert cholesky_diagonal(a, block=4) is None
    a[9, 9] = 1e-3
    assert cholesky_diagonal(a, block=4) is not None


def test_magnitude_ignores_the_language():
    w = torch.randn(8, 12)
    a = importance(w, column_factors(random_hessian(12, seed=1), "magnitude", 0.01, 40),
                   "magnitude")
    b = importance(w, column_factors(random_hessian(12, seed=2), "magnitude", 0.01, 40),
                   "magnitude")
    assert (top_half(a) == top_half(b)).all()


def test_indefinite_hessian_gets_more_damping(caplog):
    h = torch.diag(torch.tensor([1.0, -0.5, 2.0]))
    with caplog.at_level(logging.WARNING):
        c = column_factors(h, "sparsegpt", 0.01, 10, name="layer.x")
    assert torch.isfinite(c).all() and (c > 0).all()
    assert "layer.x" in caplog.text and "not positive definite" in caplog.text


def test_hopeless_hessian_is_an_error():
    h = torch.diag(torch.tensor([1.0, -1e9]))
    with pytest.raises(LanggeoError, match="layer.y.*not positive definite"):
        column_factors(h, "obs", 0.01, 10, name="layer.y")
