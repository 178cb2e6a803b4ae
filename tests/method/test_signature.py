"""langgeo.method.signature: the method end to end against float64 references; bits rebuilt
from factor files; several calibration sizes from one pass."""


import numpy as np
import pytest
import torch

from langgeo import LanggeoError
from langgeo.formats.factor_file import read_factors
from langgeo.method.anatomy import block_linears, linear_weight
from langgeo.method.binarize import binarize
from langgeo.method.hessians import collect_hessians
from langgeo.method.importance import layer_scores
from langgeo.method.signature import bits_from_factors, model_identity
from tests.helpers.signatures import META, ids, signature_of, write_pass_factors


def test_languages_differ_but_magnitude_does_not(tiny_model):
    a = torch.randint(3, 150, (4, 16), generator=torch.Generator().manual_seed(0))
    b = torch.randint(150, 300, (4, 16), generator=torch.Generator().manual_seed(1))
    sa, sb = signature_of(tiny_model, a), signature_of(tiny_model, b)
    assert any((sa[m] != sb[m]).any() for m in sa)
    ma, mb = signature_of(tiny_model, a, "magnitude"), signature_of(tiny_model, b, "magnitude")
    assert all((ma[m] == mb[m]).all() for m in ma)


@pytest.mark.parametrize("score", ["sparsegpt", "obs", "wanda", "magnitude"])
def test_fast_path_matches_brute_force_end_to_end(tiny_model, score):
    """Shared Hessians, the reversed-Cholesky factors and the linear-time median against
    per-layer float64 Hessians, explicit inverses and a full sort."""
    from langgeo.method.anatomy import block_linears, linear_weight
    from tests.helpers.references import brute_force_hessians, reference_scores

    ids = torch.randint(3, 300, (6, 24), generator=torch.Generator().manual_seed(3))
    hessians = collect_hessians(tiny_model, ids.split(4))
    fast_scores = layer_scores(tiny_model, hessians, score, 0.01)
    fast_bits = binarize(fast_scores, "per_matrix")
    slow = brute_force_hessians(tiny_model, ids.split(4))
    for name, layer in block_linears(tiny_model).items():
        ref = reference_scores(linear_weight(layer).detach(), slow[name], score, 0.01,
                               ids.numel())
        torch.testing.assert_close(fast_scores[name].double(), ref, rtol=1e-3, atol=1e-10)
        order = np.argsort(-ref.numpy().reshape(-1), kind="stable")
        expected = np.zeros(ref.numel(), bool)
        expected[order[: ref.numel() // 2]] = True
        assert (fast_bits[name].reshape(-1) == expected).all(), name


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
    write_pass_factors(tmp_path / "fr.factors.parquet", tiny_model, hessians, score, 0.01, meta)

    back = bits_from_factors(tiny_model, tmp_path / "fr.factors.parquet")
    assert list(back) == list(bits)
    for module in bits:
        np.testing.assert_array_equal(back[module], bits[module])
    weights = {n: linear_weight(m).detach().numpy().copy()
               for n, m in block_linears(tiny_model).items()}
    from_arrays = bits_from_factors(weights, read_factors(tmp_path / "fr.factors.parquet"))
    assert all(np.array_equal(from_arrays[m], bits[m]) for m in bits)


def test_other_weights_are_refused(tmp_path):
    from tests.conftest import tiny_gemma3

    model = tiny_gemma3(0)
    hessians = collect_hessians(model, ids().split(2))
    write_pass_factors(tmp_path / "fr.factors.parquet", model, hessians, "sparsegpt", 0.01,
                  {**META, "score": "sparsegpt"})
    with pytest.raises(LanggeoError, match="not the ones the factors"):
        bits_from_factors(tiny_gemma3(1), tmp_path / "fr.factors.parquet")
    before = model_identity(model)
    with torch.no_grad():
        next(iter(block_linears(model).values())).weight[0, 0] += 1.0  # in place: not cached
    assert model_identity(model) != before
    with pytest.raises(LanggeoError, match="factor file .* not found; run `dvc pull`"):
        read_factors(tmp_path / "xx.factors.parquet")


def test_attribution_counts_from_factors_equal_those_from_bits(tiny_model, tmp_path):
    from langgeo.formats.signature_file import write_signature
    from langgeo.geometry.hamming import hamming_from_files
    from langgeo.method.signature import hamming_from_factor_files

    for k, lang in enumerate(["aa", "bb", "cc"]):
        hessians = collect_hessians(tiny_model, ids(seed=k).split(2))
        bits = binarize(layer_scores(tiny_model, hessians, "sparsegpt", 0.01), "per_matrix")
        meta = {**META, "language": lang, "score": "sparsegpt"}
        write_signature(tmp_path / f"{lang}.parquet", bits, meta)
        write_pass_factors(tmp_path / f"{lang}.factors.parquet", tiny_model, hessians, "sparsegpt",
                      0.01, meta)
    from_bits = hamming_from_files([tmp_path / f"{c}.parquet" for c in ["aa", "bb", "cc"]])
    from_factors = hamming_from_factor_files(
        [tmp_path / f"{c}.factors.parquet" for c in ["aa", "bb", "cc"]], tiny_model)
    assert list(from_factors.counts) == list(from_bits.counts) and len(from_bits.counts) > 3
    for key, counts in from_bits.counts.items():
        assert counts[0, 1] > 0
        np.testing.assert_array_equal(from_factors.counts[key], counts)
        assert from_factors.bits[key] == from_bits.bits[key]


@pytest.mark.parametrize("batch_size", [2, 3])
def test_several_sizes_from_one_pass_match_passes_of_their_own(tiny_model_dir, batch_size,
                                                                 one_thread):
    # batch 2: 256 and 512 tokens (2 and 4 sequences) share the pass of 1024; batch 3: their
    # batches differ from the longest's, so they get passes of their own. Same bits either way.
    from langgeo.data.sources import eld_documents
    from langgeo.method.models import load_model, load_tokenizer
    from langgeo.method.signature import compute, compute_sizes

    model, tokenizer = load_model(tiny_model_dir), load_tokenizer(tiny_model_dir)
    docs = eld_documents()["it"][:300]
    together = compute_sizes(model, tokenizer, docs, [1024, 256, 512], 128,
                               batch_size=batch_size)
    assert sorted(together) == [256, 512, 1024]
    for size, signature in together.items():
        alone = compute(model, tokenizer, docs, size, 128, batch_size=batch_size)
        assert signature.tokens == alone.tokens == size
        assert signature.factors.metadata == alone.factors.metadata
        assert signature.factors.factors.keys() == alone.factors.factors.keys()
        for h, want in alone.factors.factors.items():
            assert np.array_equal(signature.factors.factors[h], want)
        assert signature.bits.keys() == alone.bits.keys()
        assert all(np.array_equal(signature.bits[m], alone.bits[m]) for m in alone.bits)
    small, large = together[256].bits, together[1024].bits
    assert any(not np.array_equal(small[m], large[m]) for m in small)  # sizes do differ
    with pytest.raises(LanggeoError, match="no calibration size"):
        compute_sizes(model, tokenizer, docs, [], 128)
