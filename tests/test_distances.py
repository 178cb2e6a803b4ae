import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from langgeo import LanggeoError
from langgeo.distances import (TOTAL, check_matrix, cosine_distances, distances_from_files,
                               ensemble, hamming_from_files, hamming_from_signatures, l2_distances,
                               module_groups, pairwise_hamming, read_matrix,
                               signature_distances, write_matrix)
from langgeo.signatures import Signature, signature_table, write_signature


def brute_force(bits):
    """Differing bits of every pair of bool rows, (n, m) -> (n, n)."""
    return (bits[:, None, :] != bits[None, :, :]).sum(axis=2)


def test_reading_signatures_and_distances_does_not_import_torch():
    # Every stage after `signatures` imports these; torch and transformers would add seconds.
    code = ("import sys, langgeo.distances, langgeo.embedding, langgeo.evaluation; "
            "print(sorted({'torch', 'transformers'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("bad, codes, match", [
    (np.zeros((2, 3)), None, r"must be square, got shape \(2, 3\)"),
    (np.zeros((3, 3)), ["a", "b"], r"shape \(3, 3\) but there are 2 language codes"),
    (np.zeros((2, 2)), ["a", "a"], "not distinct"),
    (np.array([[0, 1], [1, np.inf]]), None, "finite"),
    (np.array([[0, -1], [-1, 0]]), None, "non-negative"),
    (np.array([[1, 1], [1, 0]]), None, "zero diagonal"),
    (np.array([[0, 1], [2, 0]]), None, "symmetric"),
])
def test_check_matrix_names_the_problem_and_the_remedy(bad, codes, match):
    with pytest.raises(LanggeoError, match=match) as error:
        check_matrix(bad, codes, what="matrix X", hint="rerun Y")
    assert str(error.value).startswith("matrix X") and str(error.value).endswith("; rerun Y")
    ok = np.array([[0, 0.5], [0.5, 0]], dtype=np.float32)
    assert check_matrix(ok, ["a", "b"]).dtype == np.float64


def test_popcount_matches_brute_force_across_blocks():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, size=(5, 1003)).astype(bool)
    packed = np.stack([np.packbits(b) for b in bits])
    expected = brute_force(bits)
    for block in (3, 8, 1 << 20):  # blocks smaller than, equal to and larger than a word
        assert (pairwise_hamming(packed, block_bytes=block) == expected).all()


def test_popcount_sums_are_exact_at_their_limits():
    # 1023 words of all-different bits is the most a narrow (uint16) sum holds: 65,472.
    rows = np.zeros((3, 8184 * 2 + 5), np.uint8)
    rows[1] = 0xFF
    rows[2, ::2] = 0xFF
    expected = brute_force(np.unpackbits(rows, axis=1).astype(bool))
    assert (pairwise_hamming(rows) == expected).all()
    assert pairwise_hamming(rows)[0, 1] == rows.shape[1] * 8
    # Blocks wider than 1023 words take the int64 sum.
    assert (pairwise_hamming(rows, block_bytes=1 << 15) == expected).all()


def make_signature(language, masks):
    return Signature({"language": language}, list(masks),
                     {m: b.shape for m, b in masks.items()},
                     {m: np.packbits(b.reshape(-1)) for m, b in masks.items()})


def test_distances_are_normalized_over_all_matrices():
    a = make_signature("a", {"x": np.zeros((2, 4), bool), "y": np.zeros(3, bool)})
    b = make_signature("b", {"x": np.ones((2, 4), bool), "y": np.array([1, 0, 0], bool)})
    d = signature_distances([a, b])
    assert d[0, 1] == d[1, 0] == pytest.approx(9 / 11)
    assert d[0, 0] == 0


def test_mismatched_signatures_are_rejected():
    a = make_signature("a", {"x": np.zeros(8, bool)})
    b = make_signature("b", {"z": np.zeros(8, bool)})
    with pytest.raises(LanggeoError, match="different weight matrices"):
        signature_distances([a, b])


def test_matrix_round_trip(tmp_path):
    m = np.array([[0, 0.25], [0.25, 0]])
    write_matrix(tmp_path / "m.parquet", ["fr", "de"], m)
    codes, back = read_matrix(tmp_path / "m.parquet")
    assert codes == ["fr", "de"] and (back == m).all()


SHAPES = {"model.layers.0.self_attn.q_proj": (6, 5), "model.layers.0.mlp.up_proj": (4, 9),
          "model.layers.1.self_attn.q_proj": (6, 5), "model.layers.1.mlp.up_proj": (4, 9),
          "model.layers.1.mlp.down_proj": (9, 4), "model.norm_like": (13,)}


def random_masks(n, seed=0):
    rng = np.random.default_rng(seed)
    return [{m: rng.integers(0, 2, size=s).astype(bool) for m, s in SHAPES.items()}
            for _ in range(n)]


def flat(masks, modules=SHAPES):
    return np.stack([np.concatenate([m[k].reshape(-1) for k in modules]) for m in masks])


@pytest.mark.parametrize("row_group_per_matrix", [False, True])
def test_streamed_files_match_brute_force(tmp_path, row_group_per_matrix):
    """The writer's layout (a row group per matrix) and a single-row-group file, as earlier
    versions wrote, give the same exact counts."""
    masks = random_masks(5)
    paths = []
    for i, m in enumerate(masks):
        paths.append(tmp_path / f"l{i}.parquet")
        if row_group_per_matrix:
            write_signature(paths[-1], m, {"language": f"l{i}"})
        else:
            pq.write_table(signature_table(m, {"language": f"l{i}"}), paths[-1],
                           compression="none")
    assert pq.ParquetFile(paths[0]).num_row_groups == (len(SHAPES) if row_group_per_matrix
                                                         else 1)
    expected = brute_force(flat(masks))
    for block in (1, 3, 8, 1 << 20):
        for threads in (1, 2, 3):
            got = hamming_from_files(paths, block_bytes=block, threads=threads)
            assert (got.counts[TOTAL] == expected).all()
            assert got.bits[TOTAL] == sum(int(np.prod(s)) for s in SHAPES.values())
    assert np.allclose(distances_from_files(paths), expected / flat(masks).shape[1])


def test_groups_match_brute_force_and_sum_to_total():
    masks = random_masks(4, seed=1)
    got = hamming_from_signatures([make_signature(f"l{i}", m) for i, m in enumerate(masks)],
                                  block_bytes=2)
    layer1 = [m for m in SHAPES if ".layers.1." in m]
    assert (got.counts["layer", "1"] == brute_force(flat(masks, layer1))).all()
    assert got.bits["layer", "1"] == 30 + 36 + 36 and got.matrices["layer", "1"] == 3
    assert (got.counts["part", "attention"] == brute_force(flat(masks, [
        "model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.q_proj"]))).all()
    assert (got.counts["module", "mlp.down_proj"] == brute_force(flat(
        masks, ["model.layers.1.mlp.down_proj"]))).all()
    distances = got.distances()
    for family in ("layer", "part", "module"):
        keys = [k for k in got.counts if k[0] == family]
        assert sum(got.bits[k] for k in keys) == got.bits[TOTAL]
        weighted = sum(got.bits[k] * distances[k] for k in keys) / got.bits[TOTAL]
        assert np.allclose(weighted, distances[TOTAL])
    assert [k[1] for k in got.counts if k[0] == "layer"] == ["0", "1", "none"]
    summary = got.summary()
    assert np.allclose(summary.groupby("family")["share"].sum(), 1)
    row = summary.set_index(["family", "group"]).loc[("all", "all")]
    assert row["corr_total"] == pytest.approx(1)
    assert row["mean"] == pytest.approx(distances[TOTAL][np.triu_indices(4, 1)].mean())


def test_total_only_has_no_groups():
    masks = random_masks(3)
    got = hamming_from_signatures([make_signature(f"l{i}", m) for i, m in enumerate(masks)],
                                  group_by=None)
    assert list(got.counts) == [TOTAL] and got.matrices[TOTAL] == len(SHAPES)


def test_module_group_rule():
    assert module_groups("model.layers.12.self_attn.o_proj") == {
        "layer": "12", "part": "attention", "module": "self_attn.o_proj"}
    assert module_groups("model.layers.0.mlp.gate_proj") == {
        "layer": "0", "part": "mlp", "module": "mlp.gate_proj"}
    # GPT-2: c_proj exists in both parts, so the module key keeps the part.
    assert module_groups("transformer.h.3.attn.c_proj")["module"] == "attn.c_proj"
    assert module_groups("transformer.h.3.mlp.c_proj")["part"] == "mlp"
    assert module_groups("gpt_neox.layers.2.attention.query_key_value")["part"] == "attention"
    # Only the first integer is the block index; expert numbers stay in the module key.
    assert module_groups("model.layers.1.block_sparse_moe.experts.7.w1") == {
        "layer": "1", "part": "mlp", "module": "block_sparse_moe.experts.7.w1"}
    assert module_groups("lm_head") == {"layer": "none", "part": "other", "module": "lm_head"}


def test_file_errors(tmp_path):
    masks = random_masks(2)
    write_signature(tmp_path / "a.parquet", masks[0], {"language": "a"})
    write_signature(tmp_path / "b.parquet", {k: v for k, v in list(masks[1].items())[:-1]},
                    {"language": "b"})
    with pytest.raises(LanggeoError, match="different weight matrices"):
        hamming_from_files([tmp_path / "a.parquet", tmp_path / "b.parquet"])
    with pytest.raises(LanggeoError, match="not found"):
        hamming_from_files([tmp_path / "a.parquet", tmp_path / "c.parquet"])
    write_matrix(tmp_path / "m.parquet", ["a"], np.zeros((1, 1)))
    with pytest.raises(LanggeoError, match="not a langgeo signature"):
        hamming_from_files([tmp_path / "m.parquet"])
    table = signature_table({"x": np.zeros(16, bool)}, {"language": "d"})
    damaged = table.set_column(3, "bits", pa.array([b"\x00"], pa.binary()))
    pq.write_table(damaged, tmp_path / "d.parquet")
    with pytest.raises(LanggeoError, match="row 0 holds 1 bytes of bits, expected 2"):
        hamming_from_files([tmp_path / "d.parquet", tmp_path / "d.parquet"])


def test_l2_by_hand_and_streamed():
    scores = np.array([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]])
    d = l2_distances(scores)
    assert d[0, 1] == pytest.approx(25 / 2) and d[0, 2] == pytest.approx(2 / 2)
    assert d[1, 2] == pytest.approx((4 + 9) / 2) and (np.diag(d) == 0).all()
    # Column blocks give the same as the whole; a large common offset does not matter.
    assert np.allclose(l2_distances(iter([scores[:, :1] + 1e9, scores[:, 1:]])), d)


def test_l2_on_bits_is_normalized_hamming():
    bits = np.random.default_rng(2).integers(0, 2, size=(4, 77)).astype(bool)
    expected = brute_force(bits) / 77
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


def test_ensemble_normalizes_and_averages_over_covering_pairs():
    # Mean off-diagonal distances: A 0.2, B 0.4, C 0.8.
    a = (["a", "b", "c"], np.array([[0, .1, .3], [.1, 0, .2], [.3, .2, 0]]))
    b = (["b", "c", "d"], np.array([[0, .6, .2], [.6, 0, .4], [.2, .4, 0]]))
    c = (["d", "a"], np.array([[0, .8], [.8, 0]]))
    with pytest.raises(LanggeoError, match="1 language pairs.*a-d"):
        ensemble([a, b])
    codes, d, coverage = ensemble([a, b, c])
    assert codes == ["a", "b", "c", "d"]
    scale = (0.2 + 0.4 + 0.8) / 3
    # b-c is in A and B: mean of 0.2/0.2 and 0.6/0.4, back in the inputs' units.
    assert d[1, 2] == d[2, 1] == pytest.approx((1 + 1.5) / 2 * scale)
    assert d[0, 1] == pytest.approx(0.1 / 0.2 * scale)   # only in A
    assert d[2, 3] == pytest.approx(0.4 / 0.4 * scale)   # only in B
    assert d[0, 3] == pytest.approx(1 * scale)           # only in C
    assert (np.diag(d) == 0).all() and np.allclose(d, d.T)
    assert coverage.tolist() == [[2, 1, 1, 1], [1, 2, 2, 1], [1, 2, 2, 1], [1, 1, 1, 2]]
    _, plain, _ = ensemble([a, b, c], normalize=False)
    assert plain[1, 2] == pytest.approx(0.4) and plain[0, 3] == pytest.approx(0.8)


def test_ensemble_of_one_or_equal_levels_is_the_plain_mean():
    m = np.array([[0, .2, .4], [.2, 0, .3], [.4, .3, 0]])
    codes, d, _ = ensemble([(["x", "y", "z"], m)])
    assert codes == ["x", "y", "z"] and np.allclose(d, m)
    # Same languages in another order, same level: plain mean after aligning.
    perm = [2, 0, 1]
    _, d2, cov = ensemble([(["x", "y", "z"], m), (["z", "x", "y"], m[np.ix_(perm, perm)])])
    assert np.allclose(d2, m) and (cov == 2).all()


def test_ensemble_errors():
    ok = (["a", "b"], np.array([[0, .5], [.5, 0]]))
    with pytest.raises(LanggeoError, match="1 language pairs.*a-c"):
        ensemble([ok, (["c", "b"], np.array([[0, .5], [.5, 0]]))])
    with pytest.raises(LanggeoError, match="no positive"):
        ensemble([ok, (["a", "b"], np.zeros((2, 2)))])
    with pytest.raises(LanggeoError, match="symmetric"):
        ensemble([(["a", "b"], np.array([[0, .5], [.4, 0]]))])
    with pytest.raises(LanggeoError, match="distinct"):
        ensemble([(["a", "a"], np.zeros((2, 2)))])


def test_score_quantiles_are_per_matrix_and_checked(tmp_path):
    import torch

    from langgeo.distances import score_quantiles_from_files
    from langgeo.signatures import write_scores

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
    from langgeo.signatures import read_scores

    _, table = read_scores(paths[0])
    for m in (0, 1):
        take = (table["module_index"] == m).to_numpy()
        values = np.sort(q[0, take])
        np.testing.assert_allclose(values, (np.arange(take.sum()) + 0.5) / take.sum())
    write_scores(tmp_path / "other.scores.parquet", scores[0], 30, seed=2, metadata={})
    with pytest.raises(LanggeoError, match="other weights"):
        score_quantiles_from_files([paths[0], tmp_path / "other.scores.parquet"])


def test_ensemble_of_one_matrix_is_that_matrix_bit_for_bit():
    rng = np.random.default_rng(3)
    x = rng.random((6, 6))
    m = (x + x.T) / 2
    np.fill_diagonal(m, 0)
    codes, out, coverage = ensemble([(list("abcdef"), m)])
    assert codes == list("abcdef") and np.array_equal(out, m) and (coverage == 1).all()
