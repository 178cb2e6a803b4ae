"""Stage ``labels``: the Glottolog family and primary branch of every language of params."""

from __future__ import annotations

from langgeo.data.labels import language_labels
from langgeo.formats.storage import atomic_path
from langgeo.layout import Layout
from langgeo.params import Params


def run(params: Params, layout: Layout) -> str:
    table = language_labels(params.languages)
    with atomic_path(layout.labels()) as tmp:
        table.to_parquet(tmp, index=False)
    return (f"labels: {len(table)} languages, {table['family'].nunique()} families, "
            f"{table['branch'].nunique()} primary branches -> {layout.labels()}")
