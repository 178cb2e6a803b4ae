import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from langgeo import LanggeoError
from langgeo.calibration import collect_hessians
from langgeo.importance import layer_scores
from langgeo.signatures import (binarize, list_signatures, read_signature, top_half,
                                write_signature)


def test_top_half_is_exact_and_breaks_ties_by_index():
    assert top_half(np.zeros(6)).tolist() == [True, True, True, False, False, False]
    scores = np.array([5.0, 1.0, 3.0, 3.0, 3.0, 0.0, 9.0])
    mask = top_half(scores)
    assert mask.sum() == 3
    assert mask.tolist() == [True, False, True, False, False, False, True]


@pytest.mark.parametrize("shape", [(7, 5), (64, 33), (1, 1)])
def test_top_half_keeps_half_of_any_matrix(shape):
    scores = torch.randint(0, 4, shape).float()  # many ties
    assert top_half(scores).sum() == np.prod(shape) // 2


def signature_of(model, ids, score="sparsegpt", binarization="per_matrix"):
    hessians = collect_hessians(model, ids.split(2))
    return binarize(layer_scores(model, hessians, score, 0.01), binarization)


def test_per_matrix_and_global_medians(tiny_model):
    ids = torch.randint(3, 300, (4, 16), generator=torch.Generator().manual_seed(0))
    per_matrix = signature_of(tiny_model, ids)
    assert all(b.sum() == b.size // 2 for b in per_matrix.values())
    global_bits = signature_of(tiny_model, ids, binarization="global")
    total = sum(b.size for b in global_bits.values())
    assert sum(int(b.sum()) for b in global_bits.values()) == total // 2
    assert any(b.sum() != b.size // 2 for b in global_bits.values())


def test_languages_differ_but_magnitude_does_not(tiny_model):
    a = torch.randint(3, 150, (4, 16), generator=torch.Generator().manual_seed(0))
    b = torch.randint(150, 300, (4, 16), generator=torch.Generator().manual_seed(1))
    sa, sb = signature_of(tiny_model, a), signature_of(tiny_model, b)
    assert any((sa[m] != sb[m]).any() for m in sa)
    ma, mb = signature_of(tiny_model, a, "magnitude"), signature_of(tiny_model, b, "magnitude")
    assert all((ma[m] == mb[m]).all() for m in ma)


def test_file_round_trip_and_format(tiny_model, tmp_path):
    ids = torch.randint(3, 300, (4, 16), generator=torch.Generator().manual_seed(0))
    bits = signature_of(tiny_model, ids)
    meta = {"model": "tiny", "dataset": "d", "language": "fr"}
    write_signature(tmp_path / "fr.parquet", bits, meta)

    back = read_signature(tmp_path / "fr.parquet")
    assert back.metadata == meta and back.modules == list(bits)
    for name, mask in bits.items():
        assert (back.bits(name) == mask).all()

    # The documented format, read with pyarrow and numpy alone.
    table = pq.read_table(tmp_path / "fr.parquet")
    assert table.schema.names == ["module", "shape", "n_bits", "bits"]
    row = table.slice(0, 1).to_pylist()[0]
    raw = np.unpackbits(np.frombuffer(row["bits"], np.uint8), count=row["n_bits"])
    assert (raw.reshape(row["shape"]).astype(bool) == bits[row["module"]]).all()
    assert json.loads(table.schema.metadata[b"langgeo"])["language"] == "fr"
    listing = list_signatures(tmp_path)
    assert listing["language"].tolist() == ["fr"]


def test_same_inputs_give_byte_identical_files(tmp_path):
    from conftest import tiny_llama

    ids = torch.randint(3, 300, (4, 16), generator=torch.Generator().manual_seed(0))
    for name in ("a", "b"):
        write_signature(tmp_path / f"{name}.parquet", signature_of(tiny_llama(), ids), {"x": 1})
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()


def test_reading_a_foreign_file_is_a_clear_error(tmp_path):
    import pyarrow as pa

    pq.write_table(pa.table({"a": [1]}), tmp_path / "x.parquet")
    with pytest.raises(LanggeoError, match="not a langgeo signature file"):
        read_signature(tmp_path / "x.parquet")
    with pytest.raises(LanggeoError, match="not found"):
        read_signature(tmp_path / "missing.parquet")


@pytest.mark.parametrize("score", ["sparsegpt", "obs", "wanda", "magnitude"])
def test_fast_path_matches_brute_force_end_to_end(tiny_model, score):
    """Shared Hessians, the reversed-Cholesky factors and the linear-time median against
    per-layer float64 Hessians, explicit inverses and a full sort."""
    from test_calibration import brute_force_hessians
    from test_importance import reference_scores

    from langgeo.calibration import block_linears, linear_weight

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


def test_bfloat16_forward_keeps_fp32_hessians():
    from conftest import tiny_llama

    ids = torch.randint(3, 300, (4, 16), generator=torch.Generator().manual_seed(0))
    fp32 = collect_hessians(tiny_llama(), ids.split(2))
    bf16 = collect_hessians(tiny_llama().to(torch.bfloat16), ids.split(2))
    for name, h in bf16.hessian.items():
        assert h.dtype == torch.float32
        torch.testing.assert_close(h, fp32.hessian[name], rtol=0.05, atol=0.05)


def test_score_sample_uses_the_same_positions_for_every_language(tiny_model, tmp_path):
    from langgeo.signatures import read_scores, write_scores

    a = torch.randint(3, 150, (4, 16), generator=torch.Generator().manual_seed(0))
    b = torch.randint(150, 300, (4, 16), generator=torch.Generator().manual_seed(1))
    tables = []
    for name, ids in (("a", a), ("b", b)):
        scores = layer_scores(tiny_model, collect_hessians(tiny_model, ids.split(2)),
                              "sparsegpt", 0.01)
        write_scores(tmp_path / f"{name}.scores.parquet", scores, 500, 7, {"language": name})
        meta, table = read_scores(tmp_path / f"{name}.scores.parquet")
        assert meta["modules"] == list(scores) and len(table) == 500
        flat = torch.cat([s.reshape(-1) for s in scores.values()])
        assert np.array_equal(table["score"].to_numpy(), flat[table["position"]].numpy())
        bounds = np.cumsum([0] + [s.numel() for s in scores.values()])
        mi, pos = table["module_index"].to_numpy(), table["position"].to_numpy()
        assert ((bounds[mi] <= pos) & (pos < bounds[mi + 1])).all()
        tables.append(table)
    assert tables[0]["position"].equals(tables[1]["position"])
    assert not np.array_equal(tables[0]["score"], tables[1]["score"])
    assert list_signatures(tmp_path).empty  # score samples are not signatures
