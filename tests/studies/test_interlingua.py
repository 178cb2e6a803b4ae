"""ILO, Bridge, Reach, retrieval and the representation distance on planted points."""

import numpy as np
import pytest

from langgeo import LanggeoError
from langgeo.geometry.embedding import classical_mds
from langgeo.studies.interlingua import (check_neighbourhood, gaussian_control, layer_scores,
                                         neighbours_and_retrieval, overlap,
                                         representation_distances, score_tables)
from tests.helpers.planted import planted_states


def circle(degrees) -> np.ndarray:
    """Points on the unit circle: cosine similarity is the cosine of the angle between."""
    a = np.radians(np.asarray(degrees, dtype=np.float64))
    return np.stack([np.cos(a), np.sin(a)], axis=-1)


# Three languages A, B, C with two units each, as angles. Worked out by hand with k = 1:
# A0 <-> B0 and A1 <-> B1 are mutual nearest neighbours; C0 <-> C1 only see each other.
ANGLES = [[0, 100], [10, 104], [200, 220]]


def test_hand_computed_bridge_reach_ilo():
    scores = layer_scores(circle(ANGLES), k=1, t=1, seed=0)
    # A and B: both points bridge (1 other language >= t), 1 of 2 other languages reached.
    np.testing.assert_allclose(scores.real.bridge, [1, 1, 0])
    np.testing.assert_allclose(scores.real.reach, [0.5, 0.5, 0])
    np.testing.assert_allclose(scores.real.ilo, [2 / 3, 2 / 3, 0])


def test_hand_computed_retrieval():
    # From A0 (0 deg) the nearest C point is C1 (140 deg away, C0 is 160): wrong; from C1
    # (220) the nearest A point is A1 (120 away): right. Worked out for every pair.
    expected = np.array([[np.nan, 1, 0], [1, np.nan, 0], [0.5, 0.5, np.nan]])
    np.testing.assert_allclose(layer_scores(circle(ANGLES), 1, 1, 0).retrieval, expected)


def test_threshold_counts_distinct_other_languages():
    # k = 2: A0's neighbours are B0 (10 deg) and A1 (100): one other language, so with
    # t = 2 nothing bridges, while Reach still sees it.
    neighbours, _ = neighbours_and_retrieval(circle(ANGLES), k=2)
    labels = np.repeat(np.arange(3), 2)
    strict = overlap(neighbours, labels, 3, t=2)
    np.testing.assert_allclose(strict.bridge, 0)
    assert strict.reach[0] > 0 and strict.ilo[0] == 0


def test_shared_space_against_separate_languages():
    rng = np.random.default_rng(0)
    n_languages, n_units, dim = 6, 8, 32
    units = rng.standard_normal((n_units, dim))
    units /= np.linalg.norm(units, axis=1, keepdims=True)
    jitter = 0.001 * rng.standard_normal((n_languages, n_units, dim))
    # The last n_languages dimensions are left free for the offsets below.
    shared = np.concatenate([units[None] + jitter, np.zeros((n_languages, n_units,
                                                            n_languages))], axis=2)
    together = layer_scores(shared, k=5, t=3, seed=0)
    # Each point's 5 neighbours are its own unit in the 5 other languages.
    np.testing.assert_allclose(together.real.ilo, 1)
    np.testing.assert_allclose(np.nanmean(together.retrieval), 1)

    # A large offset per language, orthogonal to the content and to the other languages'
    # offsets: neighbours stay inside the language, ILO 0, but the arrangement within each
    # language is shared, so retrieval still finds every unit.
    offsets = np.zeros((n_languages, 1, dim + n_languages))
    offsets[np.arange(n_languages), 0, dim + np.arange(n_languages)] = 20
    apart = layer_scores(shared + offsets, k=5, t=3, seed=0)
    np.testing.assert_allclose(apart.real.ilo, 0)
    np.testing.assert_allclose(np.nanmean(apart.retrieval), 1)
    # Shuffled labels make separate languages look interlingual: why the control exists.
    assert apart.shuffled.ilo.mean() > 0.5


def test_noise_control_scores_high_ilo_but_chance_retrieval():
    n_languages, n_units = 10, 20
    noise = gaussian_control((n_languages, n_units, 64), k=5, t=3, seed=1)
    assert noise.real.ilo.mean() > 0.7
    assert noise.real.bridge.mean() > 0.6
    assert np.nanmean(noise.retrieval) < 3 / n_units
    again = gaussian_control((n_languages, n_units, 64), k=5, t=3, seed=1)
    np.testing.assert_array_equal(noise.real.ilo, again.real.ilo)


def test_retrieval_on_planted_alignment():
    rng = np.random.default_rng(2)
    n_units, dim = 10, 40
    units = rng.standard_normal((n_units, dim))
    order = np.array([0, 1, 2, 3, 4, 5, 7, 6, 9, 8])   # language 2 swaps 4 of its units
    points = np.stack([units, units, units[order]]) + 0.01 * rng.standard_normal((3, n_units, dim))
    retrieval = layer_scores(points, k=1, t=1, seed=0).retrieval
    fixed = np.mean(order == np.arange(n_units))
    np.testing.assert_allclose(retrieval[[0, 1, 2, 2], [2, 2, 0, 1]], fixed)
    np.testing.assert_allclose(retrieval[[0, 1], [1, 0]], 1)


def test_blocks_do_not_change_neighbours():
    points = np.random.default_rng(3).standard_normal((7, 5, 16))
    whole = neighbours_and_retrieval(points, 4, block_rows=1000)
    blocked = neighbours_and_retrieval(points, 4, block_rows=3)
    np.testing.assert_array_equal(whole[0], blocked[0])
    np.testing.assert_array_equal(whole[1], blocked[1])
    flat = points.reshape(35, 16) / np.linalg.norm(points.reshape(35, 16), axis=1, keepdims=True)
    sim = flat @ flat.T
    np.fill_diagonal(sim, -np.inf)
    np.testing.assert_array_equal(whole[0], np.argsort(-sim, axis=1, kind="stable")[:, :4])


@pytest.mark.parametrize("n_languages, n_units, k, t", [
    (5, 10, 2, 3),     # t > k
    (3, 10, 5, 3),     # t > other languages
    (2, 2, 4, 1),      # k > other points
    (1, 10, 5, 3),     # one language
    (4, 10, 0, 0),
])
def test_impossible_k_or_t(n_languages, n_units, k, t):
    with pytest.raises(LanggeoError, match="interlingua"):
        check_neighbourhood(n_languages, n_units, k, t)
    with pytest.raises(LanggeoError):
        layer_scores(np.ones((n_languages, n_units, 3)), k, t, 0)


def test_representation_distance_ignores_language_offsets_when_centred():
    rng = np.random.default_rng(4)
    units = rng.standard_normal((12, 20))
    other = rng.standard_normal((12, 20))
    points = np.stack([units, units + 5.0, other])
    centred = representation_distances(points)
    assert centred[0, 1] == pytest.approx(0, abs=1e-12)
    assert centred[0, 2] > 0.5
    np.testing.assert_array_equal(centred, centred.T)
    assert representation_distances(points, centre=False)[0, 1] > 0.1
    # A squared Euclidean distance: its square root embeds with no negative eigenvalue.
    eigenvalues = classical_mds(representation_distances(rng.standard_normal((9, 6, 8))),
                                None, "sqrt")[1]
    assert eigenvalues.min() > -1e-9


def test_score_tables_shape():
    points = np.random.default_rng(5).standard_normal((4, 6, 8))
    layers = [layer_scores(points * s, 3, 2, 0) for s in (1, 2)]
    noise = gaussian_control(points.shape, 3, 2, 0)
    per_language, per_layer = score_tables(layers, noise, ["a", "b", "c", "d"])
    assert len(per_language) == 8 and list(per_layer["layer"]) == [0, 1]
    # Scaling every point leaves cosine neighbourhoods unchanged.
    assert per_layer["ilo"].nunique() == 1
    assert per_layer.loc[0, "gaussian_ilo"] == pytest.approx(noise.real.ilo.mean())


def test_analyse_layers_on_planted_families():
    from langgeo.studies.interlingua import analyse_layers

    states, family = planted_states()
    codes = [f"l{i}" for i in range(8)]
    gold = {"family": [f"f{f}" for f in family], "branch": [f"b{f}" for f in family]}
    weights = representation_distances(states[1])
    result = analyse_layers(states, codes, gold, weights, k=3, t=2, seed=0,
                            kmeans_seeds=2, n_permutations=99, mantel_permutations=99)
    layers = result.per_layer.set_index("layer")
    assert layers.loc[0, "ilo"] == 0
    # Layer 1: the 3 neighbours are the same unit in the 3 other languages of the family.
    assert layers.loc[1, "bridge"] == 1 and layers.loc[1, "reach"] == pytest.approx(3 / 7)
    assert (layers["family_kmeans_ari"] == 1).all()
    assert layers.loc[1, "mantel_rho"] == pytest.approx(1)
    assert len(result.per_language) == 16 and len(result.distances) == 2
    assert layers.loc[0, "gaussian_ilo"] == layers.loc[1, "gaussian_ilo"]


def test_languages_that_hold_different_units_align_per_pair():
    """Keys as pairwise_units gives them: each language holds some units (-1: none in that
    slot), in its own order; retrieval and the distance use each pair's common units only,
    the neighbours every point that exists. Checked against a loop over the pairs."""
    rng = np.random.default_rng(7)
    keys = np.array([[0, 1, 2, 3, 4], [0, 2, 3, 5, -1], [1, 2, 4, 5, 6], [6, 0, 3, -1, -1]])
    points = rng.standard_normal((4, 5, 6)).astype(np.float32)
    points[keys < 0] = 99.0  # what sits in an absent slot must not matter
    scores = layer_scores(points, k=3, t=2, seed=0, block_rows=4, keys=keys)
    d = representation_distances(points, keys=keys)
    present = keys >= 0
    centred = [points[a][present[a]] - points[a][present[a]].mean(axis=0) for a in range(4)]
    unit = [c / np.linalg.norm(c, axis=1, keepdims=True) for c in centred]
    raw = [points[a][present[a]] / np.linalg.norm(points[a][present[a]], axis=1, keepdims=True)
           for a in range(4)]
    for a in range(4):
        for b in range(4):
            if a == b:
                continue
            ka, kb = list(keys[a][present[a]]), list(keys[b][present[b]])
            common = [k for k in ka if k in kb]
            cos = [unit[a][ka.index(k)] @ unit[b][kb.index(k)] for k in common]
            assert d[a, b] == pytest.approx(1 - np.mean(cos), abs=1e-6)
            candidates = [kb.index(k) for k in common]
            found = [common[int(np.argmax([raw[a][ka.index(k)] @ raw[b][j]
                                           for j in candidates]))] == k for k in common]
            assert scores.retrieval[a, b] == pytest.approx(np.mean(found))
    # Pairs hold 1 to 3 units in common; a language's own count on the diagonal.
    from langgeo.studies.interlingua import shared_units
    np.testing.assert_array_equal(shared_units(keys), [[5, 3, 3, 2], [3, 4, 2, 2],
                                                      [3, 2, 5, 1], [2, 2, 1, 3]])
    # The neighbours: among the 17 points that exist, never an absent one.
    neighbours, _ = neighbours_and_retrieval(points, 3, keys=keys)
    flat = present.ravel()
    assert (neighbours[~flat] == -1).all()
    assert flat[neighbours[flat]].all()
    x = points.reshape(20, 6)[flat]
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    sim = x @ x.T
    np.fill_diagonal(sim, -np.inf)
    expected = np.flatnonzero(flat)[np.argsort(-sim, axis=1)[:, :3]]
    np.testing.assert_array_equal(np.sort(neighbours[flat], axis=1), np.sort(expected, axis=1))
    # Every language keeps its ILO, computed over its own points.
    assert scores.real.ilo.shape == (4,) and np.isfinite(scores.real.ilo).all()
    with pytest.raises(LanggeoError, match="no unit in common"):
        representation_distances(points[:2], keys=np.array([[0, 1, -1, -1, -1],
                                                            [2, 3, -1, -1, -1]]))
