"""langgeo: a metric space of languages built from the weights of multilingual LLMs."""

import os

__version__ = "0.1.0"

#: Set (to anything but 0) by ``langgeo --verbose``: the libraries' own progress bars and
#: warnings (transformers' model loading) are shown.
VERBOSE_ENV = "LANGGEO_VERBOSE"


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity where the OS reports one, as on Linux;
    otherwise all cores)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def space(path="."):
    """Load the language space a pipeline run left in the project folder ``path``: a
    :class:`langgeo.placement.Space` (codes, labels, distances, latent vectors; neighbours,
    placing new texts). See :func:`langgeo.placement.load_space`."""
    from langgeo.placement import load_space

    return load_space(path)


class LanggeoError(Exception):
    """An error in the user's input or environment, reported as one clear message."""
