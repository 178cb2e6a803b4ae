"""Continuous distances: L2 and cosine by hand and streamed, score quantiles, factor
distances against Hamming."""


import numpy as np
import pytest

from langgeo import LanggeoError
from langgeo.formats.factor_file import read_factors
from langgeo.geometry.continuous import cosine_distances, l2_distances
from tests.helpers.references import brute_force_hamming
from tests.helpers.signatures import language_factors


def test_l2_by_hand_and_streamed():
    scores = np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]])
    d = l2_distances(scores)
    assert d[0, 1] == pytest.approx(25 / 2) and d[0, 2] == pytest.approx(2 / 2)
    assert d[1, 2] == pytest.approx((4 + 9) / 2) and (np.diag(d) == 0).all()
    # Column blocks give the same as the whole; a large common offset does not matter.
    assert np.allclose(l2_distances(iter([scores[:, :1] + 1e9, scores[:, 1:]])), d)


def test_l2_on_bits_is_normalized_hamming():
    bits = np.random.default_rng(2).integers(0, 2, size=(4, 77)).astype(bool)
    expected = brute_force_hamming(bits) / 77
    assert np.allclose(l2_distances(bits.astype(float)), expected)


def test_cosine_by_hand():
    scores = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])
    d = cosine_distances(scores)
    assert d[0, 1] == pytest.approx(1) and d[0, 2] == pytest.approx(1 - 1 / np.sqrt(2))
    assert np.allclose(cosine_distances([scores[:, :1], scores[:, 1:]]), d)
    assert np.allclose(cosine_distances(scores * [[5], [1], [0.1]]), d)  # scale-free
    with pytest.raises(LanggeoError, match="all zero"):
        cosine_distances(np.array([[1.0, 0.0], [0.0, 0.0]]))


def test_continuous_bad_input():
    with pytest.raises(LanggeoError, match="same n_languages"):
        l2_distances([np.ones((3, 2)), np.ones((2, 2))])
    with pytest.raises(LanggeoError, match="NaN"):
        cosine_distances(np.array([[1.0, np.nan], [1.0, 0.0]]))


def test_score_quantiles_are_per_matrix_and_checked(tmp_path):
    import torch

    from langgeo.formats.score_file import write_scores
    from langgeo.geometry.continuous import score_quantiles_from_files

    gen = torch.Generator().manual_seed(0)
    # Matrix "b" is 1000x larger than "a": quantiles must put them on one scale.
    scores = [{"a": torch.rand(4, 5, generator=gen), "b": 1000 * torch.rand(6, 5, generator=gen)}
              for _ in range(3)]
    paths = []
    for i, s in enumerate(scores):
        paths.append(tmp_path / f"l{i}.scores.parquet")
        write_scores(paths[-1], s, 30, seed=1, metadata={"language": f"l{i}"})
    q = score_quantiles_from_files(paths)
    assert q.shape == (3, 30) and (q > 0).all() and (q < 1).all()
    from langgeo.formats.score_file import read_scores

    _, table = read_scores(paths[0])
    for m in (0, 1):
        take = (table["module_index"] == m).to_numpy()
        values = np.sort(q[0, take])
        np.testing.assert_allclose(values, (np.arange(take.sum()) + 0.5) / take.sum())
    write_scores(tmp_path / "other.scores.parquet", scores[0], 30, seed=2, metadata={})
    with pytest.raises(LanggeoError, match="other weights"):
        score_quantiles_from_files([paths[0], tmp_path / "other.scores.parquet"])


def test_factor_distances_track_hamming_and_ignore_scale(tmp_path):
    from langgeo.formats.signature_file import read_signature, write_signature
    from langgeo.geometry.continuous import (factor_distances, factor_distances_from_files,
                                             factor_features)
    from langgeo.geometry.hamming import hamming_from_signatures
    from tests.conftest import tiny_llama

    model = tiny_llama()
    # Two pairs of "languages": token sets drawn from two disjoint parts of the vocabulary.
    paths, bits = language_factors(model, tmp_path, [(0, 3, 100), (1, 3, 100),
                                                     (2, 200, 300), (3, 200, 300)])
    d = factor_distances_from_files(paths)
    assert d.shape == (4, 4) and np.allclose(d, d.T) and (np.diag(d) == 0).all()
    for i, b in enumerate(bits):
        write_signature(tmp_path / f"l{i}.parquet", b, {})
    hamming = hamming_from_signatures([read_signature(tmp_path / f"l{i}.parquet")
                                       for i in range(4)]).distances()[("all", "all")]
    for i, pair in enumerate([1, 0, 3, 2]):
        assert np.argsort(d[i])[1] == pair
    within, between = [(0, 1), (2, 3)], [(0, 2), (0, 3), (1, 2), (1, 3)]
    for m in (d, hamming):
        assert np.mean([m[p] for p in within]) < np.mean([m[p] for p in between])

    factors = [read_factors(p) for p in paths]
    features = factor_features(factors)
    brute = np.array([[np.mean((a - b) ** 2) for b in features] for a in features])
    np.testing.assert_allclose(d, brute, atol=1e-12)
    # One Hessian's factors scaled by a constant: same bits, so the same point.
    scaled = read_factors(paths[0])
    first = next(iter(scaled.factors))
    scaled.factors[first] = scaled.factors[first] * 7.0
    np.testing.assert_allclose(factor_distances(factor_features([scaled]), features)[0, 0], 0,
                               atol=1e-12)
