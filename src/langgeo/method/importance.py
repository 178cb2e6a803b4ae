"""Per-weight importance scores of a linear layer ``W`` (shape ``(out, in)``) given the
mean Hessian ``H = XᵀX / n`` of its input (shape ``(in, in)``).

Every formula factors as ``score[i, j] = f(W[i, j]) * c[j]``: one column factor per input
feature, so layers sharing a Hessian also share ``c`` (computed once by
:func:`column_factors`). With ``Hd = H + λI`` and ``λ = damping · mean(diag H)``:

- ``sparsegpt``: ``W² / U_jj²`` with ``U`` the upper Cholesky factor of ``Hd⁻¹``, the quantity
  the SparseGPT reference ranks weights by (Frantar & Alistarh, 2023). Default. Computed
  exactly, without forming ``Hd⁻¹`` (see :func:`column_factors`).
- ``obs``: ``W² / [Hd⁻¹]_jj``, the Optimal Brain Surgeon saliency.
- ``wanda``: ``|W| · ‖X_j‖₂`` (Sun et al., 2023), with ``‖X_j‖₂ = sqrt(n · H_jj)``.
- ``magnitude``: ``|W|``; blind to the language, so every language gets the same signature
  (a control).

An input feature that never activates (``H_jj = 0``) carries no information for this
language: its weights score 0 under the data-aware formulas, as SparseGPT prunes them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch

from langgeo import LanggeoError
from langgeo.method.anatomy import block_linears, linear_weight
from langgeo.method.hessians import Hessians

log = logging.getLogger(__name__)

MAX_DAMPING_RETRIES = 6


# Diagonal block of the blocked Cholesky below: 256 balances the small unblocked
# factorizations against the efficiency of the trailing GEMM updates (benchmarks/blocks.py).
CHOLESKY_BLOCK = 256


def cholesky_diagonal(a: torch.Tensor, block: int = CHOLESKY_BLOCK) -> torch.Tensor | None:
    """Diagonal of the lower Cholesky factor of symmetric ``a`` (shape ``(n, n)``), or None
    when ``a`` is not positive definite. ``a`` is overwritten (its trailing blocks are
    updated in place, which saves copying them).

    Right-looking blocked Cholesky that keeps only the diagonal: factor a diagonal block,
    solve its panel, subtract the panel's Gram product from the trailing matrix (a GEMM),
    repeat. Same arithmetic as a full factorization, but it skips writing the factor, and
    ``torch.linalg.cholesky`` spends more time zeroing the upper triangle of its
    column-major result than factorizing (measured on the 2-core CPU at n = 2048).
    """
    pieces = []
    trailing = a
    while True:
        factor, info = torch.linalg.cholesky_ex(trailing[:block, :block])
        if int(info):
            return None
        pieces.append(torch.diagonal(factor))
        if trailing.shape[0] <= block:
            return torch.cat(pieces)
        panel = torch.linalg.solve_triangular(factor, trailing[:block, block:], upper=False)
        trailing = trailing[block:, block:].addmm_(panel.mT, panel, alpha=-1)


def damped(prepare: Callable[[], torch.Tensor], damping: float, name: str,
            factorize: Callable[[torch.Tensor], torch.Tensor | None]) -> torch.Tensor:
    """``factorize(H + λI)`` with ``H = prepare()``, raising λ tenfold until ``H + λI`` is
    positive definite (rank-deficient Hessians are common with few calibration tokens).

    ``factorize`` returns None when the matrix is not positive definite and may overwrite
    it, so every attempt gets a fresh copy from ``prepare``.
    """
    for attempt in range(MAX_DAMPING_RETRIES):
        work = prepare()
        diag = torch.diagonal(work)
        if attempt == 0:
            base = damping * diag.mean()
        diag.add_(base * 10**attempt)
        result = factorize(work)
        if result is not None:
            if attempt:
                log.warning("%s: Hessian not positive definite at damping %g; used %g",
                            name, damping, damping * 10**attempt)
            return result
    raise LanggeoError(f"layer {name}: Hessian is not positive definite even with damping "
                       f"{damping * 10**(MAX_DAMPING_RETRIES - 1):g}; check the calibration data")


def _cholesky_factor(a: torch.Tensor) -> torch.Tensor | None:
    factor, info = torch.linalg.cholesky_ex(a)
    return None if int(info) else factor


def column_factors(h: torch.Tensor, score: str, damping: float, n_tokens: int,
                   name: str = "layer") -> torch.Tensor:
    """Column factors ``c`` (shape ``(in,)``, fp32) of ``score`` for mean Hessian ``h``."""
    if score == "magnitude":
        return torch.ones(h.shape[0], dtype=torch.float32, device=h.device)
    dead = torch.diagonal(h) == 0
    if score == "wanda":
        return torch.sqrt(torch.diagonal(h) * n_tokens)
    if score not in ("obs", "sparsegpt"):
        raise LanggeoError(f"unknown score formula {score!r}")
    if dead.all():
        return torch.zeros(h.shape[0], dtype=torch.float32, device=h.device)

    def prepare() -> torch.Tensor:
        # sparsegpt factors H with its index order reversed (below); flip copies like clone.
        work = h.flip(0, 1) if score == "sparsegpt" else h.clone()
        # A dead column makes H singular; a unit diagonal there keeps the other columns exact.
        diag = torch.diagonal(work)
        diag[diag == 0] = 1.0
        return work

    if score == "obs":
        c = 1.0 / torch.diagonal(torch.cholesky_inverse(damped(prepare, damping, name,
                                                                 _cholesky_factor)))
    else:
        # U_jj² (U: upper Cholesky factor of Hd⁻¹) is the Schur complement
        # 1 / (Hd_jj − Hd_j,>j Hd_>j,>j⁻¹ Hd_>j,j), and that Schur complement is the squared
        # diagonal of the lower Cholesky factor of Hd with its index order reversed. One
        # factorization replaces SparseGPT's Cholesky, inverse and second Cholesky.
        c = damped(prepare, damping, name, cholesky_diagonal).flip(0) ** 2
    c[dead] = 0.0
    return c


def importance(weight: torch.Tensor, factors: torch.Tensor, score: str) -> torch.Tensor:
    """Scores of shape ``weight.shape`` (fp32): ``f(W) * c`` broadcast over rows."""
    w = weight.detach().float()
    f = w.square() if score in ("sparsegpt", "obs") else w.abs()
    return f * factors.to(w.device)[None, :]


def layer_factors(model: torch.nn.Module, hessians: Hessians, score: str,
                  damping: float) -> dict[str, torch.Tensor]:
    """Column factors ``(in,)`` of every Hessian, by the name of the layer that leads it, in
    forward order. Computed once per (score, damping) and cached on ``hessians``."""
    key = (score, float(damping))
    if key not in hessians.factors:
        factors: dict[str, torch.Tensor] = {}
        for name in block_linears(model):
            leader = hessians.leader_of[name]
            if leader not in factors:
                factors[leader] = column_factors(hessians.hessian[leader], score, damping,
                                                 hessians.n_tokens, leader)
        hessians.factors[key] = factors
    return hessians.factors[key]


def layer_scores(model: torch.nn.Module, hessians: Hessians, score: str,
                 damping: float) -> dict[str, torch.Tensor]:
    """Importance scores of every block linear layer, by name, in forward order."""
    factors = layer_factors(model, hessians, score, damping)
    return {name: importance(linear_weight(linear), factors[hessians.leader_of[name]], score)
            for name, linear in block_linears(model).items()}
