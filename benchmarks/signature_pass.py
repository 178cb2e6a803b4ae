"""Time the signature pass for one language of the embedded default against a naive pass.

Naive: one sequence at a time through the full causal LM (LM head and logits included), one
hook and one Hessian per Linear (no sharing), the explicit inverse (through Cholesky, as the
SparseGPT reference computes it), then its upper Cholesky factor. Fast: the package's pass.
Both on the same tokens; prints tokens/s, their ratio, the forward-only speed (the floor on
this machine) and peak RSS. Medians over --repeats.

It also counts the arithmetic of each pass (``torch.utils.flop_counter`` plus the linear
algebra it does not know): the ratio of the naive to the fast count is the speed-up the fast
pass would reach if both ran at the same flop rate, so it shows how much of a gap is
arithmetic the method needs and how much is efficiency.

    python benchmarks/signature_pass.py --language fr --repeats 3 --dtype bfloat16

With ``--dtype bfloat16`` (the default pipeline's forward) it also times the pass with each
batch's ``XᵀX`` product in bf16 (``signatures.hessian_dtype``) and counts the bits that
differ from the fp32 product's.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch

from langgeo.method.anatomy import block_linears, decoder_stack, linear_weight
from langgeo.method.hessians import collect_hessians
from langgeo.data.sources import eld_documents, shuffled
from langgeo.data.shards import pack_sequences, select_documents
from langgeo.method.flops import count_flops
from langgeo.method.models import load_model, load_tokenizer
from langgeo.method.importance import layer_scores
from langgeo.method.binarize import binarize, top_half


@torch.no_grad()
def naive_pass(model, ids: torch.Tensor, damping: float) -> dict[str, torch.Tensor]:
    linears = block_linears(model)
    sums: dict[str, torch.Tensor] = {}

    def hook(name):
        def pre_hook(module, args):
            x = args[0].reshape(-1, args[0].shape[-1]).float()
            sums[name] = sums.get(name, 0) + x.T @ x
        return pre_hook

    handles = [m.register_forward_pre_hook(hook(n)) for n, m in linears.items()]
    for row in ids:
        model(input_ids=row[None])
    for h in handles:
        h.remove()
    bits = {}
    for name, m in linears.items():
        h = sums[name] / ids.numel()
        dead = torch.diagonal(h) == 0
        h[dead, dead] = 1
        h += damping * torch.diagonal(h).mean() * torch.eye(h.shape[0])
        inverse = torch.cholesky_inverse(torch.linalg.cholesky(h))
        u = torch.linalg.cholesky(inverse, upper=True)
        bits[name] = top_half(linear_weight(m).float() ** 2 / torch.diagonal(u)[None, :] ** 2)
    return bits


@torch.no_grad()
def forward_only(model, ids: torch.Tensor, batch_size: int) -> None:
    stack = decoder_stack(model)
    for batch in ids.split(batch_size):
        stack(input_ids=batch, use_cache=False)


def fast_pass(model, ids, batch_size, damping, hessian_dtype=torch.float32):
    hessians = collect_hessians(model, ids.split(batch_size), hessian_dtype)
    return binarize(layer_scores(model, hessians, "sparsegpt", damping), "per_matrix")


def median_times(fns: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each function, timed in interleaved rounds: on a shared machine a
    slow spell then hits every pass alike instead of skewing their ratio."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", default="models/gemma3-270m")
    parser.add_argument("--language", default="fr")
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                        help="the model's forward (signatures.dtype)")
    args = parser.parse_args()

    model = load_model(args.model_dir, dtype=args.dtype)
    tokenizer = load_tokenizer(args.model_dir)
    docs = select_documents(shuffled(eld_documents()[args.language], args.language, 0),
                            [tokenizer], args.tokens, args.seq_len, args.language, "eld")
    ids = pack_sequences(tokenizer, docs, args.tokens, args.seq_len)
    n = ids.numel()
    print(f"{n} tokens ({ids.shape[0]} x {args.seq_len}), {torch.get_num_threads()} threads, "
          f"median of {args.repeats}")
    passes = {"forward only (decoder stack)": lambda: forward_only(model, ids, args.batch_size),
              "fast signature pass": lambda: fast_pass(model, ids, args.batch_size, 0.01),
              # signatures.hessian_dtype: bfloat16, each batch's XᵀX product in bf16
              "fast pass, bf16 XᵀX": lambda: fast_pass(model, ids, args.batch_size, 0.01,
                                                       torch.bfloat16)}
    if not args.skip_naive:
        passes["naive signature pass"] = lambda: naive_pass(model, ids, 0.01)
    seconds = median_times(passes, args.repeats)
    counted = {name: count_flops(fn) for name, fn in passes.items()}
    flops = {name: f for name, (f, _) in counted.items()}
    for name in passes:
        print(f"{name + ':':30}{n / seconds[name]:7.0f} tok/s  ({seconds[name]:.2f} s)  "
              f"{flops[name] / n / 1e6:5.0f} MFLOP/token  "
              f"{flops[name] / seconds[name] / 1e9:4.0f} GFLOP/s")
    fwd, fast = seconds["forward only (decoder stack)"], seconds["fast signature pass"]
    print(f"fast pass = {fwd / fast:.0%} of forward-only speed")
    bf16 = seconds["fast pass, bf16 XᵀX"]
    print(f"fast pass with bf16 XᵀX = {fwd / bf16:.0%} of forward-only speed "
          f"({fast / bf16:.2f}x the fp32 XᵀX pass)")
    fp32_bits, bf16_bits = counted["fast signature pass"][1], counted["fast pass, bf16 XᵀX"][1]
    differ = sum(int((fp32_bits[m] != bf16_bits[m]).sum()) for m in fp32_bits)
    total = sum(b.size for b in fp32_bits.values())
    print(f"bits that differ between the fp32 and bf16 XᵀX: {differ:,} of {total:,} "
          f"({differ / total:.2e})")
    if not args.skip_naive:
        naive = seconds["naive signature pass"]
        bound = flops["naive signature pass"] / flops["fast signature pass"]
        print(f"speed-up fast / naive: {naive / fast:.2f}x  "
              f"(flop ratio {bound:.2f}x: the speed-up at equal flop rates)")
        fast_bits = counted["fast signature pass"][1]
        naive_bits = counted["naive signature pass"][1]
        differ = sum(int((fast_bits[m] != naive_bits[m]).sum()) for m in fast_bits)
        total = sum(b.size for b in fast_bits.values())
        # Both passes are fp32; they round differently (batched vs per-sequence sums,
        # reversed Cholesky vs explicit inverse), so scores at the median may swap.
        print(f"bits that differ from the naive pass: {differ:,} of {total:,} "
              f"({differ / total:.2e}; languages differ by ~4e-2)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"peak RSS: {peak:.2f} GiB")


if __name__ == "__main__":
    main()
