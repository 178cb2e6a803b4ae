"""Pruning: SparseGPT against a float64 OBS reference, exact sparsity and n:m patterns,
Wanda and magnitude."""

import math

import numpy as np
import pytest
import torch

from langgeo import LanggeoError
from langgeo.method.anatomy import block_linears, decoder_stack, linear_weight, transformer_blocks
from langgeo.params import parse_pattern
from langgeo.studies.pruning import (block_weights, expected_pruned, measured_sparsity, prune_model,
                                     restore_weights, sparsegpt_prune)

DAMPING = 0.01


# Tiny matrices: on a busy 2-core machine the thread pool costs more than the work.
pytestmark = pytest.mark.usefixtures("one_thread")


def obs_reference(weight, hessian, pattern, block, damping=DAMPING):
    """SparseGPT as plain OBS in float64: for every column, the inverse of the damped Hessian
    restricted to it and the columns to its right, formed explicitly; no Cholesky trick, no
    lazy batching. Returns (weight, mask)."""
    w = weight.detach().double().clone()
    h = hessian.double().clone()
    torch.diagonal(h)[torch.diagonal(h) == 0] = 1.0
    h += damping * torch.diagonal(hessian.double()).mean() * torch.eye(h.shape[0],
                                                                       dtype=torch.float64)
    rows, cols = w.shape
    trailing = [torch.linalg.inv(h[j:, j:]) for j in range(cols)]
    saliency = lambda j: w[:, j].square() / trailing[j][0, 0]  # noqa: E731
    mask = torch.zeros_like(w, dtype=torch.bool)
    for i in range(cols):
        if pattern.nm is None and i % block == 0:
            stop = min(i + block, cols)
            scores = torch.stack([saliency(j) for j in range(i, stop)], dim=1)
            k = (math.floor(pattern.sparsity * rows * stop + 0.5)
                 - math.floor(pattern.sparsity * rows * i + 0.5))
            order = np.argsort(scores.numpy().reshape(-1), kind="stable")
            flat = torch.zeros(scores.numel(), dtype=torch.bool)
            flat[order[:k]] = True
            mask[:, i:stop] = flat.view(scores.shape)
        if pattern.nm is not None and i % pattern.nm[1] == 0:
            n, m = pattern.nm
            scores = torch.stack([saliency(j) for j in range(i, i + m)], dim=1)
            for r in range(rows):
                for j in np.argsort(scores[r].numpy(), kind="stable")[:m - n]:
                    mask[r, i + j] = True
        inv = trailing[i]
        pruned = mask[:, i]
        # OBS for each pruned weight of this column: the others to its right compensate.
        w[pruned, i:] -= torch.outer(w[pruned, i] / inv[0, 0], inv[0, :])
        w[pruned, i] = 0.0
    return w, mask


def random_hessian(n_rows, width, seed):
    g = torch.Generator().manual_seed(seed)
    # Correlated features, like real activations: a shared factor plus noise.
    x = torch.randn(n_rows, width, generator=g, dtype=torch.float64)
    x = x + 0.7 * torch.randn(n_rows, 1, generator=g, dtype=torch.float64)
    return x.T @ x / n_rows


@pytest.mark.parametrize("pattern,block", [(("unstructured", 0.5), 8), (("unstructured", 0.3), 5),
                                           (("2:4", 0.5), 8), (("4:8", 0.5), 16)])
def test_sparsegpt_matches_float64_obs(pattern, block):
    p = parse_pattern(pattern[1], pattern[0])
    g = torch.Generator().manual_seed(3)
    h = random_hessian(64, 24, 4)
    weights = [torch.randn(10, 24, generator=g, dtype=torch.float64),
               torch.randn(7, 24, generator=g, dtype=torch.float64)]
    ours = sparsegpt_prune(weights, h, p, block=block)
    for w, (new, mask) in zip(weights, ours):
        ref_w, ref_mask = obs_reference(w, h, p, block)
        assert torch.equal(mask, ref_mask)
        torch.testing.assert_close(new, ref_w, rtol=1e-9, atol=1e-10)
        assert int(mask.sum()) == expected_pruned(tuple(w.shape), p, "sparsegpt")
        assert not new[mask].any()
        # The update moves the kept weights: this is not plain masking.
        assert not torch.allclose(new[~mask], w[~mask])


def test_sparsegpt_in_fp32_is_close_to_float64():
    p = parse_pattern(0.5)
    h = random_hessian(64, 24, 5)
    w = torch.randn(12, 24, generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    (new32, mask32), = sparsegpt_prune([w.float()], h.float(), p, block=8)
    ref_w, ref_mask = obs_reference(w, h, p, 8)
    assert new32.dtype == torch.float32
    assert (mask32 != ref_mask).float().mean() < 0.02
    same = mask32 == ref_mask
    torch.testing.assert_close(new32.double()[same], ref_w[same], rtol=1e-3, atol=1e-3)


def sequential_reference(model, ids, pattern, block):
    """Block by block: run the whole (partly pruned) model, keep the float64 inputs of this
    block's linears, prune each with the OBS reference. Each layer its own Hessian."""
    linears = block_linears(model)
    name, blocks = transformer_blocks(model)
    masks = {}
    for b in range(len(blocks)):
        own = {n: m for n, m in linears.items() if n.startswith(f"{name}.{b}.")}
        inputs = {n: [] for n in own}
        handles = [m.register_forward_pre_hook(
            lambda mod, args, n=n: inputs[n].append(args[0].reshape(-1, args[0].shape[-1])))
            for n, m in own.items()]
        with torch.no_grad():
            decoder_stack(model)(input_ids=ids, use_cache=False)
        for handle in handles:
            handle.remove()
        for n, m in own.items():
            x = torch.cat(inputs[n])
            new, masks[n] = obs_reference(linear_weight(m), x.T @ x / x.shape[0], pattern, block)
            with torch.no_grad():
                m.weight.copy_(new.T if m.weight.shape != new.shape else new)
    return masks


@pytest.mark.parametrize("pattern", [("unstructured", 0.5), ("2:4", 0.5)])
def test_prune_model_is_sequential_sparsegpt(pattern):
    from tests.conftest import tiny_llama

    p = parse_pattern(pattern[1], pattern[0])
    # 256 tokens for input widths up to 48: well-conditioned Hessians.
    ids = torch.randint(3, 300, (8, 32), generator=torch.Generator().manual_seed(7))
    ours, ref = tiny_llama().double(), tiny_llama().double()
    result = prune_model(ours, list(ids.split(4)), "sparsegpt", p, block=16)
    ref_masks = sequential_reference(ref, ids, p, block=16)
    assert result.n_tokens == ids.numel() and result.layers == 2
    ref_linears = block_linears(ref)
    for name, module in block_linears(ours).items():
        assert torch.equal(result.masks[name], ref_masks[name]), name
        # Hessians accumulate in fp32 (langgeo.method.hessians) even for a float64 model, which
        # bounds the agreement here; the matrix-level test above is exact to 1e-9.
        torch.testing.assert_close(module.weight, ref_linears[name].weight, rtol=1e-4,
                                   atol=1e-5)
    assert result.sparsity == pytest.approx(p.target)


@pytest.mark.parametrize("method", ["sparsegpt", "wanda", "magnitude"])
@pytest.mark.parametrize("pattern", [("unstructured", 0.5), ("unstructured", 0.37),
                                     ("2:4", 0.5), ("4:8", 0.5)])
def test_exact_sparsity_and_nm_validity(tiny_model, method, pattern):
    p = parse_pattern(pattern[1], pattern[0])
    ids = torch.randint(3, 300, (4, 12), generator=torch.Generator().manual_seed(8))
    dense = block_weights(tiny_model)
    result = prune_model(tiny_model, list(ids.split(2)), method, p)
    linears = block_linears(tiny_model)
    for name, mask in result.masks.items():
        w = linear_weight(linears[name])
        assert mask.shape == w.shape
        assert int(mask.sum()) == expected_pruned(tuple(w.shape), p, method)
        assert not w[mask].any()
        if p.nm is not None:
            n, m = p.nm
            kept = (~mask).reshape(w.shape[0], -1, m).sum(-1)
            assert (kept == n).all(), name
        elif method == "wanda":
            assert (mask.sum(1) == round(p.sparsity * w.shape[1])).all()
    if pattern == ("unstructured", 0.5) or p.nm is not None:
        assert result.sparsity == p.target
    assert measured_sparsity(tiny_model) >= result.sparsity
    restore_weights(tiny_model, dense)
    assert measured_sparsity(tiny_model) == 0


def test_methods_differ_and_depend_on_the_data():
    from tests.conftest import tiny_llama

    p = parse_pattern(0.5)
    g = torch.Generator().manual_seed(9)
    a = torch.randint(3, 150, (2, 16), generator=g)
    b = torch.randint(150, 300, (2, 16), generator=g)
    masks = {}
    for method in ("sparsegpt", "wanda", "magnitude"):
        for tag, ids in (("a", a), ("b", b)):
            masks[method, tag] = prune_model(tiny_llama(), [ids], method, p).masks
    name = "model.layers.0.mlp.down_proj"
    assert torch.equal(masks["magnitude", "a"][name], masks["magnitude", "b"][name])
    assert not torch.equal(masks["wanda", "a"][name], masks["wanda", "b"][name])
    assert not torch.equal(masks["sparsegpt", "a"][name], masks["sparsegpt", "b"][name])
    assert not torch.equal(masks["sparsegpt", "a"][name], masks["wanda", "a"][name])


def test_nm_that_does_not_divide_the_width_is_refused():
    from tests.conftest import tiny_llama

    ids = torch.randint(3, 300, (2, 8), generator=torch.Generator().manual_seed(1))
    with pytest.raises(LanggeoError, match="divisible by 5"):
        prune_model(tiny_llama(), [ids], "wanda", parse_pattern(0.5, "2:5"))
    with pytest.raises(LanggeoError, match="divisible by 5"):
        prune_model(tiny_llama(), [], "magnitude", parse_pattern(0.5, "3:5"))


def test_bad_method_and_missing_data_are_refused():
    from tests.conftest import tiny_llama

    with pytest.raises(LanggeoError, match="choose one of"):
        prune_model(tiny_llama(), [], "random", parse_pattern(0.5))
    with pytest.raises(LanggeoError, match="needs calibration text"):
        prune_model(tiny_llama(), [], "sparsegpt", parse_pattern(0.5))
