"""Pruning the linear layers of the transformer blocks with calibration text of one language.

Three methods, each choosing a boolean mask (True = pruned, the weight set to 0) per weight
matrix ``W`` of shape ``(out, in)``:

- ``sparsegpt`` (Frantar & Alistarh, 2023): columns are pruned left to right and the error of
  each pruned weight is compensated on the columns to its right by the Optimal Brain Surgeon
  update, with ``U`` the upper Cholesky factor of ``(H + λI)⁻¹`` and
  ``λ = damping · mean(diag H)``. The mask is chosen per block of ``block`` columns on the
  weights as already updated by the blocks before it, ranking ``W² / U_jj²``; n:m groups are
  chosen column group by column group on the updated weights.
- ``wanda`` (Sun et al., 2023): ``|W_ij| · ‖X_j‖₂`` ranked within each output row; no update.
- ``magnitude``: ``|W|`` ranked over the whole matrix; no data.

Patterns: ``unstructured`` prunes exactly ``round(sparsity · size)`` weights per matrix
(SparseGPT: per block, with the per-block counts rounded cumulatively so that they add up to
that number; Wanda: ``round(sparsity · in)`` per row); ``"n:m"`` keeps ``n`` of every ``m``
consecutive weights of a row (prunes ``m − n``), whatever ``sparsity`` says.

The data-aware methods run sequentially over the transformer blocks, as the SparseGPT
reference does: the Hessians ``H = XᵀX / n`` of block ``i`` come from running the calibration
text through blocks ``0 … i − 1`` *already pruned*; all linear layers of one block see the
block's dense inputs. Layers that read one input tensor (q/k/v, gate/up) share one Hessian
(found as in :mod:`langgeo.method.hessians`), and SparseGPT processes them in one column sweep
(the update is independent per row; masks are still chosen per matrix).

An input feature that never activates (``H_jj = 0``) gets ``H_jj = 1`` for the factorization,
which leaves the other columns exact; its weights score 0 and are pruned first. Unlike the
reference we do not zero such weights outside the mask, so the sparsity stays exact.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D

from langgeo import LanggeoError
from langgeo.method.anatomy import (
    block_linears,
    decoder_stack,
    linear_weight,
    transformer_blocks,
)
from langgeo.method.hessians import Collector, symmetric_from_upper
from langgeo.method.importance import damped
from langgeo.params import PRUNING_METHODS as METHODS
from langgeo.params import Pattern

BLOCK = 128
DAMPING = 0.01


def _check_width(pattern: Pattern, width: int, name: str) -> None:
    if pattern.nm is not None and width % pattern.nm[1]:
        raise LanggeoError(f"layer {name}: pattern {pattern.name} needs an input width "
                           f"divisible by {pattern.nm[1]}, but it is {width}; choose another "
                           "n:m or 'unstructured'")


def expected_pruned(shape: tuple[int, int], pattern: Pattern, method: str) -> int:
    """How many weights of a ``(out, in)`` matrix ``method`` prunes under ``pattern``."""
    rows, cols = shape
    if pattern.nm is not None:
        n, m = pattern.nm
        return rows * (cols // m) * (m - n)
    if method == "wanda":
        return rows * _rounded(pattern.sparsity * cols)
    return _rounded(pattern.sparsity * rows * cols)


def _rounded(x: float) -> int:
    # Half up, not Python's half-to-even, so that the count is what the docs say.
    return int(math.floor(x + 0.5))


def _lowest(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Mask of the ``k`` lowest entries of ``scores``, ties to the lower row-major index."""
    flat = torch.zeros(scores.numel(), dtype=torch.bool, device=scores.device)
    flat[torch.argsort(scores.reshape(-1), stable=True)[:k]] = True
    return flat.view(scores.shape)


def _lowest_per_group(scores: torch.Tensor, size: int, k: int) -> torch.Tensor:
    """Mask of the ``k`` lowest of every ``size`` consecutive entries of each row."""
    groups = scores.reshape(scores.shape[0], -1, size)
    order = torch.argsort(groups, dim=-1, stable=True)[..., :k]
    return torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, order, True).view(scores.shape)


def magnitude_mask(weight: torch.Tensor, pattern: Pattern) -> torch.Tensor:
    """Pruning mask of ``|W|`` (shape of ``weight``): lowest over the matrix, or per n:m group."""
    scores = weight.detach().abs()
    if pattern.nm is not None:
        n, m = pattern.nm
        return _lowest_per_group(scores, m, m - n)
    return _lowest(scores, expected_pruned(tuple(weight.shape), pattern, "magnitude"))


def wanda_mask(weight: torch.Tensor, hessian: torch.Tensor, pattern: Pattern) -> torch.Tensor:
    """Pruning mask of ``|W_ij| · ‖X_j‖₂`` (``hessian``: mean ``XᵀX``; its diagonal is
    ``‖X_j‖² / n``, and the constant ``n`` does not change a ranking), lowest per output row
    (unstructured) or per n:m group of a row."""
    scores = weight.detach().abs() * torch.sqrt(torch.diagonal(hessian)).to(weight)[None, :]
    if pattern.nm is not None:
        n, m = pattern.nm
        return _lowest_per_group(scores, m, m - n)
    return _lowest_per_group(scores, scores.shape[1],
                             _rounded(pattern.sparsity * scores.shape[1]))


def _inverse_upper_factor(a: torch.Tensor) -> torch.Tensor | None:
    """Upper Cholesky factor ``U`` of ``a⁻¹`` (``a⁻¹ = UᵀU``), or None if ``a`` is not
    positive definite."""
    lower, info = torch.linalg.cholesky_ex(a)
    if int(info):
        return None
    upper, info = torch.linalg.cholesky_ex(torch.cholesky_inverse(lower), upper=True)
    return None if int(info) else upper


def sparsegpt_prune(weights: Sequence[torch.Tensor], hessian: torch.Tensor, pattern: Pattern,
                    block: int = BLOCK, damping: float = DAMPING, name: str = "layer"
                    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """SparseGPT with its weight updates, for matrices that share one input.

    Parameters
    ----------
    weights : matrices of shapes ``(out_k, in)``, all reading the input whose mean ``XᵀX`` is
        ``hessian`` (shape ``(in, in)``).
    block : columns per block; the unstructured mask is chosen per block.

    Returns
    -------
    ``(pruned weight, mask)`` per input matrix, in the input's dtype (the work runs in fp32,
    or in float64 for float64 input); ``mask`` is True where the weight was pruned (it is
    then exactly 0).
    """
    cols = hessian.shape[0]
    _check_width(pattern, cols, name)
    if pattern.nm is not None and block % pattern.nm[1]:
        raise LanggeoError(f"SparseGPT block {block} is not a multiple of m={pattern.nm[1]}")
    work_dtype = torch.float64 if hessian.dtype == torch.float64 else torch.float32
    h = hessian.to(work_dtype)
    dead = torch.diagonal(h) == 0

    def prepare() -> torch.Tensor:
        work = h.clone()
        torch.diagonal(work)[dead] = 1.0
        return work

    with _one_thread():
        return _sparsegpt(weights, prepare, cols, pattern, block, damping, name, work_dtype)


def _sparsegpt(weights, prepare, cols, pattern, block, damping, name, work_dtype):
    upper = damped(prepare, damping, name, _inverse_upper_factor)
    # Work on Wᵀ, shape (in, out): a column of W is then a contiguous row, which makes the
    # per-column updates below several times faster than strided column access.
    wt = torch.cat([x.detach().to(work_dtype) for x in weights]).T.contiguous()
    mask = torch.zeros_like(wt, dtype=torch.bool)
    bounds = torch.tensor([0] + [x.shape[0] for x in weights]).cumsum(0).tolist()
    for i1 in range(0, cols, block):
        i2 = min(i1 + block, cols)
        w1, m1, u1 = wt[i1:i2], mask[i1:i2], upper[i1:i2, i1:i2]
        d = torch.diagonal(u1)
        if pattern.nm is None:
            scores = w1.square() / d.square()[:, None]
            for lo, hi in zip(bounds, bounds[1:]):
                k = (_rounded(pattern.sparsity * (hi - lo) * i2)
                     - _rounded(pattern.sparsity * (hi - lo) * i1))
                # Ranked in W's row-major order, so ties go to the lower index of W.
                m1[:, lo:hi] = _lowest(scores[:, lo:hi].T, k).T
        errors = torch.zeros_like(w1)
        _sweep_block(w1, m1, u1, d, errors, pattern)
        # The blocks to the right get the whole block's error at once (lazy batch update).
        wt[i2:].addmm_(upper[i1:i2, i2:].T, errors, alpha=-1)
    w, mask = wt.T, mask.T
    return [(w[lo:hi].to(x.dtype).contiguous(), mask[lo:hi].contiguous())
            for x, lo, hi in zip(weights, bounds, bounds[1:])]


@contextlib.contextmanager
def _one_thread():
    # SparseGPT is thousands of small ops (column updates, 128-row panels): on the 2-core
    # machine the thread pool's barriers cost several times the arithmetic (a 3072 x 576
    # matrix: 0.74 s on one thread against 3.8 s on two, on a busy machine).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _sweep_block(w1: torch.Tensor, m1: torch.Tensor, u1: torch.Tensor, d: torch.Tensor,
                 errors: torch.Tensor, pattern: Pattern) -> None:
    """Prune the columns of one block in order (``w1``: the block of Wᵀ, updated in place).

    Three kernels per column (the loop's cost is their launch overhead): ``err = w · m / d``
    into ``errors``, the OBS update of the columns to the right, and zeroing the pruned.
    """
    scale = m1 / d[:, None]
    keep = (~m1).to(w1.dtype)
    for i in range(w1.shape[0]):
        if pattern.nm is not None and i % pattern.nm[1] == 0:
            n, m = pattern.nm
            group = w1[i:i + m].square() / d[i:i + m, None].square()
            m1[i:i + m] = _lowest_per_group(group.T.contiguous(), m, m - n).T
            scale[i:i + m] = m1[i:i + m] / d[i:i + m, None]
            keep[i:i + m] = ~m1[i:i + m]
        err = torch.mul(w1[i], scale[i], out=errors[i])
        # OBS: removing w_i moves the columns to its right by -err · U[i, i:].
        w1[i:].addr_(u1[i, i:], err, alpha=-1)
        w1[i].mul_(keep[i])


def _set_weight(module: nn.Module, weight: torch.Tensor) -> None:
    """Write a ``(out, in)`` weight back; GPT-2's ``Conv1D`` stores it transposed."""
    module.weight.data.copy_(weight.T if isinstance(module, Conv1D) else weight)


@dataclass
class PruneResult:
    """Masks (True = pruned) by module name, and what it cost."""

    masks: dict[str, torch.Tensor]
    method: str
    pattern: Pattern
    seconds: float
    n_tokens: int
    layers: int = field(default=0)

    @property
    def n_pruned(self) -> int:
        return int(sum(int(m.sum()) for m in self.masks.values()))

    @property
    def n_weights(self) -> int:
        return int(sum(m.numel() for m in self.masks.values()))

    @property
    def sparsity(self) -> float:
        """Fraction of the block linear weights pruned."""
        return self.n_pruned / self.n_weights


class _Recorder(nn.Module):
    """Stands in for a transformer block during capture: keeps its inputs, passes them on."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[torch.Tensor, tuple, dict]] = []

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        self.calls.append((hidden_states, args, kwargs))
        return hidden_states


Call = tuple[tuple, dict]


def _block_inputs(model: nn.Module, batches: Sequence[torch.Tensor]
                  ) -> tuple[list[torch.Tensor], list[list[Call]]]:
    """The first block's input hidden states per batch, and every block's other arguments
    per batch (masks and position embeddings differ between blocks in e.g. Gemma 3, whose
    layers alternate sliding and global attention); the blocks themselves do not run."""
    blocks_name, blocks = transformer_blocks(model)
    originals = list(blocks)
    recorders = [_Recorder() for _ in originals]
    device = next(model.parameters()).device
    try:
        for i, r in enumerate(recorders):
            blocks[i] = r
        for ids in batches:
            decoder_stack(model)(input_ids=ids.to(device), use_cache=False)
    finally:
        for i, module in enumerate(originals):
            blocks[i] = module
    if any(len(r.calls) != len(batches) for r in recorders):
        raise LanggeoError(f"{type(model).__name__}: not every block of {blocks_name} ran once "
                           "per batch; this model is not supported for pruning")
    hidden = [h for h, _, _ in recorders[0].calls]
    return hidden, [[(a, kw) for _, a, kw in r.calls] for r in recorders]


def _run_block(block: nn.Module, hidden: torch.Tensor, call: Call) -> torch.Tensor:
    out = block(hidden, *call[0], **call[1])
    return out[0] if isinstance(out, tuple) else out


def _prune_group(method: str, modules: dict[str, nn.Module], hessian: torch.Tensor | None,
                 pattern: Pattern, block: int, damping: float) -> dict[str, torch.Tensor]:
    """Prune layers that share one input (one Hessian); returns their verified masks."""
    names = list(modules)
    weights = [linear_weight(modules[n]) for n in names]
    for n, w in zip(names, weights):
        _check_width(pattern, w.shape[1], n)
    if method == "sparsegpt":
        pruned = sparsegpt_prune(weights, hessian, pattern, block, damping, names[0])
    else:
        pruned = []
        for w in weights:
            mask = (magnitude_mask(w, pattern) if method == "magnitude"
                    else wanda_mask(w, hessian, pattern))
            pruned.append((w.detach().masked_fill(mask, 0.0), mask))
    masks = {}
    for n, w, (new, mask) in zip(names, weights, pruned):
        expected = expected_pruned(tuple(w.shape), pattern, method)
        if int(mask.sum()) != expected or bool(new[mask].any()):
            raise LanggeoError(f"layer {n}: {int(mask.sum())} weights masked, expected "
                               f"{expected}; pruning is inconsistent (a bug: please report)")
        _set_weight(modules[n], new)
        masks[n] = mask.cpu()
    return masks


@torch.no_grad()
def prune_model(model: nn.Module, batches: Sequence[torch.Tensor], method: str,
                pattern: Pattern, damping: float = DAMPING, block: int = BLOCK,
                progress: bool = False) -> PruneResult:
    """Prune every linear layer of the transformer blocks of ``model`` in place.

    Parameters
    ----------
    batches : calibration token ids, each ``(batch, seq_len)`` int64 (unused by
        ``magnitude``).
    method : ``sparsegpt``, ``wanda`` or ``magnitude``.

    Returns
    -------
    The masks (True = pruned; exactly :func:`expected_pruned` per matrix, verified) and the
    time taken.
    """
    if method not in METHODS:
        raise LanggeoError(f"pruning method {method!r}: choose one of {list(METHODS)}")
    start = time.perf_counter()
    linears = block_linears(model)
    masks: dict[str, torch.Tensor] = {}
    if method == "magnitude":
        for name, module in linears.items():
            masks.update(_prune_group(method, {name: module}, None, pattern, block, damping))
        return PruneResult(masks, method, pattern, time.perf_counter() - start, 0)
    if not batches:
        raise LanggeoError(f"pruning method {method!r} needs calibration text; got none")
    blocks_name, blocks = transformer_blocks(model)
    hidden, calls = _block_inputs(model, batches)
    device = next(model.parameters()).device
    n_tokens = sum(int(ids.numel()) for ids in batches)
    indices = range(len(blocks))
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc=f"pruning ({method}, {pattern.name})", unit="block")
    for b in indices:
        prefix = f"{blocks_name}.{b}."
        own = {n: m for n, m in linears.items() if n.startswith(prefix)}
        collector = Collector(own, device)
        handles = [m.register_forward_pre_hook(collector.hook(n)) for n, m in own.items()]
        try:
            for h, call in zip(hidden, calls[b]):
                _run_block(blocks[b], h, call)
                collector.rows += h.shape[0] * h.shape[1]
                collector.end_batch()
        finally:
            for handle in handles:
                handle.remove()
        groups: dict[str, dict[str, nn.Module]] = {}
        for n, m in own.items():
            groups.setdefault(collector.leader_of[n], {})[n] = m
        for leader, members in groups.items():
            hessian = symmetric_from_upper(collector.sums[leader]) / collector.rows
            masks.update(_prune_group(method, members, hessian, pattern, block, damping))
        # The next block reads what this block, now pruned, gives.
        hidden = [_run_block(blocks[b], h, call) for h, call in zip(hidden, calls[b])]
    return PruneResult(masks, method, pattern, time.perf_counter() - start, n_tokens,
                       len(blocks))


def block_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of the block linear weights (to restore a model after pruning it)."""
    return {n: m.weight.detach().clone() for n, m in block_linears(model).items()}


def restore_weights(model: nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """Undo :func:`prune_model` with the copies from :func:`block_weights`."""
    for n, m in block_linears(model).items():
        m.weight.data.copy_(weights[n])


def measured_sparsity(model: nn.Module) -> float:
    """Fraction of exactly-zero weights over the block linear layers."""
    zeros = total = 0
    for m in block_linears(model).values():
        zeros += int((m.weight == 0).sum())
        total += m.weight.numel()
    return zeros / total
