"""The space as the pipeline left it: one configuration's codes, distances, latent vectors and
a clustering to show (the report's figures and the explorer page draw it)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from langgeo import LanggeoError
from langgeo.evaluation.protocol import kmeans_labels
from langgeo.formats.matrix_file import read_latent, read_matrix
from langgeo.layout import Layout
from langgeo.params import Params


def weight_geometry(params: Params, layout: Layout, labels: pd.DataFrame,
                    pair: tuple[str, str] | None = None
                    ) -> tuple[tuple[list[str], np.ndarray, np.ndarray], np.ndarray]:
    """The ensemble's (or one (model, dataset) ``pair``'s) codes ``(n,)``, distances
    ``(n, n)`` and latent vectors ``(n, k)`` as the distances and embed stages wrote them, and
    one k-means assignment ``(n,)`` (the first seed) with as many clusters as its languages
    have gold groups (``labels``: data/labels.parquet)."""
    matrix_path, latent_path = ((layout.ensemble_distances(), layout.latent()) if pair is None
                                else (layout.pair_distances(*pair), layout.pair_latent(*pair)))
    codes, matrix = read_matrix(matrix_path)
    latent_codes, coords = read_latent(latent_path)
    if latent_codes != codes:
        raise LanggeoError(f"{latent_path} does not embed the languages of {matrix_path}; run "
                           "`dvc repro` (stage embed) to bring it up to date")
    k = labels.set_index("code").loc[codes, params.evaluation.label_level].nunique()
    # One assignment to show; evaluate scores all seeds.
    return (codes, matrix, coords), kmeans_labels(coords, k, [params.seed])[0]
