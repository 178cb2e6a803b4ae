"""Time pruning (per language and method) and held-out perplexity on a real model, count the
arithmetic, and estimate the time on a GPU from it.

For one language of the embedded corpus: the calibration prefix and held-out suffix of
``langgeo.studies.perplexity.split_documents``; each method prunes a fresh copy of the dense weights
(``--repeats`` times, median); perplexity runs on the dense model. FLOPs come from
``torch.utils.flop_counter`` (forwards, ``XᵀX``, SparseGPT's updates: all GEMM/GEMV calls;
the Cholesky, inverse and CPU attention kernel it does not count are added from their
formulas, ``langgeo.method.flops``), once per method.
The GPU estimate divides those FLOPs by a sustained rate (``--gpu-tflops``, default 50: a
realistic fp32/TF32 rate on an A100/H100 for these shapes) and scales them to a larger
model by its linear weights (FLOPs grow with weights × tokens for the forwards, with
rows × cols² for SparseGPT's updates: reported separately). Peak RSS at the end.

    python benchmarks/pruning.py --model-dir models/smollm2-135m --language fr --repeats 3
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

from langgeo.method.anatomy import block_linears, linear_weight
from langgeo.data.sources import eld_documents, shuffled
from langgeo.data.shards import pack_sequences
from langgeo.method.flops import count_flops
from langgeo.method.models import load_model, load_tokenizer
from langgeo.studies.perplexity import heldout_windows, perplexity, split_documents
from langgeo.studies.pruning import block_weights, prune_model, restore_weights
from langgeo.params import parse_pattern

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", default="models/smollm2-135m")
    parser.add_argument("--language", default="fr")
    parser.add_argument("--calibration-tokens", type=int, default=2048)
    parser.add_argument("--heldout-tokens", type=int, default=1024)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--methods", default="sparsegpt,wanda,magnitude")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gpu-tflops", type=float, default=50.0)
    parser.add_argument("--scale-weights", type=float, default=7.0e9,
                        help="linear weights of the model to extrapolate to (Mistral 7B ~7e9)")
    parser.add_argument("--scale-tokens", type=int, default=524_288)
    args = parser.parse_args()

    model, tokenizer = load_model(args.model_dir), load_tokenizer(args.model_dir)
    order = shuffled(eld_documents()[args.language], args.language, 0)
    cal, held = split_documents(order, tokenizer, args.calibration_tokens, args.heldout_tokens,
                                args.seq_len, args.language, "eld")
    batches = list(pack_sequences(tokenizer, cal, args.calibration_tokens,
                                  args.seq_len).split(args.batch_size))
    ids, n_bytes = heldout_windows(tokenizer, held, args.heldout_tokens, args.seq_len)
    dense = block_weights(model)
    n_linear = sum(linear_weight(m).numel() for m in block_linears(model).values())
    pattern = parse_pattern(0.5)

    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = perplexity(model, ids, n_bytes, args.batch_size)
        times.append(time.perf_counter() - start)
    ppl_s = statistics.median(times)
    ppl_flops = count_flops(lambda: perplexity(model, ids[:1], n_bytes))[0] * ids.shape[0]
    print(f"perplexity: {result.tokens} predictions in {ppl_s:.1f} s = "
          f"{result.tokens / ppl_s:.0f} tok/s (median of {args.repeats}); "
          f"{ppl_flops / result.tokens / 1e6:.0f} MFLOP/token; ppl {result.per_token:.2f}, "
          f"{result.bits_per_byte:.3f} bits/byte")

    for method in args.methods.split(","):
        times = []
        for _ in range(args.repeats):
            restore_weights(model, dense)
            start = time.perf_counter()
            pruned = prune_model(model, batches, method, pattern)
            times.append(time.perf_counter() - start)
        restore_weights(model, dense)
        flops, _ = count_flops(lambda: prune_model(model, batches, method, pattern))
        restore_weights(model, dense)
        seconds = statistics.median(times)
        tokens = pruned.n_tokens or 1
        forward = 0 if method == "magnitude" else 2 * 2 * n_linear * pruned.n_tokens
        rest = max(flops - forward, 0)
        # Forwards and XᵀX scale with weights x tokens; the OBS updates with weights x width,
        # here taken as weights^(3/2) for a model of the same shape ratios.
        scale_w = args.scale_weights / n_linear
        gpu = (flops / (args.gpu_tflops * 1e12),
               (forward * scale_w * args.scale_tokens / tokens + rest * scale_w ** 1.5)
               / (args.gpu_tflops * 1e12))
        print(f"{method}: {seconds:.1f} s per language (median of {args.repeats}, "
              f"{pruned.n_tokens} calibration tokens), sparsity {pruned.sparsity:.4f}, "
              f"{flops / 1e9:.0f} GFLOP ({flops / seconds / 1e9:.0f} GFLOP/s here); GPU at "
              f"{args.gpu_tflops:.0f} TFLOP/s: {gpu[0] * 1e3:.0f} ms for this model, "
              f"~{gpu[1]:.0f} s for {args.scale_weights:.0e} linear weights and "
              f"{args.scale_tokens} tokens")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak RSS {rss:.2f} GiB; {n_linear:,} linear weights in the blocks")


if __name__ == "__main__":
    main()
