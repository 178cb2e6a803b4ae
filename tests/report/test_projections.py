"""Two-dimensional projections of the latent space (t-SNE, UMAP)."""

import numpy as np

from langgeo.report import projections
from tests.helpers.planted import planted_figure_inputs


def test_tsne_is_deterministic_given_the_seed():
    _, _, _, latent, _ = planted_figure_inputs(15)
    a = projections.tsne_coords(latent, seed=3)
    assert a.shape == (15, 2)
    np.testing.assert_array_equal(a, projections.tsne_coords(latent, seed=3))
