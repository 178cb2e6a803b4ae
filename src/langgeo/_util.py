"""Small helpers shared across tiers, with no heavy imports."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import numpy as np

P = ParamSpec("P")
R = TypeVar("R")


def single_threaded(function: Callable[P, R]) -> Callable[P, R]:
    """Run ``function`` with one BLAS and one OpenMP thread.

    A BLAS product splits its sums across threads, so its last bits depend on the thread
    count; on matrices with ties (URIEL+ genetic distances, script identity) such bits
    decide k-means assignments and eigenvector bases. Evaluation works on matrices of a few
    hundred languages, where one thread costs little and makes the same inputs give the same
    bytes whatever the machine's thread settings (docs/method.md, "Determinism").
    """
    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            return function(*args, **kwargs)
    return wrapper


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity where the OS reports one, as on Linux;
    otherwise all cores)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def as_numpy(array: Any) -> np.ndarray:
    """A numpy view of a numpy array or a torch tensor on any device (copied to the host).

    Duck-typed so that the modules that read signature files do not pull in torch.
    """
    if hasattr(array, "detach"):
        return array.detach().cpu().numpy()
    return np.asarray(array)
