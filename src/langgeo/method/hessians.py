"""One calibration pass: H = XᵀX / n for the input X of every linear layer in the blocks.

Layers that read the very same input tensor (q/k/v projections; gate/up in gated MLPs) share
one Hessian: it is accumulated once, by the first of them to run. Sharing is found by object
identity of the input while a reference to it is held for the whole batch, because addresses
(``data_ptr``) of freed activations are reused and would merge unrelated inputs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

from langgeo import LanggeoError
from langgeo.method.anatomy import block_linears, decoder_stack

# Column block of the upper-triangle Gram product: on the 2-core CPU 256 was about as fast as
# any for input widths 640 to 2048 and a third faster than the full product at 2048
# (benchmarks/blocks.py); smaller blocks skip more flops but lose GEMM efficiency.
GRAM_BLOCK = 256


def add_gram_upper(acc: torch.Tensor, x: torch.Tensor, block: int = GRAM_BLOCK) -> None:
    """``acc += xᵀx`` on and above the block diagonal only (x: ``(rows, d)``, acc: ``(d, d)``).

    XᵀX is symmetric, so the blocks below the diagonal are skipped: about half the flops of
    the full product; :func:`symmetric_from_upper` restores the full matrix at the end.
    ``acc`` is fp32. An ``x`` in bf16 is multiplied in bf16 (products of bf16 inputs are
    exact, the GEMM accumulates in fp32) and its result, rounded to bf16 (8 significant bits)
    once per call, is added to ``acc`` in fp32: 2.3 times the fp32 GEMM's speed on this CPU.
    """
    for start in range(0, x.shape[1], block):
        stop = min(start + block, x.shape[1])
        if x.dtype == acc.dtype:
            acc[:stop, start:stop].addmm_(x[:, :stop].T, x[:, start:stop])
        else:
            acc[:stop, start:stop] += x[:, :stop].T @ x[:, start:stop]


def symmetric_from_upper(acc: torch.Tensor) -> torch.Tensor:
    """The symmetric matrix whose upper triangle is that of ``acc`` (a new tensor).

    The strict lower triangle starts at +0, so adding the mirrored upper copies it exactly;
    one in-place add is 3x faster at width 2048 than summing two fresh triangles.
    """
    out = acc.triu()
    out += out.mT.tril(-1)
    return out


@dataclass
class Hessians:
    """Result of a calibration pass.

    ``hessian[leader]`` is the mean XᵀX, shape ``(in_features, in_features)``, fp32, over all
    ``n_tokens`` input rows; ``leader_of[name]`` names the Hessian each linear layer uses.
    ``factors[(score, damping)]`` caches the column factors computed from them
    (:func:`langgeo.method.importance.layer_factors`), which the scores and the factor files share.
    """

    hessian: dict[str, torch.Tensor]
    leader_of: dict[str, str]
    n_tokens: int
    factors: dict[tuple[str, float], dict[str, torch.Tensor]] = field(default_factory=dict,
                                                                        repr=False)


class Collector:
    """The forward pre-hooks of a calibration pass: each leading layer's XᵀX sum, with the
    products in ``dtype`` (see :func:`add_gram_upper`)."""

    def __init__(self, linears: dict[str, nn.Module], device: torch.device,
                 dtype: torch.dtype = torch.float32) -> None:
        self.linears = linears
        self.device = device
        self.dtype = dtype
        self.sums: dict[str, torch.Tensor] = {}
        self.leader_of: dict[str, str] = {}
        self.rows = 0
        self._batch_inputs: dict[int, tuple[torch.Tensor, str]] = {}

    def hook(self, name: str):
        def pre_hook(module: nn.Module, args: tuple) -> None:
            x = args[0]
            seen = self._batch_inputs.get(id(x))
            if seen is not None and seen[0] is x:
                leader = seen[1]
            else:
                leader = name
                self._batch_inputs[id(x)] = (x, name)
                flat = x.detach().reshape(-1, x.shape[-1]).to(self.dtype)
                acc = self.sums.get(name)
                if acc is None:
                    acc = self.sums[name] = torch.zeros(flat.shape[1], flat.shape[1],
                                                        dtype=torch.float32, device=self.device)
                add_gram_upper(acc, flat)
            known = self.leader_of.setdefault(name, leader)
            if known != leader:
                raise LanggeoError(f"layer {name}: shares its input with {leader} in one batch "
                                   f"but with {known} in another; the model's forward is not "
                                   "stable across batches")
        return pre_hook

    def end_batch(self) -> None:
        self._batch_inputs.clear()


GramSums = tuple[dict[str, torch.Tensor], dict[str, str], int]


@torch.no_grad()
def gram_sums(model: nn.Module, batches: Iterable[torch.Tensor],
              start: GramSums | None = None, dtype: torch.dtype = torch.float32) -> GramSums:
    """The pass of :func:`collect_hessians` without its checks on the values: the XᵀX sums
    (upper triangles, fp32) by leading layer, the leader of every layer, and the rows seen.

    ``start``: the result of an earlier call, whose sums this pass goes on adding to (in
    place). The sums after batches ``a`` then ``b`` are bit for bit those of one pass over
    ``a + b``: the same fp32 additions in the same order, so a text's Hessians for several
    calibration sizes come from one pass over the longest. ``dtype``: of each batch's
    products (:func:`add_gram_upper`).

    Nothing here branches on a tensor's values, so it also runs on shape-only (fake)
    tensors: that is how :mod:`langgeo.method.flops` counts the arithmetic of models it does
    not hold.
    """
    linears = block_linears(model)
    device = next(model.parameters()).device
    collector = Collector(linears, device, dtype)
    if start is not None:
        collector.sums, leader_of, collector.rows = start
        collector.leader_of = dict(leader_of)
    handles = [m.register_forward_pre_hook(collector.hook(n)) for n, m in linears.items()]
    stack = decoder_stack(model)
    try:
        for ids in batches:
            stack(input_ids=ids.to(device), use_cache=False)
            collector.rows += ids.numel()
            collector.end_batch()
    finally:
        for h in handles:
            h.remove()
    missing = [n for n in linears if n not in collector.leader_of]
    if missing:
        raise LanggeoError(f"layers never ran during calibration: {missing[:5]}")
    return collector.sums, collector.leader_of, collector.rows


@torch.no_grad()
def collect_hessians(model: nn.Module, batches: Iterable[torch.Tensor],
                     dtype: torch.dtype = torch.float32) -> Hessians:
    """Run ``batches`` (int64 token ids, each ``(batch, seq_len)``) through the decoder stack.

    Activations run in the model's dtype; each batch's XᵀX product in ``dtype``; Hessians
    accumulate in fp32 on the model's device.
    """
    return hessians_from_sums(gram_sums(model, batches, dtype=dtype))


def hessians_from_sums(sums: GramSums) -> Hessians:
    """The mean XᵀX of every leading layer from :func:`gram_sums` (new tensors: the sums can
    go on accumulating), checked to be finite."""
    sums, leader_of, rows = sums
    hessian = {n: symmetric_from_upper(s).div_(rows) for n, s in sums.items()}
    for name, h in hessian.items():
        if not torch.isfinite(h).all():
            raise LanggeoError(f"NaN or Inf in the inputs of layer {name}")
    return Hessians(hessian, leader_of, rows)
