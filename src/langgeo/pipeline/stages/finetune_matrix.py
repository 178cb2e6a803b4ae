"""Stage ``finetune_matrix``: the model fine-tuned once per panel language, and its held-out
bits per byte on every panel language after each (:func:`langgeo.studies.finetune.
transfer_gain_matrix`), for every mode of ``finetune.modes`` (``full``; ``frozen``: the early
blocks, embeddings, final norm and LM head frozen); and, for the base model and after
fine-tuning on each of ``finetune.alignment_sources``, ILO and retrieval per layer on the
panel's UDHR units (:func:`langgeo.studies.freezing.alignment_per_layer`), measured before the
base weights are restored since the fine-tuned models are not kept.

Writes ``data/finetune/<model>/<dataset>/``: ``<mode>.parquet`` (one row per (source, target),
the base model as source ``base``: the perplexity values, ``gain`` G[a, b] = L_base[b] − L_a[b]
in bits per byte, ``relative_gain``, the source's training time and first and last loss),
``<mode>.curves.parquet`` (the loss at every step), ``alignment.parquet`` (one row per (mode,
source, layer), the base as mode and source ``base``) and ``settings.json`` (the blocks frozen,
the parameters trained per mode, the units aligned). The forward and backward passes of the
study, kept apart from its reports (stage ``finetune``) and the rankings.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import torch

from langgeo import LanggeoError
from langgeo.data import udhr
from langgeo.data.udhr import udhr_declaration
from langgeo.formats.storage import atomic_path
from langgeo.layout import Layout
from langgeo.method.anatomy import transformer_blocks
from langgeo.method.models import load_model, load_tokenizer
from langgeo.params import Params
from langgeo.studies.finetune import freeze_early, frozen_block_count, transfer_gain_matrix
from langgeo.studies.freezing import alignment_per_layer
from langgeo.studies.interlingua import check_neighbourhood, shared_units
from langgeo.studies.representations import Units, pairwise_units
from langgeo.studies.transfer import panel_texts


def alignment_units(params: Params) -> Units | None:
    """The panel's UDHR units for the alignment measurements (None without alignment
    sources), checked before any fine-tuning."""
    ft, il = params.finetune, params.interlingua
    if not ft.alignment_sources:
        return None
    outside = [c for c in ft.alignment_sources if c not in ft.panel]
    if outside:
        raise LanggeoError(f"params: 'finetune.alignment_sources' has {outside}, which are not "
                           f"in 'finetune.panel' {list(ft.panel)}")
    declarations = {c: udhr_declaration(c) for c in ft.panel}
    missing = [c for c, d in declarations.items() if d is None]
    if missing:
        raise LanggeoError(f"finetune: panel language(s) {missing} have no UDHR declaration, "
                           "so the alignment after fine-tuning cannot be measured on them; "
                           "drop them from 'finetune.panel' or empty "
                           "'finetune.alignment_sources'")
    units = pairwise_units({c: udhr.units(d) for c, d in declarations.items()},
                           ft.alignment_units)
    check_neighbourhood(len(ft.panel), min(map(len, units.ids.values())), il.k, il.t)
    return units


def run(params: Params, layout: Layout) -> str:
    ft, pr, il = params.finetune, params.pruning, params.interlingua
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
    units = alignment_units(params)
    torch.manual_seed(params.seed)
    model = load_model(layout.model(ft.model))
    tokenizer = load_tokenizer(layout.model(ft.model))
    texts = panel_texts(params, tokenizer, list(ft.panel))
    n_blocks = len(transformer_blocks(model)[1])
    frozen_blocks = frozen_block_count(n_blocks, ft.frozen_fraction)
    out = layout.finetune_data(ft.model, pr.dataset)
    alignment, aligning = [], 0.0

    def align(mode: str, source: str) -> None:
        nonlocal aligning
        if units is None or (source != "base" and source not in ft.alignment_sources):
            return
        start = time.perf_counter()
        table = alignment_per_layer(model, tokenizer, units, k=il.k, t=il.t, seed=il.seed,
                                    pooling=il.pooling, batch_size=il.batch_size,
                                    dtype=ft.eval_dtype)
        alignment.append(table.assign(mode=mode, source=source))
        aligning += time.perf_counter() - start

    lines, start = [], time.perf_counter()
    settings = {"model": ft.model, "blocks": n_blocks, "frozen_blocks": frozen_blocks,
                "frozen": (f"token embeddings, blocks 0-{frozen_blocks - 1} of {n_blocks}, "
                           "the final norm and the LM head"), "modes": {}}
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        align("base", "base")
        for mode in ft.modes:
            frozen = freeze_early(model, ft.frozen_fraction) if mode == "frozen" else []
            gain = transfer_gain_matrix(model, texts, lr=ft.lr, steps=ft.steps,
                                        batch_size=ft.batch_size, dtype=ft.dtype,
                                        frozen=frozen, seed=params.seed,
                                        eval_batch_size=pr.batch_size,
                                        eval_dtype=ft.eval_dtype,
                                        after_source=lambda a, m=mode: align(m, a))
            gain.table().to_parquet(tmp / f"{mode}.parquet", index=False)
            gain.curves().to_parquet(tmp / f"{mode}.curves.parquet", index=False)
            trained = next(iter(gain.runs.values())).trained
            settings["modes"][mode] = {"frozen_tensors": len(frozen), "trained_parameters":
                                       trained}
            g = gain.gain()
            off = g[~np.eye(len(g), dtype=bool)]
            train = sum(r.seconds for r in gain.runs.values())
            lines.append(f"  {mode}: {len(frozen)} parameter tensors frozen, {trained:,} "
                         f"trained; G on the source {g.diagonal().mean():+.4f}, on the others "
                         f"{off.mean():+.4f} bits/byte (mean); {train:.0f} s training, "
                         f"{gain.measure_seconds:.0f} s measuring")
        if units is not None:
            shared = shared_units(units.slots())
            settings["alignment"] = {
                "sources": list(ft.alignment_sources),
                "units_per_language": {c: len(ids) for c, ids in units.ids.items()},
                "units_per_pair_min": int(shared[np.triu_indices_from(shared, 1)].min())}
            pd.concat(alignment, ignore_index=True).to_parquet(tmp / "alignment.parquet",
                                                               index=False)
            lines.append(f"  alignment: base + {len(alignment) - 1} fine-tuned models x "
                         f"{len(ft.panel)} languages x {ft.alignment_units} UDHR units in "
                         f"{aligning:.0f} s")
        (tmp / "settings.json").write_text(json.dumps(settings, indent=2, sort_keys=True)
                                           + "\n")
    return (f"fine-tuning matrix: {ft.model} on each of {len(texts)} languages, {ft.steps} "
            f"steps at lr {ft.lr:g} ({ft.dtype}), modes {list(ft.modes)}, frozen: "
            f"{settings['frozen']}, in {time.perf_counter() - start:.0f} s -> {out}\n"
            + "\n".join(lines))
