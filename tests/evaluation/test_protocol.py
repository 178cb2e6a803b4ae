"""The evaluation protocol: metrics against hand-computed cases, permutation tests on
planted structure, the bootstrap, Mantel; the same bytes whatever the thread count."""

import itertools
import json

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import adjusted_rand_score

from langgeo import LanggeoError
from langgeo.evaluation.protocol import (ari_permutation_test, bootstrap_interval,
                                         evaluate_distances, evaluate_kmeans, hdbscan_labels,
                                         mantel_test, purity)


def test_purity_by_hand():
    # cluster 0: a a b -> 2; cluster 1: b c -> 1; cluster 2: c -> 1; total 4 / 6
    assert purity(list("aabbcc"), [0, 0, 1, 0, 1, 2]) == pytest.approx(4 / 6)
    assert purity(list("aabb"), [1, 1, 0, 0]) == 1.0


def test_planted_clusters_are_found():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [0, 10]])
    latent = np.concatenate([c + rng.normal(scale=0.1, size=(5, 2)) for c in centres])
    gold = [g for g in "xyz" for _ in range(5)]
    m = evaluate_kmeans(latent, gold, n_seeds=3, seed=0)
    assert m["ari_mean"] == pytest.approx(1.0) and m["purity_mean"] == pytest.approx(1.0)
    assert m["silhouette"] > 0.9 and m["n_labels"] == 3 and m["n_languages"] == 15


def test_silhouette_undefined_when_every_language_is_its_own_label():
    latent = np.arange(6, dtype=float).reshape(3, 2)
    assert evaluate_kmeans(latent, ["a", "b", "c"], n_seeds=1, seed=0)["silhouette"] is None


def test_permutation_p_value_matches_exhaustive_enumeration():
    gold = np.array(list("aabbbc"))
    pred = np.array([0, 0, 0, 1, 1, 2])
    observed = adjusted_rand_score(gold, pred)
    null = [adjusted_rand_score(gold[list(p)], pred) for p in itertools.permutations(range(6))]
    exact = np.mean(np.array(null) >= observed - 1e-12)
    ari, p = ari_permutation_test(gold, [pred], n_permutations=20000, seed=1)
    assert ari == pytest.approx(observed)
    assert 0.05 < exact < 0.5 and p == pytest.approx(exact, abs=0.01)


def test_permutation_test_of_several_clusterings_tests_their_mean_ari():
    gold = np.repeat(list("abc"), 4)
    perfect, scrambled = np.repeat([0, 1, 2], 4), np.tile([0, 1, 2], 4)
    ari, p = ari_permutation_test(gold, [perfect, scrambled], n_permutations=999, seed=0)
    assert ari == pytest.approx((1.0 + adjusted_rand_score(gold, scrambled)) / 2)
    assert p < 0.05


def test_permutation_p_values_are_valid_under_the_null():
    rng = np.random.default_rng(0)
    pred = np.repeat(np.arange(5), 6)
    ps = np.array([ari_permutation_test(rng.permutation(pred), [pred], n_permutations=199,
                                        seed=i)[1] for i in range(300)])
    # ARI takes few values on 30 items, so the test is slightly conservative, never liberal.
    assert np.mean(ps <= 0.05) <= 0.08 and 0.3 < np.mean(ps <= 0.5) <= 0.55
    assert ps.min() >= 1 / 200


def test_permutation_test_of_an_unchangeable_ari():
    assert ari_permutation_test(list("abcd"), [[0, 1, 2, 3]], n_permutations=99) == (1.0, 1.0)


def test_bootstrap_interval_of_a_mean_matches_the_normal_approximation():
    values = np.arange(100.0)
    low, high = bootstrap_interval(lambda i: values[i].mean(), 100, n_bootstrap=2000, seed=0)
    half_width = 1.96 * values.std() / np.sqrt(100)
    assert low == pytest.approx(49.5 - half_width, abs=1.0)
    assert high == pytest.approx(49.5 + half_width, abs=1.0)
    assert bootstrap_interval(lambda i: values[i].mean(), 100, 50, seed=3) == \
        bootstrap_interval(lambda i: values[i].mean(), 100, 50, seed=3)


def test_hdbscan_noise_points_are_singletons():
    points = np.array([[0.0], [0.1], [0.2], [5.0], [5.1], [5.2], [100.0]])
    labels = hdbscan_labels(np.abs(points - points.T), min_cluster_size=2)
    assert labels[0] == labels[1] == labels[2] != labels[3] == labels[4] == labels[5]
    assert labels[6] not in labels[:6]


def test_mantel_matches_spearman_and_detects_shared_structure():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(15, 3))
    a = np.linalg.norm(points[:, None] - points[None], axis=-1)
    noisy = a + np.abs(rng.normal(scale=0.3, size=a.shape))
    noisy = (noisy + noisy.T) / 2
    np.fill_diagonal(noisy, 0)
    rho, p = mantel_test(a, noisy, n_permutations=999, seed=0)
    upper = np.triu_indices(15, 1)
    assert rho == pytest.approx(spearmanr(a[upper], noisy[upper])[0])
    assert p == pytest.approx(1 / 1000)
    assert mantel_test(a, a**2, n_permutations=99)[0] == pytest.approx(1.0)
    other = rng.normal(size=(15, 3))
    unrelated = np.linalg.norm(other[:, None] - other[None], axis=-1)
    assert mantel_test(a, unrelated, n_permutations=999, seed=0)[1] > 0.05


def test_mantel_rejects_mismatched_matrices():
    with pytest.raises(LanggeoError, match="square"):
        mantel_test(np.zeros((3, 3)), np.zeros((4, 4)))


def _planted_matrix(noise: float = 0.02, seed: int = 0):
    """4 branches of 5 languages in 2 families: within a branch 0.1, across branches of a
    family 0.5, across families 1.0."""
    branch = np.repeat(np.arange(4), 5)
    family = branch // 2
    d = np.where(branch[:, None] == branch[None], 0.1,
                 np.where(family[:, None] == family[None], 0.5, 1.0))
    jitter = np.random.default_rng(seed).uniform(0, noise, d.shape)
    d = d + (jitter + jitter.T) / 2
    np.fill_diagonal(d, 0)
    return d, {"family": [f"F{f}" for f in family], "branch": [f"B{b}" for b in branch]}


def test_protocol_finds_planted_structure_with_significance():
    d, labels = _planted_matrix()
    m = evaluate_distances(d, labels, kmeans_seeds=3, n_permutations=999, n_bootstrap=30)
    assert m["n_languages"] == 20 and m["branch/n_labels"] == 4 and m["family/n_labels"] == 2
    for level in ("family", "branch"):
        assert m[f"{level}/kmeans/ari_mean"] == pytest.approx(1.0)
        assert m[f"{level}/agglomerative/ari"] == pytest.approx(1.0)
        assert m[f"{level}/kmeans/ari_p"] < 0.01 and m[f"{level}/agglomerative/ari_p"] < 0.01
        assert m[f"{level}/kmeans/ari_ci_low"] > 0.9
        assert m[f"{level}/silhouette_latent"] > 0.3
        assert m[f"{level}/silhouette_distances"] > 0.3
    assert m["branch/hdbscan/ari"] == pytest.approx(1.0)
    assert m["branch/hdbscan/n_clusters"] == 4 and m["branch/hdbscan/noise_fraction"] == 0
    assert m["branch/hdbscan/ari_ci_low"] is None
    assert json.loads(json.dumps(m)) == m


def test_protocol_finds_no_structure_in_a_shuffled_geometry():
    d, labels = _planted_matrix()
    order = np.random.default_rng(1).permutation(20)
    m = evaluate_distances(d[np.ix_(order, order)], labels, kmeans_seeds=3, n_bootstrap=0)
    for level in ("family", "branch"):
        assert m[f"{level}/kmeans/ari_mean"] < 0.3
        assert m[f"{level}/kmeans/ari_p"] > 0.01 and m[f"{level}/agglomerative/ari_p"] > 0.01
    assert m["branch/kmeans/ari_ci_low"] is None and m["branch/kmeans/ari_ci_high"] is None


@pytest.mark.parametrize("bad, match", [
    (np.array([[0, 1, np.nan], [1, 0, 1], [np.nan, 1, 0]]), "finite"),
    (np.array([[0, 1, 2], [1, 0, 1], [3, 1, 0]]), "symmetric"),
    (np.zeros((2, 2)), "at least 3"),
])
def test_protocol_rejects_bad_matrices(bad, match):
    with pytest.raises(LanggeoError, match=match):
        evaluate_distances(bad, {"branch": list("abc")[:len(bad)]})


def test_protocol_rejects_labels_of_the_wrong_length():
    d, labels = _planted_matrix()
    with pytest.raises(LanggeoError, match="'branch' has 19 labels"):
        evaluate_distances(d, {"branch": labels["branch"][:19]}, n_bootstrap=0)


EVALUATE_IN_A_PROCESS = """
import hashlib, json
from langgeo.evaluation.baselines import uriel_distances
from langgeo.geometry.embedding import classical_mds
from langgeo.evaluation.protocol import evaluate_distances
from langgeo.data.labels import language_labels
from langgeo.params import load_params

labels = language_labels(load_params({params!r}).languages)
# Geographic distances are a BLAS product whose last bits follow the thread count.
d = uriel_distances("geographic", labels["iso639_3"].tolist()).distances
coords, _ = classical_mds(d)
metrics = evaluate_distances(d, {{"branch": labels["branch"].tolist()}}, n_bootstrap=5,
                             n_permutations=99)
print(json.dumps({{"distances": hashlib.sha256(d.tobytes()).hexdigest(),
                  "latent": hashlib.sha256(coords.tobytes()).hexdigest(),
                  "metrics": metrics}}, sort_keys=True))
"""


@pytest.mark.integration
def test_evaluation_is_the_same_bytes_whatever_the_thread_count():
    import os
    import subprocess
    import sys

    from tests.conftest import REPO_PARAMS

    outputs = []
    for threads in ("1", "2", "4"):
        env = {**os.environ, "OMP_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads}
        result = subprocess.run([sys.executable, "-c",
                                 EVALUATE_IN_A_PROCESS.format(params=str(REPO_PARAMS))],
                                env=env, capture_output=True, text=True, check=True)
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1] == outputs[2]
