"""The hidden-states file: one pooled vector per (layer, language, unit), readable with numpy.

A folder per model (``data/hidden_states/<model>/``): ``states.npy``, float32 of shape
``(n_layers + 1, n_languages, n_units, hidden)`` (layer 0 the embedding output; ``n_units``
the most units of a language, zero vectors after a language's last), and ``units.json``:
the ``languages`` in the order of the array, the ``units`` as ``[article, units in the
article, position]`` (two languages hold the same unit when they hold the same triple),
``slots``: per language the indices into ``units`` of its units in the order of the array,
and how they were read (model, pooling, dtype, the declarations, the languages without one).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from langgeo import LanggeoError

STATES, UNITS = "states.npy", "units.json"


def _matches(states: np.ndarray, record: dict[str, Any]) -> bool:
    slots = record["slots"]
    return (len(slots) == len(record["languages"]) and states.shape[1] == len(slots)
            and states.shape[2] == max(map(len, slots), default=0))


def unit_slots(record: dict[str, Any]) -> np.ndarray:
    """int64 ``(n_languages, n_units)``: the index into ``record["units"]`` of each slot of
    the states array, ``-1`` after a language's last unit."""
    slots = record["slots"]
    out = np.full((len(slots), max(map(len, slots))), -1, dtype=np.int64)
    for row, ids in enumerate(slots):
        out[row, :len(ids)] = ids
    return out


def write_states(folder: str | os.PathLike[str], states: np.ndarray,
                 record: dict[str, Any]) -> None:
    """Write ``states`` and ``record`` (JSON-ready; needs ``languages``, ``units`` and
    ``slots``) into
    ``folder``, which must exist (write it through :func:`langgeo.formats.storage.atomic_path`)."""
    folder = Path(folder)
    if not _matches(states, record):
        raise LanggeoError(f"hidden states of shape {states.shape} do not match "
                           f"{len(record['languages'])} languages holding up to "
                           f"{max(map(len, record['slots']), default=0)} units")
    np.save(folder / STATES, np.ascontiguousarray(states, dtype=np.float32))
    (folder / UNITS).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")


def read_states(folder: str | os.PathLike[str]) -> tuple[np.ndarray, dict[str, Any]]:
    """The array and the record of :func:`write_states`."""
    folder = Path(folder)
    if not (folder / STATES).is_file() or not (folder / UNITS).is_file():
        raise LanggeoError(f"hidden states {folder} not found; run `dvc repro` (stage "
                           "hidden_states) first, or `dvc pull`")
    try:
        states = np.load(folder / STATES, allow_pickle=False)
        record = json.loads((folder / UNITS).read_text())
    except (OSError, ValueError) as exc:
        raise LanggeoError(f"hidden states in {folder} are damaged ({exc}); re-run their "
                           "stage: `dvc repro -f -s hidden_states`") from exc
    if states.ndim != 4 or "slots" not in record or not _matches(states, record):
        raise LanggeoError(f"hidden states in {folder} do not match their units.json; re-run "
                           "their stage: `dvc repro -f -s hidden_states`")
    return states, record
