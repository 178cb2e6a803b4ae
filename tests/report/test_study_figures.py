"""The figures of the studies."""

from langgeo.studies.interlingua import representation_distances
from tests.helpers.planted import planted_states


def test_interlingua_figures(tmp_path):
    from langgeo.report.study_figures import (geometry_scatter_figure, interlingua_figure,
                                              language_ilo_figure)
    from langgeo.studies.interlingua import analyse_layers

    states, family = planted_states()
    codes = [f"l{i}" for i in range(8)]
    gold = {"family": [f"f{f}" for f in family]}
    weights = representation_distances(states[0])
    result = analyse_layers(states, codes, gold, weights, k=3, t=2, kmeans_seeds=1,
                            n_permutations=9, mantel_permutations=9)
    paths = [interlingua_figure(tmp_path / "curves.png", result.per_layer, "tiny"),
             language_ilo_figure(tmp_path / "languages.png",
                                 result.per_language[result.per_language["layer"] == 1], 1,
                                 gold["family"]),
             geometry_scatter_figure(tmp_path / "scatter.png", weights, result.distances[1],
                                     1, 0.5)]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
