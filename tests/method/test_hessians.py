"""langgeo.method.hessians: the Hessians of a calibration pass, shared by the layers that
read one input, against one float64 XᵀX per layer."""


import pytest
import torch

from langgeo.method.hessians import add_gram_upper, collect_hessians, symmetric_from_upper
from tests.helpers.references import brute_force_hessians


def test_hessians_match_brute_force(tiny_model):
    ids = torch.randint(3, 300, (6, 24), generator=torch.Generator().manual_seed(1))
    fast = collect_hessians(tiny_model, ids.split(4))
    slow = brute_force_hessians(tiny_model, ids.split(4))
    assert fast.n_tokens == ids.numel()
    for name, leader in fast.leader_of.items():
        torch.testing.assert_close(fast.hessian[leader].double(), slow[name],
                                   rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("block", [1, 5, 13, 64])
def test_upper_triangle_gram_gives_the_full_product(block):
    x = torch.randn(30, 13, generator=torch.Generator().manual_seed(2))
    acc = torch.zeros(13, 13)
    add_gram_upper(acc, x[:17], block)
    add_gram_upper(acc, x[17:], block)
    torch.testing.assert_close(symmetric_from_upper(acc), x.T @ x, rtol=1e-5, atol=1e-5)


def test_shared_inputs_are_found_from_the_forward():
    from tests.conftest import tiny_gemma3, tiny_gpt2, tiny_llama

    for model in (tiny_llama(), tiny_gemma3()):
        ids = torch.randint(3, 300, (2, 16), generator=torch.Generator().manual_seed(2))
        leader_of = collect_hessians(model, [ids]).leader_of
        for block in ("model.layers.0", "model.layers.1"):
            attn, mlp = f"{block}.self_attn", f"{block}.mlp"
            assert (leader_of[f"{attn}.k_proj"] == leader_of[f"{attn}.v_proj"]
                    == f"{attn}.q_proj")
            assert leader_of[f"{mlp}.up_proj"] == f"{mlp}.gate_proj"
            assert leader_of[f"{attn}.o_proj"] == f"{attn}.o_proj"
            assert leader_of[f"{mlp}.down_proj"] == f"{mlp}.down_proj"
        assert len(set(leader_of.values())) == 2 * 4
    # GPT-2 fuses q/k/v into one layer: every layer has its own input.
    leader_of = collect_hessians(tiny_gpt2(), [torch.randint(3, 300, (2, 16))]).leader_of
    assert all(name == leader for name, leader in leader_of.items())


def test_non_finite_activations_name_the_layer():
    from tests.conftest import tiny_llama

    model = tiny_llama()
    with torch.no_grad():
        model.model.layers[1].mlp.up_proj.weight[0, 0] = float("nan")
    with pytest.raises(Exception, match="model.layers.1.mlp.down_proj"):
        collect_hessians(model, [torch.randint(3, 300, (1, 8))])


def test_bfloat16_forward_keeps_fp32_hessians():
    from tests.conftest import tiny_llama

    ids = torch.randint(3, 300, (4, 16), generator=torch.Generator().manual_seed(0))
    fp32 = collect_hessians(tiny_llama(), ids.split(2))
    bf16 = collect_hessians(tiny_llama().to(torch.bfloat16), ids.split(2))
    for name, h in bf16.hessian.items():
        assert h.dtype == torch.float32
        torch.testing.assert_close(h, fp32.hessian[name], rtol=0.05, atol=0.05)
