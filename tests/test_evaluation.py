import numpy as np
import pytest

from langgeo.evaluation import evaluate_kmeans, purity


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
