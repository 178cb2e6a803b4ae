"""Stage ``embed``: classical MDS of the ensemble and of each (model, dataset) pair: the latent
vectors every later stage reads (``data/embedding/``), and the ensemble's eigenvalue spectrum."""

from __future__ import annotations

import numpy as np
import pandas as pd

from langgeo.formats.matrix_file import read_matrix, write_latent
from langgeo.formats.storage import atomic_path
from langgeo.geometry.embedding import classical_mds
from langgeo.layout import Layout
from langgeo.params import Params


def embed(distances: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
    """Latent vectors ``(n, k)`` and all eigenvalues ``(n,)`` under params ``embedding``."""
    return classical_mds(distances, params.embedding.n_components,
                         params.embedding.distance_transform)


def run(params: Params, layout: Layout) -> str:
    codes, distances = read_matrix(layout.ensemble_distances())
    coords, eigenvalues = embed(distances, params)
    negative = -eigenvalues[eigenvalues < 0].sum() / np.abs(eigenvalues).sum()
    spectrum = pd.DataFrame({"component": np.arange(1, len(eigenvalues) + 1),
                             "eigenvalue": eigenvalues,
                             "kept": np.arange(len(eigenvalues)) < coords.shape[1]})
    final = layout.embedding()
    with atomic_path(final) as tmp:
        tmp.mkdir()
        write_latent(tmp / layout.latent().name, codes, coords)
        spectrum.to_parquet(tmp / layout.spectrum().name, index=False)
        for model, dataset in params.pairs():
            pair_codes, matrix = read_matrix(layout.pair_distances(model, dataset))
            path = tmp / layout.pair_latent(model, dataset).relative_to(final)
            path.parent.mkdir(exist_ok=True)
            write_latent(path, pair_codes, embed(matrix, params)[0])
    return (f"embedding: {len(codes)} languages in {coords.shape[1]} dimensions (negative "
            f"eigenvalue mass {negative:.2%}), and each of {len(params.pairs())} (model, "
            f"dataset) pairs -> {final}")
