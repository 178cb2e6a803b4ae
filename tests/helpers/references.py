"""Slow and obviously right: the references the fast code is checked against (float64,
every input kept, explicit inverses, every pair of bits compared)."""

import torch

from langgeo.method.anatomy import block_linears


def brute_force_hamming(bits):
    """Differing bits of every pair of bool rows, (n, m) -> (n, n)."""
    return (bits[:, None, :] != bits[None, :, :]).sum(axis=2)


def brute_force_hessians(model, batches):
    """One hook and one float64 XᵀX per layer, every input kept: slow and obviously right."""
    linears = block_linears(model)
    inputs = {name: [] for name in linears}
    handles = [m.register_forward_pre_hook(
        lambda mod, args, name=name: inputs[name].append(args[0].detach().reshape(
            -1, args[0].shape[-1]).double())) for name, m in linears.items()]
    with torch.no_grad():
        for ids in batches:
            model(input_ids=ids)  # the full model, LM head included
    for h in handles:
        h.remove()
    out = {}
    for name, xs in inputs.items():
        x = torch.cat(xs)
        out[name] = x.T @ x / x.shape[0]
    return out


def reference_scores(w, h, score, damping, n_tokens=40):
    """Textbook formulas in float64: explicit inverse, then SparseGPT's upper Cholesky."""
    w, h = w.double(), h.double().clone()
    dead = torch.diagonal(h) == 0
    if score == "magnitude":
        return w.abs()
    if score == "wanda":
        return w.abs() * torch.sqrt(torch.diagonal(h) * n_tokens)
    h[dead, dead] = 1
    h += damping * torch.diagonal(h).mean() * torch.eye(h.shape[0], dtype=h.dtype)
    inv = torch.linalg.inv(h)
    if score == "obs":
        s = w**2 / torch.diagonal(inv)
    else:
        s = w**2 / torch.diagonal(torch.linalg.cholesky(inv, upper=True)) ** 2
    s[:, dead] = 0
    return s
