"""Small helpers shared across tiers, with no heavy imports."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def single_threaded(function: Callable[P, R]) -> Callable[P, R]:
    """Run ``function`` with one BLAS and one OpenMP thread.

    A BLAS product splits its sums across threads, so its last bits depend on the thread
    count; on matrices with ties (URIEL+ genetic distances, script identity) such bits
    decide k-means assignments and eigenvector bases. Evaluation works on matrices of a few
    hundred languages, where one thread costs little and makes the same inputs give the same
    bytes whatever the machine's thread settings (README, "Determinism").
    """
    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            return function(*args, **kwargs)
    return wrapper
