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

import torch

from langgeo import LanggeoError

log = logging.getLogger(__name__)

MAX_DAMPING_RETRIES = 6


def _damped_cholesky(h: torch.Tensor, damping: float, name: str) -> torch.Tensor:
    """Lower Cholesky factor of ``h + λI``, raising λ tenfold until ``h + λI`` is positive
    definite (rank-deficient Hessians are common with few calibration tokens)."""
    base = damping * torch.diagonal(h).mean()
    eye = torch.eye(h.shape[0], dtype=h.dtype, device=h.device)
    for attempt in range(MAX_DAMPING_RETRIES):
        lam = base * 10**attempt
        factor, info = torch.linalg.cholesky_ex(h + lam * eye)
        if int(info) == 0:
            if attempt:
                log.warning("%s: Hessian not positive definite at damping %g; used %g",
                            name, damping, damping * 10**attempt)
            return factor
    raise LanggeoError(f"layer {name}: Hessian is not positive definite even with damping "
                       f"{damping * 10**(MAX_DAMPING_RETRIES - 1):g}; check the calibration data")


def column_factors(h: torch.Tensor, score: str, damping: float, n_tokens: int,
                   name: str = "layer") -> torch.Tensor:
    """Column factors ``c`` (shape ``(in,)``, fp32) of ``score`` for mean Hessian ``h``."""
    if score == "magnitude":
        return torch.ones(h.shape[0], dtype=torch.float32, device=h.device)
    diag = torch.diagonal(h).clone()
    dead = diag == 0
    if score == "wanda":
        return torch.sqrt(diag * n_tokens)
    h = h.clone()
    # A dead column makes H singular; a unit diagonal there keeps the other columns exact.
    h[dead, dead] = 1.0
    if dead.all():
        return torch.zeros_like(diag)
    if score == "obs":
        c = 1.0 / torch.diagonal(torch.cholesky_inverse(_damped_cholesky(h, damping, name)))
    elif score == "sparsegpt":
        # U_jj² (U: upper Cholesky factor of Hd⁻¹) is the Schur complement
        # 1 / (Hd_jj − Hd_j,>j Hd_>j,>j⁻¹ Hd_>j,j), and that Schur complement is the squared
        # diagonal of the lower Cholesky factor of Hd with its index order reversed. One
        # factorization replaces SparseGPT's Cholesky, inverse and second Cholesky.
        reversed_factor = _damped_cholesky(h.flip(0, 1), damping, name)
        c = torch.diagonal(reversed_factor).flip(0) ** 2
    else:
        raise LanggeoError(f"unknown score formula {score!r}")
    c[dead] = 0.0
    return c


def importance(weight: torch.Tensor, factors: torch.Tensor, score: str) -> torch.Tensor:
    """Scores of shape ``weight.shape`` (fp32): ``f(W) * c`` broadcast over rows."""
    w = weight.detach().float()
    f = w.square() if score in ("sparsegpt", "obs") else w.abs()
    return f * factors.to(w.device)[None, :]
