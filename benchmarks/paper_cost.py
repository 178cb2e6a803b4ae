"""Cost of the paper-scale run (params.paper.yaml) from counted arithmetic: jobs, FLOP,
GPU-hours, CPU-hours, memory and storage per model, printed as Markdown tables.

Counted, exactly (``langgeo.method.flops``: ``torch.utils.flop_counter`` on each paper model built
from its published config without weights, on fake tensors): per token, the decoder-stack
forward at the paper's seq_len (no LM head: the pass stops before it) and ``XᵀX`` of every
distinct block-linear input (upper triangle, as ``langgeo.method.hessians.add_gram_upper`` computes
it); per language, the blocked Cholesky of every Hessian (its loop priced by the counter's
formulas) and the scoring (2 FLOP per weight, elementwise: by formula). Attention counts at
full length (a causal flash kernel skips about half of it; it is 7-12% of the forwards).
Memory, Hessian and factor sizes, signature and factor-file payloads follow from the shapes.

Checked: on each embedded model (--validate), the count of its architecture from its config
equals the count of the real pass (``collect_hessians`` and the column factors) on its
weights; the script stops if they differ.

Measured on this machine, in that real pass (one language, --tokens tokens, fp32, torch's
thread count as set by OMP_NUM_THREADS): GFLOP/s of the pass without the medians, and the
rate of the exact medians (``np.partition`` on the host, on every usable core as
``binarize`` runs it; weights per second). CPU-hours use the faster model's rates.

Assumed, not measured (no GPU here): sustained GPU rates, --bf16-tflops for the forward and
--fp32-tflops for ``XᵀX``, the Cholesky and the scoring (fp32, TF32 off as torch defaults).
GPU time per job = tokens · forward / bf16 rate + (tokens · XᵀX + Cholesky + scoring) / fp32
rate. Not in it: model loading, streaming and tokenizing text, the device-to-host copy of
the scores, the medians on the host (their time at this machine's rate is printed), writing
files. Peak GPU memory: weights + Hessians + max(Hessians, scores), read from the code
(``collect_hessians`` holds the sums and the means at its end; ``layer_scores`` holds every
fp32 score while the Hessians live); activations and per-matrix temporaries are left out.

    OMP_NUM_THREADS=1 python benchmarks/paper_cost.py      # about a minute
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import torch
import yaml
from transformers import Gemma3Config, LlamaConfig, MistralConfig

from langgeo.method.hessians import collect_hessians
from langgeo.data.sources import eld_documents, shuffled
from langgeo.data.shards import pack_sequences, select_documents
from langgeo.method.flops import PassCount, count_config, count_flops
from langgeo.method.importance import layer_factors, layer_scores
from langgeo.method.models import load_model, load_tokenizer
from langgeo.method.binarize import binarize

# Typed from each model's config.json on the Hugging Face Hub (no network here); only fields
# that change a count or a size are given, the rest are transformers' defaults.
PAPER_MODELS = {
    # mistralai/Mistral-7B-v0.1: hidden_size, intermediate_size, num_hidden_layers,
    # num_attention_heads, num_key_value_heads, vocab_size, tie_word_embeddings (head_dim
    # is not in the file: 4096 / 32).
    "mistral-7b": MistralConfig(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                                num_attention_heads=32, num_key_value_heads=8, head_dim=128,
                                vocab_size=32000, tie_word_embeddings=False),
    # google/gemma-3-4b-pt: text_config hidden_size, intermediate_size, num_hidden_layers;
    # heads 8, KV heads 4, head_dim 256 and vocab 262,208 are the Gemma3TextConfig defaults
    # that file relies on. AutoModelForCausalLM loads the whole Gemma3ForConditionalGeneration,
    # so its SigLIP vision_config counts in the weights' memory; a text-only pass never runs it.
    "gemma3-4b": Gemma3Config(
        text_config=dict(hidden_size=2560, intermediate_size=10240, num_hidden_layers=34,
                         num_attention_heads=8, num_key_value_heads=4, head_dim=256,
                         vocab_size=262208),
        vision_config=dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27,
                           num_attention_heads=16, image_size=896, patch_size=14,
                           vision_use_head=False)),
    # meta-llama/Llama-3.2-1B: every field below.
    "llama3.2-1b": LlamaConfig(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                               num_attention_heads=32, num_key_value_heads=8, head_dim=64,
                               vocab_size=128256, tie_word_embeddings=True),
}

GIB = 2**30


@dataclass
class Measured:
    flops: int          # counted flops of the real pass
    pass_seconds: float
    median_seconds: float
    weights: int


def measure(model_dir: str, language: str, tokens: int, seq_len: int, batch_size: int,
            damping: float, repeats: int) -> Measured:
    """Time the real pass on one language of the embedded corpus (medians of ``repeats``),
    count it, and assert that the count from the model's config alone (fake tensors) is the
    same."""
    model, tokenizer = load_model(model_dir), load_tokenizer(model_dir)
    docs = select_documents(shuffled(eld_documents()[language], language, 0), [tokenizer],
                            tokens, seq_len, language, "eld")
    batches = pack_sequences(tokenizer, docs, tokens, seq_len).split(batch_size)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        scores = layer_scores(model, collect_hessians(model, batches), "sparsegpt", damping)
        scored = time.perf_counter()
        binarize(scores, "per_matrix")
        seconds.append((scored - start, time.perf_counter() - scored))
    real, _ = count_flops(lambda: layer_factors(model, collect_hessians(model, batches),
                                                "sparsegpt", damping))
    count = count_config(model.config, seq_len)
    counted = (count.forward + count.gram) * tokens // count.tokens + count.factorization
    assert real == counted, f"{model_dir}: real pass {real:,} FLOP, from its config {counted:,}"
    return Measured(real, statistics.median(s for s, _ in seconds),
                    statistics.median(s for _, s in seconds), count.weights)


def per_language(count: PassCount, tokens: int) -> tuple[int, int]:
    """(bf16 flops, fp32 flops) of one job: the forward runs in the model's bf16, the rest
    in fp32."""
    per_token = tokens // count.tokens
    scoring = 2 * count.weights  # square, times the column factor
    return count.forward * per_token, count.gram * per_token + count.factorization + scoring


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default="params.paper.yaml",
                        help="the paper configuration: languages, datasets, models, tokens")
    parser.add_argument("--bf16-tflops", type=float, default=0.4 * 989,
                        help="assumed sustained bf16 rate of the forward, TFLOP/s (default: "
                             "40%% of an H100 SXM's 989 dense)")
    parser.add_argument("--fp32-tflops", type=float, default=50.0,
                        help="assumed sustained fp32 rate (TF32 off) of XᵀX, Cholesky and "
                             "scoring, TFLOP/s (default 50; H100 SXM fp32 peak is 67)")
    parser.add_argument("--validate", nargs="+",
                        default=["models/gemma3-270m", "models/smollm2-135m"],
                        help="embedded model folders: count checked against the real pass, "
                             "CPU rates measured")
    parser.add_argument("--language", default="fr", help="eld language of the measured pass")
    parser.add_argument("--tokens", type=int, default=1024, help="tokens of the measured pass")
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of the measured pass")
    args = parser.parse_args()

    paper = yaml.safe_load(open(args.params))
    tokens, seq_len = paper["calibration"]["tokens_per_language"], paper["calibration"]["seq_len"]
    jobs = len(paper["languages"]) * len(paper["datasets"])
    damping = paper["signatures"]["damping"]

    print(f"## Validation and CPU rates ({args.tokens} tokens of '{args.language}', "
          f"{torch.get_num_threads()} torch thread(s), medians of {args.repeats})\n")
    print("| embedded model | FLOP of the real pass = count from its config | pass | GFLOP/s "
          "| medians | Mweights/s |\n|---|---|---|---|---|---|")
    measured = {}
    for model_dir in args.validate:
        m = measured[model_dir] = measure(model_dir, args.language, args.tokens, args.seq_len,
                                          args.batch_size, damping, args.repeats)
        print(f"| {model_dir} | {m.flops:,} | {m.pass_seconds:.2f} s | "
              f"{m.flops / m.pass_seconds / 1e9:.1f} | {m.median_seconds:.2f} s | "
              f"{m.weights / m.median_seconds / 1e6:.0f} |")
    cpu_flops = max(m.flops / m.pass_seconds for m in measured.values())
    cpu_medians = max(m.weights / m.median_seconds for m in measured.values())

    print(f"\n## Paper scale: {len(paper['languages'])} languages × {len(paper['datasets'])} "
          f"datasets = {jobs} jobs per model, {tokens:,} tokens per language "
          f"(seq_len {seq_len})\n")
    print("Counted:\n\n| model | block linear weights | Hessians (factors) per language "
          "| forward GFLOP/token | XᵀX GFLOP/token | Cholesky + scoring TFLOP/language "
          "| PFLOP/language | jobs | total PFLOP |\n|---|---|---|---|---|---|---|---|---|")
    counts = {name: count_config(PAPER_MODELS[name], seq_len) for name in paper["models"]}
    for name, c in counts.items():
        bf16, fp32 = per_language(c, tokens)
        print(f"| {name} | {c.weights:,} | {len(c.hessian_widths)} ({sum(c.hessian_widths):,}) | "
              f"{c.forward / c.tokens / 1e9:.2f} | {c.gram / c.tokens / 1e9:.2f} | "
              f"{(c.factorization + 2 * c.weights) / 1e12:.1f} | {(bf16 + fp32) / 1e15:.2f} | "
              f"{jobs} | {(bf16 + fp32) * jobs / 1e15:,.0f} |")
    total = sum(sum(per_language(c, tokens)) for c in counts.values()) * jobs
    print(f"| **all** | | | | | | | {jobs * len(counts)} | {total / 1e15:,.0f} |")

    print(f"\nDerived: GPU hours = jobs × (bf16 FLOP / {args.bf16_tflops:.1f} TFLOP/s + fp32 FLOP "
          f"/ {args.fp32_tflops:.1f} TFLOP/s) (assumed rates); CPU hours = jobs × (FLOP / "
          f"{cpu_flops / 1e9:.1f} GFLOP/s + weights / {cpu_medians / 1e6:.0f} M/s) (measured "
          "here); memory in GiB; storage is the payload (packed bits, fp32 factors).\n")
    print("| model | GPU-hours | CPU-hours here | weights bf16 + Hessians fp32 (peak) "
          "| signature / factor file per job | all jobs: signatures / factor files "
          "| host medians per job here |\n|---|---|---|---|---|---|---|")
    gpu_hours, cpu_hours, stored = [], [], []
    for name, c in counts.items():
        bf16, fp32 = per_language(c, tokens)
        gpu = bf16 / (args.bf16_tflops * 1e12) + fp32 / (args.fp32_tflops * 1e12)
        gpu_hours.append(jobs * gpu / 3600)
        cpu_hours.append(jobs * ((bf16 + fp32) / cpu_flops + c.weights / cpu_medians) / 3600)
        weights, hessians = 2 * c.parameters, 4 * sum(n * n for n in c.hessian_widths)
        peak = weights + hessians + max(hessians, 4 * c.weights)
        bits = sum(-(-o * i // 8) for o, i in c.linear_shapes)  # packed per matrix
        factors = 4 * sum(c.hessian_widths)
        stored.append((jobs * bits, jobs * factors))
        print(f"| {name} | {gpu_hours[-1]:.1f} ({gpu:.0f} s/job) | {cpu_hours[-1]:,.0f} | "
              f"{weights / GIB:.1f} + {hessians / GIB:.1f} ({peak / GIB:.1f}) | "
              f"{bits / 1e6:.0f} MB / {factors / 1e6:.2f} MB | "
              f"{jobs * bits / 1e9:.0f} GB / {jobs * factors / 1e9:.2f} GB | "
              f"{c.weights / cpu_medians:.0f} s |")
    print(f"| **all {jobs * len(counts)} jobs** | {sum(gpu_hours):.1f} | {sum(cpu_hours):,.0f} | "
          f"| | {sum(b for b, _ in stored) / 1e9:.0f} GB / {sum(f for _, f in stored) / 1e9:.2f} GB"
          " | |")

if __name__ == "__main__":
    main()
