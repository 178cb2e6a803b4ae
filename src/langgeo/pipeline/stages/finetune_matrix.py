"""Stage ``finetune_matrix``: the model fine-tuned once per panel language, and its held-out
bits per byte on every panel language after each (:func:`langgeo.studies.finetune.
transfer_gain_matrix`), for every mode of ``finetune.modes`` (``full``; ``frozen``: the early
blocks, embeddings, final norm and LM head frozen).

Writes ``data/finetune/<model>/<dataset>/<mode>.parquet`` (one row per (source, target), the
base model as source ``base``: the perplexity values, ``gain`` G[a, b] = L_base[b] − L_a[b]
in bits per byte, ``relative_gain``, the source's training time and first and last loss) and
``<mode>.curves.parquet`` (the loss at every step). The forward and backward passes of the
study, kept apart from the rankings so that a change of the distances does not repeat them.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from langgeo import LanggeoError
from langgeo.formats.storage import atomic_path
from langgeo.layout import Layout
from langgeo.method.models import load_model, load_tokenizer
from langgeo.params import Params
from langgeo.studies.finetune import freeze_early, transfer_gain_matrix
from langgeo.studies.transfer import panel_texts


def run(params: Params, layout: Layout) -> str:
    ft, pr = params.finetune, params.pruning
    if ft is None or pr is None:
        raise LanggeoError("params: the fine-tuning study needs the 'finetune' and 'pruning' "
                           "sections; see params.yaml in the repository")
    params.model(ft.model)
    # Checked here, not when params are read, as the pruning panel is (a preset may change it).
    outside = [c for c in ft.panel if c not in pr.panel]
    if outside:
        raise LanggeoError(f"params: 'finetune.panel' has {outside}, which are not in "
                           "'pruning.panel' (the fine-tuning study uses its windows and held-out "
                           "text)")
    torch.manual_seed(params.seed)
    model = load_model(layout.model(ft.model))
    tokenizer = load_tokenizer(layout.model(ft.model))
    texts = panel_texts(params, tokenizer, list(ft.panel))
    out = layout.finetune_data(ft.model, pr.dataset)
    lines, start = [], time.perf_counter()
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        for mode in ft.modes:
            frozen = freeze_early(model, ft.frozen_fraction) if mode == "frozen" else []
            gain = transfer_gain_matrix(model, texts, lr=ft.lr, steps=ft.steps,
                                        batch_size=ft.batch_size, dtype=ft.dtype,
                                        frozen=frozen, seed=params.seed,
                                        eval_batch_size=pr.batch_size,
                                        eval_dtype=ft.eval_dtype)
            gain.table().to_parquet(tmp / f"{mode}.parquet", index=False)
            gain.curves().to_parquet(tmp / f"{mode}.curves.parquet", index=False)
            g = gain.gain()
            off = g[~np.eye(len(g), dtype=bool)]
            train = sum(r.seconds for r in gain.runs.values())
            lines.append(f"  {mode}: {len(frozen)} parameter tensors frozen; G on the source "
                         f"{g.diagonal().mean():+.4f}, on the others {off.mean():+.4f} bits/byte "
                         f"(mean); {train:.0f} s training, {gain.measure_seconds:.0f} s "
                         "measuring")
    return (f"fine-tuning matrix: {ft.model} on each of {len(texts)} languages, {ft.steps} "
            f"steps at lr {ft.lr:g} ({ft.dtype}), modes {list(ft.modes)} in "
            f"{time.perf_counter() - start:.0f} s -> {out}\n" + "\n".join(lines))
