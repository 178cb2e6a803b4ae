"""The ensemble of the method: distances averaged over (model, dataset) pairs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from langgeo import LanggeoError
from langgeo.geometry.matrices import check_matrix, mean_off_diagonal

if TYPE_CHECKING:
    pass


def ensemble(matrices: Sequence[tuple[Sequence[str], np.ndarray]],
             normalize: bool = True) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Average distance matrices of several (model, dataset) pairs over their languages.

    Parameters
    ----------
    matrices : ``(codes, matrix)`` per pair; ``matrix`` is ``(len(codes), len(codes))``,
        symmetric, zero diagonal. Pairs may cover different languages.
    normalize : divide each matrix by its mean off-diagonal distance ``s_k`` first, and
        multiply the mean by the mean of the ``s_k``. The level of signature distances
        differs between models, datasets and score formulas; without this the input with the
        largest distances would dominate the geometry. Dividing by a
        positive number keeps each matrix's shape, and a positive combination of squared
        Euclidean distances is still one, so the ``sqrt`` embedding stays exact. The final
        rescaling keeps values in the inputs' units: with one input, or inputs of equal
        level, the result is their plain mean. ``s_k`` is taken over each matrix's own
        language pairs, so an input covering only closely related languages has a small
        ``s_k`` and is scaled up; with ``False`` the matrices are averaged as they are.

    Returns
    -------
    codes : union of the languages, in order of first appearance.
    matrix : ``(n, n)`` float64, each entry the mean over the inputs that hold both
        languages.
    coverage : ``(n, n)`` int64, how many inputs hold both languages (diagonal: hold it).

    Raises ``LanggeoError`` when some pair of languages is covered by no input.
    """
    if not matrices:
        raise LanggeoError("no distance matrices to combine")
    codes: list[str] = []
    for k, (c, m) in enumerate(matrices):
        check_matrix(m, c, what=f"distance matrix {k}")
        codes += [x for x in c if x not in codes]
    index = {c: i for i, c in enumerate(codes)}
    n = len(codes)
    total = np.zeros((n, n))
    coverage = np.zeros((n, n), dtype=np.int64)
    scales = []
    for k, (c, m) in enumerate(matrices):
        scale = 1.0
        if normalize:
            scale = mean_off_diagonal(np.asarray(m, dtype=np.float64)) if len(c) > 1 else 0.0
            if not scale > 0:
                raise LanggeoError(f"distance matrix {k} ({', '.join(c[:5])}…) has no positive "
                                   "off-diagonal mean to normalize by; drop it or pass "
                                   "normalize=False")
        scales.append(scale)
    # One factor per input, mean(scales) / scale: exactly 1.0 for a single input or equal
    # levels, so then the result is the plain mean, bit for bit.
    mean_scale = float(np.mean(scales))
    for (c, m), scale in zip(matrices, scales):
        at = np.array([index[x] for x in c])
        total[np.ix_(at, at)] += np.asarray(m, dtype=np.float64) * (mean_scale / scale)
        coverage[np.ix_(at, at)] += 1
    missing = np.argwhere(np.triu(coverage == 0, 1))
    if len(missing):
        pairs = ", ".join(f"{codes[i]}-{codes[j]}" for i, j in missing[:10])
        raise LanggeoError(f"{len(missing)} language pairs are in no (model, dataset) distance "
                           f"matrix (e.g. {pairs}); add a dataset covering both languages or "
                           "drop one of them")
    out = total / np.maximum(coverage, 1)
    return codes, out, coverage
