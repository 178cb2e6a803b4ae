"""Factor files: one row per Hessian, readable with pyarrow alone."""

import json

import numpy as np
import pyarrow.parquet as pq

from langgeo.method.hessians import collect_hessians
from langgeo.method.importance import layer_factors
from tests.helpers.signatures import META, ids, write_pass_factors


def test_file_is_readable_with_pyarrow_alone(tmp_path):
    from tests.conftest import tiny_llama

    model = tiny_llama()
    hessians = collect_hessians(model, ids().split(2))
    write_pass_factors(tmp_path / "fr.factors.parquet", model, hessians, "sparsegpt", 0.01,
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
