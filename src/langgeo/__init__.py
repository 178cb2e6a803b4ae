"""langgeo: a metric space of languages built from the weights of multilingual LLMs.

The package, from the bottom tier up (a module imports only from its own tier or below):
``params``, ``layout`` (settings and paths) · ``formats`` (files, pyarrow) · ``geometry``
(distances, MDS, trees; numpy) and ``data`` (languages, calibration text) · ``method`` (the
paper's method, torch: start at :mod:`langgeo.method.signature`) · ``evaluation`` ·
``studies`` · ``report`` · ``pipeline`` (the CLI and one module per DVC stage).

The entry points a notebook needs are importable from here: :func:`space` (the space a
pipeline run left in a project folder), :func:`compute_signature`, :func:`read_signature`,
:func:`read_matrix`, :func:`classical_mds`, :func:`evaluate_distances`,
:func:`language_labels`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Set (to anything but 0) by ``langgeo --verbose``: the libraries' own progress bars and
#: warnings (transformers' model loading) are shown.
VERBOSE_ENV = "LANGGEO_VERBOSE"


class LanggeoError(Exception):
    """An error in the user's input or environment, reported as one clear message."""


# Imported on first use (PEP 562), so that `import langgeo` stays light and the modules that
# only need LanggeoError do not import the whole package.
_EXPORTS = {
    "space": "langgeo.studies.placement:load_space",
    "compute_signature": "langgeo.method.signature:compute",
    "read_signature": "langgeo.formats.signature_file:read_signature",
    "read_matrix": "langgeo.formats.matrix_file:read_matrix",
    "classical_mds": "langgeo.geometry.embedding:classical_mds",
    "evaluate_distances": "langgeo.evaluation.protocol:evaluate_distances",
    "language_labels": "langgeo.data.labels:language_labels",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'langgeo' has no attribute {name!r}")
    module, attribute = _EXPORTS[name].split(":")
    return getattr(importlib.import_module(module), attribute)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
