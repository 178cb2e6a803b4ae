"""Stage ``transfer``: the cross-lingual pruning matrix and the transfer test
(:mod:`langgeo.studies.transfer`).

Writes ``data/pruning/<model>/<dataset>/matrix.parquet`` (one row per (source, target), source
``dense`` for the unpruned model: ppl, bits_per_byte, nll_per_token, tokens, bytes, R,
sparsity), ``.../masks/<lang>.parquet`` (the kept weights of the model pruned with each
language, in the signature file format: 1 = kept), and ``reports/pruning/``: ``transfer.json``
(summary and tests), ``matrix.csv``, ``cost.png``, ``scatter.png``. Its MLflow run holds the
timings, which stay out of the outputs so that the same inputs give the same bytes.
"""

from __future__ import annotations

import time

import pandas as pd
import torch

from langgeo.evaluation.baselines import baseline_distances
from langgeo.evaluation.protocol import mantel_test
from langgeo.formats.signature_file import write_signature
from langgeo.formats.storage import atomic_path, write_json
from langgeo.geometry.hamming import distances_from_files
from langgeo.layout import Layout
from langgeo.method.models import load_model, load_tokenizer
from langgeo.params import Params, parse_pattern
from langgeo.pipeline.runs import track_transfer
from langgeo.report.study_figures import transfer_cost_figure, transfer_scatter_figure
from langgeo.studies.transfer import (
    cross_lingual_matrix,
    lsp_summary,
    panel_distances,
    panel_texts,
    pruning_model,
    transfer_tests,
)


def run(params: Params, layout: Layout) -> str:
    name, pr = pruning_model(params), params.pruning
    params.dataset(pr.dataset)
    torch.manual_seed(params.seed)
    pattern = parse_pattern(pr.sparsity, pr.pattern)
    # Inputs that can fail are read before the long computation.
    distance_name, ours = panel_distances(params, layout)
    labels = pd.read_parquet(layout.labels()).set_index("code")
    iso3 = labels.loc[list(pr.panel), "iso639_3"].tolist()
    baselines = baseline_distances(list(pr.panel), iso3, params.seed,
                                   params.baselines.uriel_kinds, params.baselines.missing)
    model = load_model(layout.model(name), params.signatures.device)
    tokenizer = load_tokenizer(layout.model(name))
    texts = panel_texts(params, tokenizer)
    start = time.perf_counter()
    cross = cross_lingual_matrix(model, texts, pr.method, pattern, pr.damping, pr.batch_size)
    elapsed = time.perf_counter() - start
    cost = cross.cost()
    codes = list(pr.panel)
    table = cross.table()
    with atomic_path(layout.pruning_data(name, pr.dataset)) as tmp:
        (tmp / "masks").mkdir(parents=True)
        table.to_parquet(tmp / "matrix.parquet", index=False)
        for a, result in cross.pruned.items():
            write_signature(tmp / "masks" / f"{a}.parquet",
                            {m: ~mask.numpy() for m, mask in result.masks.items()},
                            {"model": name, "dataset": pr.dataset, "language": a,
                             "tokens": result.n_tokens, "score": f"{pr.method}-mask",
                             "pattern": pattern.name, "damping": pr.damping,
                             "seed": params.seed})
        # The masks are signatures too: their Hamming geometry.
        masks = distances_from_files([tmp / "masks" / f"{a}.parquet" for a in codes])
    geometries = {"ours": ours, f"{pr.method}_mask": masks,
                  **{k: b.distances for k, b in baselines.items()}}
    tests = transfer_tests(codes, cost, geometries, pr.permutations, params.seed)
    mask_rho, mask_p = mantel_test(ours, masks, pr.permutations, params.seed)
    lsp = lsp_summary(cross)
    summary = {
        "model": name, "dataset": pr.dataset, "method": pr.method, "pattern": pattern.name,
        "sparsity": {a: r.sparsity for a, r in cross.pruned.items()},
        "distances": distance_name, "panel": codes,
        "dense": {b: cross.ppl["dense", b].as_dict() for b in codes},
        "lsp": lsp, "tests": tests,
        "mask_vs_ours_mantel": {"spearman_rho": mask_rho, "p": mask_p},
    }
    with atomic_path(layout.pruning()) as tmp:
        tmp.mkdir(parents=True)
        table.to_csv(tmp / "matrix.csv", index=False, float_format="%.6g")
        transfer_cost_figure(tmp / "cost.png", codes, cost,
                             f"R[a, b], {name} pruned {pattern.name} "
                             f"{pattern.target:.0%} ({pr.method})")
        transfer_scatter_figure(tmp / "scatter.png", codes, ours, cost, tests["ours"]["rho"],
                                tests["ours"]["p"], f"our distance d(a, b) ({distance_name})")
        write_json(summary, tmp / "transfer.json")
    tracked = track_transfer(params, layout, {
        "total": elapsed, "perplexity": cross.seconds_perplexity,
        "pruning": sum(r.seconds for r in cross.pruned.values())})
    ours_test = tests["ours"]
    lines = [f"transfer: {len(codes)} languages, {name} {pr.method} {pattern.name} in "
             f"{elapsed:.0f} s; d vs R Spearman {ours_test['rho']:.3f} (p {ours_test['p']:.4f}), "
             f"mean per target {ours_test['mean_target_rho']:.3f} "
             f"(p {ours_test['mean_target_p']:.4f})"]
    lines += [f"  {g}: rho {t['rho']:.3f} (p {t['p']:.4f})" for g, t in tests.items()
              if g != "ours"]
    if lsp:
        lines.append(f"  own-language pruning beats {lsp['reference']}-pruning for "
                     f"{lsp['own_beats_reference']} of {lsp['targets']} targets")
    lines.append(f"  -> {layout.pruning()}, {layout.pruning_data(name, pr.dataset)}; "
                 f"{tracked.status()}")
    return "\n".join(lines)
