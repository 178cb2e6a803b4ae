"""Checks and small reductions of ``(n, n)`` distance matrices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from langgeo import LanggeoError

if TYPE_CHECKING:
    pass


def check_matrix(distances: np.ndarray, codes: Sequence[str] | None = None, *,
                 what: str = "distance matrix", min_languages: int = 1,
                 hint: str = "") -> np.ndarray:
    """``distances`` as a float64 ``(n, n)`` array, after checking that it is finite,
    symmetric and non-negative with a zero diagonal, has at least ``min_languages`` rows and,
    when ``codes`` are given, one row per code with distinct codes.

    Raises ``LanggeoError`` naming ``what``, followed by ``hint`` (what the caller should do).
    """
    d = np.asarray(distances, dtype=np.float64)
    advice = f"; {hint}" if hint else ""
    if codes is not None:
        if d.shape != (len(codes), len(codes)):
            raise LanggeoError(f"{what} has shape {d.shape} but there are {len(codes)} "
                               f"language codes{advice}")
        if len(set(codes)) != len(codes):
            raise LanggeoError(f"{what}: language codes are not distinct{advice}")
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise LanggeoError(f"{what} must be square, got shape {d.shape}{advice}")
    if d.shape[0] < min_languages:
        raise LanggeoError(f"{what} must cover at least {min_languages} languages, got "
                           f"{d.shape[0]}{advice}")
    if not np.isfinite(d).all() or not np.allclose(d, d.T) or (d < 0).any() \
            or np.diag(d).any():
        raise LanggeoError(f"{what} must be finite, symmetric and non-negative with a zero "
                           f"diagonal{advice}")
    return d


def mean_off_diagonal(matrix: np.ndarray) -> float:
    n = len(matrix)
    return float(matrix[~np.eye(n, dtype=bool)].mean())
