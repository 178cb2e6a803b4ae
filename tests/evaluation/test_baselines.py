"""The baselines: URIEL+ distances against reference values, script and random distances."""

import numpy as np
import pytest

from langgeo import LanggeoError
from langgeo.evaluation.baselines import (_angular_distances, baseline_distances, random_distances,
                                          script_distances, uriel_distances)

LANGS = ["eng", "deu", "fra", "rus", "jpn", "lvs"]


# urielplus 1.3.2: URIELPlus().new_distance(kind, LANGS), printed to 4 decimals (-1: none).
URIEL_REFERENCE = {
    "geographic": [[0.0, 0.0437, 0.0246, 0.1849, 0.3453, 0.0694],
                   [0.0437, 0.0, 0.032, 0.1639, 0.3383, 0.0509],
                   [0.0246, 0.032, 0.0, 0.1897, 0.3549, 0.0747],
                   [0.1849, 0.1639, 0.1897, 0.0, 0.2055, 0.1205],
                   [0.3453, 0.3383, 0.3549, 0.2055, 0.0, 0.2996],
                   [0.0694, 0.0509, 0.0747, 0.1205, 0.2996, 0.0]],
    "featural": [[0.0, 0.4033, 0.4542, 0.4975, 0.5786, -1.0],
                 [0.4033, 0.0, 0.3904, 0.4501, 0.5402, -1.0],
                 [0.4542, 0.3904, 0.0, 0.4827, 0.5724, -1.0],
                 [0.4975, 0.4501, 0.4827, 0.0, 0.5786, -1.0],
                 [0.5786, 0.5402, 0.5724, 0.5786, 0.0, -1.0],
                 [-1.0, -1.0, -1.0, -1.0, -1.0, 0.0]],
    "syntactic": [[0.0, 0.3582, 0.4204, 0.4525, 0.6287, -1.0],
                  [0.3582, 0.0, 0.4324, 0.3729, 0.5903, -1.0],
                  [0.4204, 0.4324, 0.0, 0.4598, 0.693, -1.0],
                  [0.4525, 0.3729, 0.4598, 0.0, 0.6401, -1.0],
                  [0.6287, 0.5903, 0.693, 0.6401, 0.0, -1.0],
                  [-1.0, -1.0, -1.0, -1.0, -1.0, 0.0]],
    "genetic": [[0.0, 0.6336, 0.9386, 0.8934, 1.0, 0.9687],
                [0.6336, 0.0, 0.9248, 0.8691, 1.0, 0.9744],
                [0.9386, 0.9248, 0.0, 0.9078, 1.0, 0.9638],
                [0.8934, 0.8691, 0.9078, 0.0, 1.0, 0.9791],
                [1.0, 1.0, 1.0, 1.0, 0.0, 0.9819],
                [0.9687, 0.9744, 0.9638, 0.9791, 0.9819, 0.0]],
}


@pytest.mark.parametrize("kind", sorted(URIEL_REFERENCE))
def test_uriel_distances_match_urielplus(kind):
    reference = np.array(URIEL_REFERENCE[kind])
    baseline = uriel_distances(kind, LANGS)
    d, known = baseline.distances, reference >= 0
    # URIEL+ rounds to 4 decimals after computing in float32.
    np.testing.assert_allclose(d[known], reference[known], atol=6e-5)
    assert baseline.imputed_pairs == (~known).sum() // 2
    off_diagonal = ~np.eye(6, dtype=bool)
    np.testing.assert_allclose(d[~known], d[known & off_diagonal].mean())
    np.testing.assert_array_equal(d, d.T)


def test_missing_uriel_values_can_be_an_error():
    with pytest.raises(LanggeoError, match=r"no syntactic distance for 5 pair.*for \['lvs'\]"):
        uriel_distances("syntactic", LANGS, missing="error")
    with pytest.raises(LanggeoError, match="no featural distance"):
        uriel_distances("featural", ["lvs", "ory"])


def test_uriel_rejects_unknown_codes_and_kinds():
    with pytest.raises(LanggeoError, match=r"\['xxq'\] are not in URIEL"):
        uriel_distances("geographic", ["eng", "xxq"])
    with pytest.raises(LanggeoError, match="unknown URIEL"):
        uriel_distances("lexical", ["eng", "deu"])


def test_angular_distance_by_hand():
    values = np.array([[1.0, 0, 1], [1, 1, 0], [1, 1, 0], [0, 0, 0], [0, 0, 0]])
    known = np.array([[1, 1, 1], [1, 1, 1], [1, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=bool)
    d = _angular_distances(values * known, known)
    assert d[0, 1] == pytest.approx(2 / 3)  # cos = 1/2 over all three features
    assert d[0, 2] == pytest.approx(1 / 2)  # only features 0, 1 shared: cos = 1/sqrt(2)
    # All-zero row -> constant vector, parallel to (1, 1) (arccos near 1 loses ~1e-8).
    assert d[2, 3] == pytest.approx(0.0, abs=1e-6)
    assert d[3, 0] == pytest.approx(1 / 2)  # constant vs (1, 0): cos = 1/sqrt(2)
    assert np.isnan(d[3, 4]) and np.isnan(d[4, 2])  # no shared known feature
    assert d[4, 4] == 0 and d[4, 0] == pytest.approx(0.0, abs=1e-6)


def test_script_distances():
    d = script_distances(["en", "fr", "ru", "sr", "ar", "ku"]).distances
    expected = 1 - np.kron(np.eye(3), np.ones((2, 2)))
    np.testing.assert_array_equal(d, expected)
    with pytest.raises(LanggeoError, match=r"\['xx'\]"):
        script_distances(["en", "xx"])


def test_random_distances_are_a_seeded_metric():
    d = random_distances(12, seed=3).distances
    np.testing.assert_array_equal(d, d.T)
    assert (np.diag(d) == 0).all() and d[~np.eye(12, dtype=bool)].min() >= 0.5
    # d[i, k] <= d[i, j] + d[j, k] for all i, j, k
    assert (d[:, None, :] <= d[:, :, None] + d[None, :, :] + 1e-12).all()
    np.testing.assert_array_equal(d, random_distances(12, seed=3).distances)
    assert not np.array_equal(d, random_distances(12, seed=4).distances)


def test_baseline_distances_cover_the_same_languages():
    codes, iso = ["en", "de", "ru", "lv"], ["eng", "deu", "rus", "lvs"]
    baselines = baseline_distances(codes, iso, seed=0)
    assert list(baselines) == ["uriel_geographic", "uriel_featural", "uriel_syntactic",
                               "uriel_genetic", "script", "random"]
    assert all(b.distances.shape == (4, 4) for b in baselines.values())
    assert baselines["uriel_featural"].imputed_pairs == 3
    assert baselines["uriel_genetic"].imputed_pairs == 0
