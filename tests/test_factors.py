"""Factor files: the bits rebuilt from column factors and weights are the stage's bits."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from langgeo import LanggeoError
from langgeo.calibration import block_linears, collect_hessians, linear_weight
from langgeo.factors import model_identity, read_factors, write_factors
from langgeo.importance import layer_factors, layer_scores
from langgeo.signatures import binarize, bits_from_factors

META = {"model": "tiny", "dataset": "d", "language": "fr", "binarization": "per_matrix"}


def ids(seed=0, low=3, high=300):
    return torch.randint(low, high, (4, 16), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("binarization", ["per_matrix", "global"])
@pytest.mark.parametrize("score", ["sparsegpt", "obs", "wanda", "magnitude"])
def test_bits_from_factors_are_exact(tiny_model, score, binarization, tmp_path):
    with torch.no_grad():
        # Equal weights in whole columns make many scores tie at the median: the rebuilt bits
        # must break those ties the same way.
        first, w = next(iter(block_linears(tiny_model).items()))
        linear_weight(w)[1:] = 0.5  # rows of ties: k is then no multiple of a column
    hessians = collect_hessians(tiny_model, ids().split(2))
    scores = layer_scores(tiny_model, hessians, score, 0.01)
    bits = binarize(scores, binarization)
    if binarization == "per_matrix":
        s, b = scores[first].numpy(), bits[first]
        tied = s == s[b].min()
        assert b[tied].any() and not b[tied].all()  # the threshold's ties are split
    meta = {**META, "score": score, "binarization": binarization}
    write_factors(tmp_path / "fr.factors.parquet", tiny_model, hessians, score, 0.01, meta)

    back = bits_from_factors(tiny_model, tmp_path / "fr.factors.parquet")
    assert list(back) == list(bits)
    for module in bits:
        np.testing.assert_array_equal(back[module], bits[module])
    weights = {n: linear_weight(m).detach().numpy().copy()
               for n, m in block_linears(tiny_model).items()}
    from_arrays = bits_from_factors(weights, read_factors(tmp_path / "fr.factors.parquet"))
    assert all(np.array_equal(from_arrays[m], bits[m]) for m in bits)


def test_file_is_readable_with_pyarrow_alone(tmp_path):
    from conftest import tiny_llama

    model = tiny_llama()
    hessians = collect_hessians(model, ids().split(2))
    write_factors(tmp_path / "fr.factors.parquet", model, hessians, "sparsegpt", 0.01,
                  {**META, "score": "sparsegpt"})
    table = pq.read_table(tmp_path / "fr.factors.parquet")
    meta = json.loads(table.schema.metadata[b"langgeo_factors"])
    assert meta["language"] == "fr" and meta["model_identity"].startswith("sha256:")
    rows = table.to_pylist()
    # Llama shares q/k/v and gate/up inputs: 4 Hessians per block, 7 modules.
    assert len(rows) == 8 and sum(len(r["modules"]) for r in rows) == 14
    assert rows[0]["modules"] == ["model.layers.0.self_attn.q_proj",
                                  "model.layers.0.self_attn.k_proj",
                                  "model.layers.0.self_attn.v_proj"]
    expected = layer_factors(model, hessians, "sparsegpt", 0.01)
    for row in rows:
        np.testing.assert_array_equal(np.asarray(row["factors"], np.float32),
                                      expected[row["hessian"]].numpy())


def test_other_weights_are_refused(tmp_path):
    from conftest import tiny_gemma3

    model = tiny_gemma3(0)
    hessians = collect_hessians(model, ids().split(2))
    write_factors(tmp_path / "fr.factors.parquet", model, hessians, "sparsegpt", 0.01,
                  {**META, "score": "sparsegpt"})
    with pytest.raises(LanggeoError, match="not the ones the factors"):
        bits_from_factors(tiny_gemma3(1), tmp_path / "fr.factors.parquet")
    before = model_identity(model)
    with torch.no_grad():
        next(iter(block_linears(model).values())).weight[0, 0] += 1.0  # in place: not cached
    assert model_identity(model) != before
    with pytest.raises(LanggeoError, match="factor file .* not found; run `dvc pull`"):
        read_factors(tmp_path / "xx.factors.parquet")


def language_factors(model, tmp_path, seeds_and_ranges, score="sparsegpt"):
    paths, bits = [], []
    for i, (seed, low, high) in enumerate(seeds_and_ranges):
        hessians = collect_hessians(model, ids(seed, low, high).split(2))
        bits.append(binarize(layer_scores(model, hessians, score, 0.01), "per_matrix"))
        paths.append(tmp_path / f"l{i}.factors.parquet")
        write_factors(paths[-1], model, hessians, score, 0.01,
                      {**META, "language": f"l{i}", "score": score})
    return paths, bits


def test_factor_distances_track_hamming_and_ignore_scale(tmp_path):
    from conftest import tiny_llama
    from langgeo.distances import (factor_distances, factor_distances_from_files,
                                   factor_features, hamming_from_signatures)
    from langgeo.signatures import read_signature, write_signature

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


def test_hamming_to_files_matches_the_stage_matrix(tmp_path):
    from langgeo.distances import distances_from_files, hamming_to_files
    from langgeo.signatures import write_signature

    rng = np.random.default_rng(0)
    shapes = {"a": (5, 7), "b": (3, 11)}
    signatures = [{m: rng.random(s) < 0.5 for m, s in shapes.items()} for _ in range(4)]
    paths = []
    for i, bits in enumerate(signatures):
        paths.append(tmp_path / f"l{i}.parquet")
        write_signature(paths[-1], bits, {})
    matrix = distances_from_files(paths)
    np.testing.assert_array_equal(hamming_to_files(signatures[:2], paths), matrix[:2])
    with pytest.raises(LanggeoError, match="other weight matrices"):
        hamming_to_files([{"a": signatures[0]["a"]}], paths[1:])


def test_attribution_counts_from_factors_equal_those_from_bits(tiny_model, tmp_path):
    from langgeo.distances import hamming_from_factor_files, hamming_from_files
    from langgeo.signatures import write_signature

    for k, lang in enumerate(["aa", "bb", "cc"]):
        hessians = collect_hessians(tiny_model, ids(seed=k).split(2))
        bits = binarize(layer_scores(tiny_model, hessians, "sparsegpt", 0.01), "per_matrix")
        meta = {**META, "language": lang, "score": "sparsegpt"}
        write_signature(tmp_path / f"{lang}.parquet", bits, meta)
        write_factors(tmp_path / f"{lang}.factors.parquet", tiny_model, hessians, "sparsegpt",
                      0.01, meta)
    from_bits = hamming_from_files([tmp_path / f"{c}.parquet" for c in ["aa", "bb", "cc"]])
    from_factors = hamming_from_factor_files(
        [tmp_path / f"{c}.factors.parquet" for c in ["aa", "bb", "cc"]], tiny_model)
    assert list(from_factors.counts) == list(from_bits.counts) and len(from_bits.counts) > 3
    for key, counts in from_bits.counts.items():
        assert counts[0, 1] > 0
        np.testing.assert_array_equal(from_factors.counts[key], counts)
        assert from_factors.bits[key] == from_bits.bits[key]
