"""Hamming distances of signatures: popcount against brute force, in blocks, streamed
from files and by group of weight matrices; damaged or mismatched files refused."""

import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from langgeo import LanggeoError
from langgeo.formats.matrix_file import write_matrix
from langgeo.formats.signature_file import Signature, signature_table, write_signature
from langgeo.geometry.hamming import (TOTAL, distances_from_files, hamming_from_files,
                                      hamming_from_signatures, module_groups, pairwise_hamming,
                                      signature_distances)
from tests.helpers.references import brute_force_hamming


def test_reading_signatures_and_distances_does_not_import_torch():
    # Every stage after `signatures` imports these; torch and transformers would add seconds.
    code = ("import sys, langgeo.geometry.hamming, langgeo.geometry.embedding, "
            "langgeo.evaluation.protocol; "
            "print(sorted({'torch', 'transformers'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_popcount_matches_brute_force_across_blocks():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, size=(5, 1003)).astype(bool)
    packed = np.stack([np.packbits(b) for b in bits])
    expected = brute_force_hamming(bits)
    for block in (3, 8, 1 << 20):  # blocks smaller than, equal to and larger than a word
        assert (pairwise_hamming(packed, block_bytes=block) == expected).all()


def test_popcount_sums_are_exact_at_their_limits():
    # 1023 words of all-different bits is the most a narrow (uint16) sum holds: 65,472.
    rows = np.zeros((3, 8184 * 2 + 5), np.uint8)
    rows[1] = 0xFF
    rows[2, ::2] = 0xFF
    expected = brute_force_hamming(np.unpackbits(rows, axis=1).astype(bool))
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
    expected = brute_force_hamming(flat(masks))
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
    assert (got.counts["layer", "1"] == brute_force_hamming(flat(masks, layer1))).all()
    assert got.bits["layer", "1"] == 30 + 36 + 36 and got.matrices["layer", "1"] == 3
    assert (got.counts["part", "attention"] == brute_force_hamming(flat(masks, [
        "model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.q_proj"]))).all()
    assert (got.counts["module", "mlp.down_proj"] == brute_force_hamming(flat(
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


def test_hamming_to_files_matches_the_stage_matrix(tmp_path):
    from langgeo.formats.signature_file import write_signature
    from langgeo.geometry.hamming import distances_from_files, hamming_to_files

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
