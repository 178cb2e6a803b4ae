"""The SparseGPT column sweep of the pruning study: time and flop rate, against a GEMM of the
same weights (the forward's kind of work), on one thread as the sweep runs.

For each linear input of one block of the model (the attention inputs, its output, the MLP
inputs, its output): the weights that read that input, a Hessian ``XᵀX / n`` of random bf16
activations (``--rows`` tokens), and ``sparsegpt_prune`` at 50%. Medians of ``--repeats``,
the GEMM timed in the same loop so that a busy machine slows both alike. FLOPs come from
``langgeo.method.flops.count_flops`` (every GEMM/GEMV, rank-1 update and the factorization).

    python benchmarks/sweep.py --model-dir models/smollm2-135m
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from langgeo.method.anatomy import block_linears, linear_weight, transformer_blocks
from langgeo.method.flops import count_flops
from langgeo.method.models import load_model
from langgeo.params import parse_pattern
from langgeo.studies import pruning

#: Layers that read one input tensor, by the names both embedded models (Llama, Gemma 3) use;
#: the pipeline finds the groups from the forward itself (``Collector.leader_of``).
SHARED = {"q_proj": "qkv", "k_proj": "qkv", "v_proj": "qkv", "gate_proj": "gate+up",
          "up_proj": "gate+up"}


def shared_inputs(model: torch.nn.Module) -> list[tuple[str, list[torch.Tensor]]]:
    """The first block's linear weights ``(out, in)``, grouped by the input they read."""
    blocks_name, _ = transformer_blocks(model)
    groups: dict[str, list[torch.Tensor]] = {}
    for name, module in block_linears(model).items():
        if name.startswith(f"{blocks_name}.0."):
            leaf = name.rsplit(".", 1)[-1]
            groups.setdefault(SHARED.get(leaf, leaf), []).append(
                linear_weight(module).detach().float())
    return list(groups.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", default="models/smollm2-135m")
    parser.add_argument("--rows", type=int, default=2048, help="tokens behind each Hessian")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)  # sparsegpt_prune runs on one thread (pruning._one_thread)
    model = load_model(args.model_dir)
    pattern = parse_pattern(0.5)
    print(f"{args.model_dir}: first block, {args.rows} tokens per Hessian, one thread, "
          f"medians of {args.repeats}")
    print(f"{'input':<12}{'shape':>14}{'sweep s':>9}{'GFLOP/s':>9}{'GEMM GFLOP/s':>14}")
    for name, weights in shared_inputs(model):
        x = torch.randn(args.rows, weights[0].shape[1]).bfloat16().float()
        hessian = x.T @ x / args.rows
        stacked = torch.cat(weights)
        flops, _ = count_flops(lambda ws=weights, h=hessian: pruning.sparsegpt_prune(
            [w.clone() for w in ws], h, pattern))
        sweep, gemm = [], []
        for _ in range(args.repeats):
            copies = [w.clone() for w in weights]
            start = time.perf_counter()
            pruning.sparsegpt_prune(copies, hessian, pattern)
            sweep.append(time.perf_counter() - start)
            start = time.perf_counter()
            x @ stacked.T
            gemm.append(time.perf_counter() - start)
        seconds = statistics.median(sweep)
        gemm_rate = 2 * args.rows * stacked.numel() / statistics.median(gemm) / 1e9
        print(f"{name:<12}{tuple(stacked.shape)!s:>14}{seconds:>9.3f}"
              f"{flops / seconds / 1e9:>9.1f}{gemm_rate:>14.1f}")


if __name__ == "__main__":
    main()
