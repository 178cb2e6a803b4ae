"""bfloat16 against float32 for the signature pass of one language, per model.

The CPU here reports avx512_bf16. For each model this times, in interleaved rounds, the
forward pass alone and the whole signature pass (forward, ``XᵀX``, scores, medians) with the
model in fp32 and in bf16 (``signatures.dtype``; the Hessians accumulate in fp32 either way),
and counts the share of signature bits that differ between the two. Medians over --repeats.

    python benchmarks/bf16.py --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from langgeo.method.hessians import collect_hessians
from langgeo.method.anatomy import decoder_stack
from langgeo.data.sources import eld_documents, shuffled
from langgeo.data.shards import pack_sequences, select_documents
from langgeo.method.importance import layer_scores
from langgeo.method.models import load_model, load_tokenizer
from langgeo.method.binarize import binarize


@torch.no_grad()
def forward(model, ids: torch.Tensor, batch_size: int) -> None:
    stack = decoder_stack(model)
    for batch in ids.split(batch_size):
        stack(input_ids=batch, use_cache=False)


def signature(model, ids: torch.Tensor, batch_size: int) -> dict[str, np.ndarray]:
    hessians = collect_hessians(model, ids.split(batch_size))
    return binarize(layer_scores(model, hessians, "sparsegpt", 0.01), "per_matrix")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["gemma3-270m", "smollm2-135m"])
    parser.add_argument("--language", default="fr")
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    for name in args.models:
        folder = f"models/{name}"
        tokenizer = load_tokenizer(folder)
        docs = select_documents(shuffled(eld_documents()[args.language], args.language, 0),
                                [tokenizer], args.tokens, args.seq_len, args.language, "eld")
        ids = pack_sequences(tokenizer, docs, args.tokens, args.seq_len)
        models = {dtype: load_model(folder, "cpu", dtype) for dtype in ("float32", "bfloat16")}
        times: dict[str, list[float]] = {}
        bits = {}
        for _ in range(args.repeats):
            for dtype, model in models.items():
                for what, fn in (("forward", lambda: forward(model, ids, args.batch_size)),
                                 ("signature", lambda: signature(model, ids, args.batch_size))):
                    start = time.perf_counter()
                    result = fn()
                    times.setdefault(f"{what} {dtype}", []).append(time.perf_counter() - start)
                    if what == "signature":
                        bits[dtype] = result
        differ = sum(int((bits["float32"][m] != bits["bfloat16"][m]).sum()) for m in bits["float32"])
        total = sum(b.size for b in bits["float32"].values())
        print(f"{name}, {args.language}, {ids.numel()} tokens, {torch.get_num_threads()} threads, "
              f"medians of {args.repeats}:")
        for key, values in times.items():
            print(f"  {key:<20} {ids.numel() / statistics.median(values):7.0f} tok/s")
        for what in ("forward", "signature"):
            ratio = (statistics.median(times[f"{what} float32"])
                     / statistics.median(times[f"{what} bfloat16"]))
            print(f"  {what}: bf16 is {ratio:.2f}x fp32")
        print(f"  bits that differ between fp32 and bf16: {differ / total:.2e} of {total:,}")


if __name__ == "__main__":
    main()
