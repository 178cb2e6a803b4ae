"""Stage ``synthetic``: the synthetic ground truth, variants of one text at known strengths whose
distances to the base text must grow with the strength (``reports/synthetic.csv``)."""

from __future__ import annotations

import pandas as pd
import torch

from langgeo.data.sources import calibration_documents
from langgeo.formats.storage import atomic_path
from langgeo.layout import Layout
from langgeo.method.models import load_model, load_tokenizer
from langgeo.params import Params
from langgeo.report.study_figures import synthetic_figure
from langgeo.studies.synthetic import (
    base_and_reference,
    make_variants,
    summary_line,
    synthetic_distances,
)


def run(params: Params, layout: Layout) -> str:
    spec = params.synthetic_dataset()
    syn = params.synthetic
    torch.manual_seed(syn.seed)
    sig = params.signatures
    tokenizers = {m.name: load_tokenizer(layout.model(m.name)) for m in params.models}
    base, reference = base_and_reference(
        calibration_documents(spec, syn.language, syn.seed),
        list(tokenizers.values()), syn.tokens, params.calibration.seq_len, syn.language,
        spec.name)
    variants = make_variants(base, reference, syn.transformations, syn.seed)
    tables = []
    for name, tokenizer in tokenizers.items():
        model = load_model(layout.model(name), sig.device, sig.dtype)
        table = synthetic_distances(
            model, tokenizer, variants, syn.tokens, params.calibration.seq_len, sig.score,
            sig.binarization, sig.damping, sig.batch_size, name, sig.hessian_dtype)
        print(f"synthetic ({name}): {len(variants)} variants x {syn.tokens} tokens in "
              f"{table.attrs['seconds']:.0f} s")
        tables.append(table)
        del model
    table = pd.concat(tables, ignore_index=True)
    table.insert(1, "language", syn.language)
    with atomic_path(layout.synthetic()) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6f")
    figure = synthetic_figure(layout.synthetic().with_suffix(".png"), table)
    return summary_line(table) + f" -> {layout.synthetic()}, {figure}"
