"""langgeo.method.flops: the counts benchmarks/paper_cost.py builds the paper-scale cost on, against
hand formulas and against the real pass, so that they cannot drift silently."""

from __future__ import annotations

import pytest
import torch

from langgeo.method.flops import cholesky_diagonal_flops, count_config, count_flops, count_pass
from langgeo.method.hessians import collect_hessians
from langgeo.method.importance import cholesky_diagonal, layer_factors
from tests.conftest import tiny_llama


def test_count_from_config_is_the_hand_formula(one_thread):
    config = tiny_llama().config  # hidden 32, intermediate 48, 2 layers, 4 heads of 8, 2 KV heads
    seq_len, d, inter, layers, heads = 64, 32, 48, 2, 4
    head_dim = d // heads
    kv = config.num_key_value_heads * head_dim
    count = count_config(config, seq_len)

    shapes = [(d, d), (kv, d), (kv, d), (d, d), (inter, d), (inter, d), (d, inter)] * layers
    assert count.linear_shapes == shapes
    # One Hessian per distinct input: q/k/v share one, gate/up another.
    assert count.hessian_widths == [d, d, d, inter] * layers
    weights = sum(o * i for o, i in shapes)
    # Per token: 2 FLOP per weight; QKᵀ and AV over the whole sequence for every head.
    assert count.forward == seq_len * (2 * weights + layers * 2 * 2 * heads * head_dim * seq_len)
    # Widths under the Gram block (256): one product each, 2 · rows · d².
    assert count.gram == seq_len * 2 * layers * (3 * d * d + inter * inter)
    assert count.parameters == sum(p.numel() for p in tiny_llama().parameters())


def test_count_from_config_equals_the_real_pass(one_thread):
    model = tiny_llama()
    ids = torch.randint(0, model.config.vocab_size, (2, 64))
    real, _ = count_flops(lambda: layer_factors(model, collect_hessians(model, ids.split(1)),
                                                "sparsegpt", 0.01))
    count = count_config(model.config, 64)
    assert real == (count.forward + count.gram) * 2 + count.factorization
    assert count_pass(model, ids).hessian_widths == count.hessian_widths


@pytest.mark.parametrize("n", [48, 256, 600])
def test_cholesky_formula_counts_the_blocked_loop(n, one_thread):
    a = torch.randn(n, 2 * n)
    h = a @ a.T
    real, _ = count_flops(lambda: cholesky_diagonal(h))
    assert real == cholesky_diagonal_flops(n)
