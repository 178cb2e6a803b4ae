"""Binarization at the median: a language's bits are its highest-scoring half of the weights.

Exactly half the bits of each matrix (``per_matrix``) or of all matrices together (``global``)
are set to 1: the ``n // 2`` highest scores. Scores tied at the threshold are broken by the
lower row-major flat index, so the result is deterministic and the count exact even when many
scores are equal (e.g. zeros from dead input features).
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from langgeo import LanggeoError
from langgeo._util import as_numpy, usable_cores


def top_half(scores: Any) -> np.ndarray:
    """Boolean mask of ``scores.shape`` with exactly ``size // 2`` ones: the highest scores,
    ties at the threshold going to the lower flat index. ``scores``: numpy array or torch
    tensor."""
    scores = as_numpy(scores)
    flat = scores.reshape(-1)
    n = flat.size
    k = n // 2
    if k == 0:
        return np.zeros(scores.shape, dtype=bool)
    # np.partition selects in linear time, several times faster than torch.kthvalue here.
    threshold = np.partition(flat, n - k)[n - k]
    mask = flat > threshold
    short = k - int(np.count_nonzero(mask))
    if short > 0:
        mask[np.flatnonzero(flat == threshold)[:short]] = True
    return mask.reshape(scores.shape)


def binarize(scores: Mapping[str, Any], binarization: str) -> dict[str, np.ndarray]:
    """Bit masks (bool numpy arrays, shapes of the scores) under the chosen median rule."""
    if binarization == "per_matrix":
        # np.partition is single-threaded but releases the GIL: one matrix per core halves
        # the time on two cores.
        with ThreadPoolExecutor(max_workers=usable_cores()) as pool:
            return dict(zip(scores, pool.map(top_half, scores.values())))
    if binarization == "global":
        arrays = {name: as_numpy(s) for name, s in scores.items()}
        mask = top_half(np.concatenate([a.reshape(-1) for a in arrays.values()]))
        out, start = {}, 0
        for name, a in arrays.items():
            out[name] = mask[start:start + a.size].reshape(a.shape)
            start += a.size
        return out
    raise LanggeoError(f"unknown binarization {binarization!r}")
