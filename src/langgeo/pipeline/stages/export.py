"""Stage ``export``: the latent vectors and distances for sharing (``reports/export/``)."""

from __future__ import annotations

from langgeo.layout import Layout
from langgeo.params import Params
from langgeo.report.export import export_results


def run(params: Params, layout: Layout) -> str:
    paths = export_results(layout.export(), layout.latent(), layout.ensemble_distances(),
                           layout.labels())
    return (f"export: {len(paths)} files (latent vectors and distances, Parquet + CSV, with "
            f"codes, names and labels) -> {layout.export()}")
