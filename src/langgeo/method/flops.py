"""The arithmetic of the signature pass, counted rather than estimated.

``torch.utils.flop_counter`` prices every matrix product from its shapes alone, so it counts
a model built on fake tensors (torch's shape-only tensors, backed by the meta device: no
memory, no values) exactly as the same model with weights: :func:`count_config` counts
architectures this machine cannot hold from their configs. Plain meta tensors would not do:
transformers reads a value of the position ids (its packed-sequence check) unless the
tensor is fake. Elementwise work counts 0; :data:`EXTRA_FLOPS` prices what the counter does
not know (in-place GEMM, Cholesky, triangular solves, the CPU attention kernel).

The benchmarks that use it: ``signature_pass.py``, ``pruning.py``, ``paper_cost.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import torch
from torch.utils.flop_counter import FlopCounterMode

from langgeo.method.anatomy import block_linears, decoder_stack, linear_weight
from langgeo.method.hessians import gram_sums
from langgeo.method.importance import CHOLESKY_BLOCK

if TYPE_CHECKING:
    from transformers import PretrainedConfig

T = TypeVar("T")
aten = torch.ops.aten


def _gemm_flops(out, a, b, *args, out_shape=None, **kwargs) -> int:
    return 2 * a[0] * a[1] * b[1]


def _outer_flops(out, a, b, *args, out_shape=None, **kwargs) -> int:
    return 2 * out[0] * out[1]


def _cholesky_flops(a, *args, out_shape=None, **kwargs) -> int:
    return a[-1] ** 3 // 3


def _cholesky_inverse_flops(a, *args, out_shape=None, **kwargs) -> int:
    return 2 * a[-1] ** 3 // 3  # triangular inverse, then the product of it with itself


def _triangular_solve_flops(a, b, *args, out_shape=None, **kwargs) -> int:
    return a[-1] ** 2 * b[-1]


def _cpu_attention_flops(q, k, v, *args, out_shape=None, **kwargs) -> int:
    # QKᵀ and AV at full length: the causal half is counted, as torch counts its own kernels.
    return 2 * q[0] * q[1] * q[2] * k[2] * (q[3] + v[3])


EXTRA_FLOPS = {
    aten.addmm_: _gemm_flops,
    aten.addr_: _outer_flops,
    aten.addr: _outer_flops,
    aten.linalg_cholesky_ex: _cholesky_flops,
    aten.cholesky_inverse: _cholesky_inverse_flops,
    aten.linalg_solve_triangular: _triangular_solve_flops,
    aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops,
}


def count_flops(fn: Callable[[], T]) -> tuple[int, T]:
    """Flops of one call of ``fn``, and what it returned."""
    with FlopCounterMode(display=False, custom_mapping=EXTRA_FLOPS) as counter:
        result = fn()
    return counter.get_total_flops(), result


def cholesky_diagonal_flops(n: int, block: int = CHOLESKY_BLOCK) -> int:
    """Flops of :func:`langgeo.method.importance.cholesky_diagonal` at width ``n``.

    It cannot run on fake tensors (it stops when a block is not positive definite, a value),
    so its loop is replayed here with each step priced by the counter's own formulas; the
    tests check this against the count of the real function.
    """
    flops = 0
    while n > block:
        rest = n - block
        flops += (_cholesky_flops((block, block)) + _triangular_solve_flops((block, block),
                                                                             (block, rest))
                  + _gemm_flops(None, (rest, block), (block, rest)))
        n = rest
    return flops + _cholesky_flops((n, n))


@dataclass
class PassCount:
    """Counted flops of one signature pass over ``tokens`` tokens, and the sizes it works on.

    ``forward``: the decoder stack (no LM head); ``gram``: ``XᵀX`` of every distinct block
    linear input (upper triangle, as ``calibration.add_gram_upper`` computes it);
    ``hessian_widths``: one per distinct Hessian; ``linear_shapes``: ``(out, in)`` of every
    block linear layer; ``parameters``: all of the model's (tied ones once).
    """

    tokens: int
    forward: int
    gram: int
    hessian_widths: list[int]
    linear_shapes: list[tuple[int, int]]
    parameters: int

    @property
    def factorization(self) -> int:
        """Per language, independent of tokens: the SparseGPT column factors' Cholesky."""
        return sum(cholesky_diagonal_flops(n) for n in self.hessian_widths)

    @property
    def weights(self) -> int:
        """Block linear weights: one signature bit each."""
        return sum(o * i for o, i in self.linear_shapes)


def count_pass(model: torch.nn.Module, ids: torch.Tensor) -> PassCount:
    """Count the pass of ``calibration.collect_hessians`` over one batch ``ids``."""
    stack = decoder_stack(model)
    with torch.no_grad():
        forward, _ = count_flops(lambda: stack(input_ids=ids, use_cache=False))
    total, (sums, _, rows) = count_flops(lambda: gram_sums(model, [ids]))
    shapes = [tuple(linear_weight(m).shape) for m in block_linears(model).values()]
    return PassCount(rows, forward, total - forward, [s.shape[0] for s in sums.values()],
                     shapes, sum(p.numel() for p in model.parameters()))


def count_config(config: PretrainedConfig, seq_len: int) -> PassCount:
    """:func:`count_pass` over one sequence of ``seq_len`` tokens, on the model that
    ``AutoModelForCausalLM`` builds from ``config`` (what the pipeline loads), without weights.
    """
    from torch._subclasses.fake_tensor import FakeTensorMode
    from transformers import AutoModelForCausalLM

    # Built on meta (SigLIP's weight initializer reads values, which fake tensors refuse),
    # then given fake storage on the CPU, where the forward runs as it would with weights.
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config).eval()
    with FakeTensorMode(allow_non_fake_inputs=True):
        model.to_empty(device="cpu").tie_weights()  # to_empty unties shared parameters
        return count_pass(model, torch.zeros(1, seq_len, dtype=torch.long))
