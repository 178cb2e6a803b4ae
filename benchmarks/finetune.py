"""Fine-tuning throughput per precision on a real model, the forward alone for scale, and a
pilot of the learning rate and step budget on one language's own held-out loss.

Text: one language of the embedded eld corpus, split as the pruning panel is
(``langgeo.studies.perplexity.split_documents``: the calibration prefix is the training text,
the held-out suffix is measured). Speed: for each mode, ``--steps`` steps of
``langgeo.studies.finetune.fine_tune`` from the same base weights, ``--repeats`` rounds
interleaved over the modes after one untimed warm-up step per mode; training tokens/s =
``steps · batch · seq_len / seconds`` (median over rounds), by the wall clock and by the
process's CPU time (which a machine shared with other jobs inflates less; with one thread
it is close to the work itself). Modes: ``float32``;
``bfloat16`` (a bf16 copy runs forward and backward, fp32 master weights: the library's
choice); ``bf16-autocast`` (fp32 weights, products under CPU autocast). The forward alone is
``perplexity()`` on the held-out windows, fp32 and a bf16 copy. Peak RSS of the process at
the end (every mode ran in it).

The pilot (``--pilot-lrs``) fine-tunes on the language for ``--pilot-steps`` steps per
learning rate and measures the *same language's* held-out bits per byte every
``--eval-every`` steps: enough steps to move it, not so many that it turns back up, under a
fixed CPU budget. It never looks at another language (that would tune on the result).

    python benchmarks/finetune.py --model-dir models/smollm2-135m --repeats 3 --steps 4
    python benchmarks/finetune.py --model-dir models/smollm2-135m --skip-speed \\
        --pilot-lrs 1e-5,3e-5,1e-4,3e-4 --pilot-steps 24 --eval-every 4
"""

from __future__ import annotations

import argparse
import copy
import os
import resource
import statistics
import time

import torch

from langgeo.data.shards import pack_sequences
from langgeo.data.sources import eld_documents, shuffled
from langgeo.method.models import load_model, load_tokenizer
from langgeo.studies.finetune import (
    fine_tune,
    freeze_early,
    restore_parameters,
    snapshot_parameters,
)
from langgeo.studies.perplexity import heldout_windows, perplexity, split_documents

MODES = {"float32": ("float32", "copy"), "bfloat16": ("bfloat16", "copy"),
         "bf16-autocast": ("bfloat16", "autocast")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", default="models/smollm2-135m")
    parser.add_argument("--language", default="fr")
    parser.add_argument("--calibration-tokens", type=int, default=2048)
    parser.add_argument("--heldout-tokens", type=int, default=1024)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per round")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--freeze", choices=["none", "ilo"], default="none",
                        help="ilo: freeze_early (embeddings, first 28%% of blocks, norm, head)")
    parser.add_argument("--lr", type=float, default=1e-4, help="of the speed runs")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--pilot-lrs", default="", help="comma-separated; empty: no pilot")
    parser.add_argument("--pilot-steps", type=int, default=24)
    parser.add_argument("--pilot-dtype", default="bfloat16", choices=["float32", "bfloat16"])
    parser.add_argument("--eval-every", type=int, default=4)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    model, tokenizer = load_model(args.model_dir), load_tokenizer(args.model_dir)
    lang = args.language
    order = shuffled(eld_documents()[lang], lang, 0)
    cal, held = split_documents(order, tokenizer, args.calibration_tokens, args.heldout_tokens,
                                args.seq_len, lang, "eld")
    windows = pack_sequences(tokenizer, cal, args.calibration_tokens, args.seq_len)
    ids, n_bytes = heldout_windows(tokenizer, held, args.heldout_tokens, args.seq_len)
    frozen = freeze_early(model) if args.freeze == "ilo" else []
    base = snapshot_parameters(model)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{args.model_dir}: {n_params / 1e6:.1f}M parameters, {lang}, {windows.shape[0]} "
          f"training windows of {args.seq_len}, batch {args.batch_size}, freeze {args.freeze} "
          f"({len(frozen)} tensors frozen), {torch.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.2f}")

    if not args.skip_speed:
        speed(args, model, windows, ids, n_bytes, frozen, base)
    if args.pilot_lrs:
        pilot(args, model, windows, ids, n_bytes, frozen, base)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak RSS {rss:.2f} GiB")


def speed(args, model, windows, ids, n_bytes, frozen, base) -> None:
    modes = args.modes.split(",")
    seconds: dict[str, list[float]] = {m: [] for m in modes}
    trained = {}

    def run(mode: str, steps: int):
        dtype, how = MODES[mode]
        restore_parameters(model, base)
        return fine_tune(model, windows, lr=args.lr, steps=steps, batch_size=args.batch_size,
                         dtype=dtype, frozen=frozen, name=args.language, _bf16_mode=how)

    for mode in modes:
        run(mode, 1)  # warm-up: first allocations, kernel selection
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(args.repeats):
        for mode in modes:
            start = time.process_time()
            result = run(mode, args.steps)
            cpu[mode].append(time.process_time() - start)
            seconds[mode].append(result.seconds)
            trained[mode] = result
    restore_parameters(model, base)
    tokens = args.steps * args.batch_size * args.seq_len
    print(f"fine-tuning, {args.steps} steps x {args.batch_size} x {args.seq_len} tokens, "
          f"medians of {args.repeats} (trained weights: {trained[modes[0]].trained / 1e6:.1f}M):")
    for mode in modes:
        med = statistics.median(seconds[mode])
        r = trained[mode]
        med_cpu = statistics.median(cpu[mode])
        print(f"  {mode:<14} {tokens / med:7.0f} tok/s wall, {tokens / med_cpu:7.0f} tok/s "
              f"per CPU-second ({med / args.steps:5.2f} s/step; rounds "
              f"{', '.join(f'{s:.1f}' for s in seconds[mode])} s; losses "
              f"{r.losses[0]:.3f} -> {r.losses[-1]:.3f})")
    forward = {"float32": model, "bfloat16": copy.deepcopy(model).to(torch.bfloat16)}
    times: dict[str, list[float]] = {k: [] for k in forward}
    cpu_f: dict[str, list[float]] = {k: [] for k in forward}
    for _ in range(args.repeats):
        for k, m in forward.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            p = perplexity(m, ids, n_bytes, args.batch_size)
            times[k].append(time.perf_counter() - start)
            cpu_f[k].append(time.process_time() - start_cpu)
    for k in forward:
        med, med_cpu = statistics.median(times[k]), statistics.median(cpu_f[k])
        print(f"  forward {k:<8} {ids.numel() / med:7.0f} tok/s wall, "
              f"{ids.numel() / med_cpu:7.0f} tok/s per CPU-second (perplexity() on "
              f"{ids.numel()} held-out tokens)")
    print(f"  base held-out: {p.bits_per_byte:.4f} bits/byte (bf16 forward)")


def pilot(args, model, windows, ids, n_bytes, frozen, base) -> None:
    lrs = [float(x) for x in args.pilot_lrs.split(",")]
    restore_parameters(model, base)
    before = perplexity(model, ids, n_bytes, args.batch_size).bits_per_byte
    print(f"pilot on {args.language}'s own held-out text ({ids.numel()} tokens), "
          f"{args.pilot_dtype}, base {before:.4f} bits/byte; bits/byte after step:")
    for lr in lrs:
        restore_parameters(model, base)
        curve: list[tuple[int, float]] = []
        spent = [0.0]

        def on_step(step: int, loss: float, curve=curve, spent=spent) -> None:
            if step % args.eval_every == 0 or step == args.pilot_steps:
                start = time.perf_counter()
                curve.append((step, perplexity(model, ids, n_bytes,
                                               args.batch_size).bits_per_byte))
                spent[0] += time.perf_counter() - start

        result = fine_tune(model, windows, lr=lr, steps=args.pilot_steps,
                           batch_size=args.batch_size, dtype=args.pilot_dtype, frozen=frozen,
                           name=args.language, on_step=on_step)
        train_s = result.seconds - spent[0]
        points = "  ".join(f"{s}:{b:.4f}" for s, b in curve)
        best = min(curve, key=lambda c: c[1])
        print(f"  lr {lr:.0e}: {points}  | best {best[1]:.4f} at step {best[0]} "
              f"(G = {before - best[1]:+.4f}); train loss {result.losses[0]:.3f} -> "
              f"{result.losses[-1]:.3f}; {train_s:.0f} s training")
    restore_parameters(model, base)


if __name__ == "__main__":
    main()
