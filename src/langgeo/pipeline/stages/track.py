"""Stage ``track``, the last: the MLflow run of every stage's current outputs that the store lacks
(the configuration's run with its figures and explorer page; the studies' runs).

The stages write files only, so logging orders nothing in the DAG; this stage runs after them
whenever an output it logs changes. ``langgeo track`` runs it by hand, e.g. on a clone whose
outputs DVC found up to date, or after deleting the store.
"""

from __future__ import annotations

from langgeo.layout import Layout
from langgeo.params import Params
from langgeo.pipeline.runs import track_all


def run(params: Params, layout: Layout) -> str:
    return "\n".join(tracked.line() for tracked in track_all(params, layout))
