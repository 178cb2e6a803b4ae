"""Stage ``pruning_matrix``: the panel's model pruned once per panel language, and the held-out
perplexity of every pruned model (and the dense one) on every panel language
(:func:`langgeo.studies.transfer.cross_lingual_matrix`).

Writes ``data/pruning/<model>/<dataset>/matrix.parquet`` (one row per (source, target),
source ``dense`` for the unpruned model: ppl, bits_per_byte, nll_per_token, tokens, bytes, R,
sparsity) and ``.../masks/<lang>.parquet`` (the kept weights of the model pruned with each
language, in the signature file format: 1 = kept). The forward passes of the study, kept
apart from the transfer test so that a change of the distances does not repeat them.
"""

from __future__ import annotations

import time

import torch

from langgeo.formats.signature_file import write_signature
from langgeo.formats.storage import atomic_path
from langgeo.layout import Layout
from langgeo.method.models import load_model, load_tokenizer
from langgeo.params import Params, parse_pattern
from langgeo.studies.transfer import cross_lingual_matrix, panel_texts, pruning_model


def run(params: Params, layout: Layout) -> str:
    name, pr = pruning_model(params), params.pruning
    params.dataset(pr.dataset)
    torch.manual_seed(params.seed)
    pattern = parse_pattern(pr.sparsity, pr.pattern)
    model = load_model(layout.model(name), params.signatures.device)
    tokenizer = load_tokenizer(layout.model(name))
    texts = panel_texts(params, tokenizer)
    start = time.perf_counter()
    cross, pruned, perplexity_s = cross_lingual_matrix(model, texts, pr.method, pattern,
                                                       pr.damping, pr.batch_size,
                                                       dtype=pr.dtype)
    elapsed = time.perf_counter() - start
    out = layout.pruning_data(name, pr.dataset)
    with atomic_path(out) as tmp:
        (tmp / "masks").mkdir(parents=True)
        cross.table().to_parquet(tmp / "matrix.parquet", index=False)
        for a, result in pruned.items():
            write_signature(tmp / "masks" / f"{a}.parquet",
                            {m: ~mask.numpy() for m, mask in result.masks.items()},
                            {"model": name, "dataset": pr.dataset, "language": a,
                             "tokens": result.n_tokens, "score": f"{pr.method}-mask",
                             "pattern": pattern.name, "damping": pr.damping,
                             "seed": params.seed})
    pruning_s = sum(r.seconds for r in pruned.values())
    return (f"pruning matrix: {name} pruned {pattern.name} {pattern.target:.0%} ({pr.method}) "
            f"with each of {len(texts)} languages, {len(texts) + 1} x {len(texts)} "
            f"perplexities ({pr.dtype} forward) in {elapsed:.0f} s ({pruning_s:.0f} s "
            f"pruning, {perplexity_s:.0f} s perplexity) -> {out}")
