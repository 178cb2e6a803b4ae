"""Stage ``report``: the figures of the ensemble's space (``reports/figures/``)."""

from __future__ import annotations

import pandas as pd

from langgeo.data.udhr import language_script
from langgeo.layout import Layout
from langgeo.params import Params
from langgeo.report.figures import write_figures
from langgeo.report.space import weight_geometry


def run(params: Params, layout: Layout) -> str:
    labels = pd.read_parquet(layout.labels())
    (codes, matrix, coords), clusters = weight_geometry(params, layout, labels)
    spectrum = pd.read_parquet(layout.spectrum())
    written = write_figures(layout.figures(), labels, codes, matrix, coords, spectrum,
                            clusters=clusters, seed=params.seed,
                            scripts=[language_script(c) or "?" for c in codes])
    return f"report: {len(written)} figures in {layout.figures()}"
