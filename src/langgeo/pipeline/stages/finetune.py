"""Stage ``finetune``: the reports of the fine-tuning study (:mod:`langgeo.studies.freezing`)
from stage ``finetune_matrix``'s data. Does full fine-tuning lower the alignment of the early
layers, and does freezing them keep it and transfer better?

Writes ``reports/finetune/``: ``freezing.csv`` (G on the source and on the other languages per
mode, frozen minus full, with bootstrap intervals over targets and the sign-flip p-value),
``alignment.csv`` (ILO, controls and retrieval per layer: base, and each (mode, source)),
``alignment_change.csv`` (the change from the base in the early and the later layers),
``summary.json`` (settings, the frozen blocks, the tables' headline numbers) and the figures
``gain.png`` and ``alignment.png``; logs the MLflow run (experiment
``<tracking.experiment>-finetune``).
"""

from __future__ import annotations

import json

import pandas as pd

from langgeo import LanggeoError
from langgeo.formats.storage import atomic_path
from langgeo.layout import Layout
from langgeo.params import Params
from langgeo.pipeline.runs import track_finetune
from langgeo.report.study_figures import freezing_alignment_figure, freezing_gain_figure
from langgeo.studies.freezing import alignment_change, freezing_comparison


def gain_matrices(params: Params, layout: Layout) -> dict[str, pd.DataFrame]:
    """mode -> ``G`` over ``finetune.panel`` (rows: sources, columns: targets, in order)."""
    ft, pr = params.finetune, params.pruning
    folder = layout.finetune_data(ft.model, pr.dataset)
    out = {}
    for mode in ft.modes:
        path = folder / f"{mode}.parquet"
        if not path.is_file():
            raise LanggeoError(f"{path} not found; run `dvc repro finetune_matrix`")
        table = pd.read_parquet(path)
        tuned = table[table["source"] != "base"]
        gain = tuned.pivot(index="source", columns="target", values="gain")
        codes = list(ft.panel)
        if sorted(gain.index) != sorted(codes) or sorted(gain.columns) != sorted(codes):
            raise LanggeoError(f"{path} holds languages {sorted(gain.index)}, not the panel "
                               f"{codes} of params; run `dvc repro finetune_matrix`")
        out[mode] = gain.loc[codes, codes]
    return out


def run(params: Params, layout: Layout) -> str:
    ft, pr = params.finetune, params.pruning
    if ft is None or pr is None:
        raise LanggeoError("params: the fine-tuning study needs the 'finetune' and 'pruning' "
                           "sections; see params.yaml in the repository")
    folder = layout.finetune_data(ft.model, pr.dataset)
    gains = gain_matrices(params, layout)
    if not (folder / "settings.json").is_file():
        raise LanggeoError(f"{folder / 'settings.json'} not found (data of an older "
                           "finetune_matrix); run `dvc repro finetune_matrix`")
    settings = json.loads((folder / "settings.json").read_text())
    comparison = freezing_comparison({m: g.to_numpy() for m, g in gains.items()},
                                     seed=params.seed)
    alignment = change = None
    if (folder / "alignment.parquet").is_file():
        alignment = pd.read_parquet(folder / "alignment.parquet")
        # Hidden state i is the output of block i - 1: freezing blocks 0 … f - 1 leaves the
        # states 0 … f (the embedding output included) as the base model's.
        change = alignment_change(alignment, early=settings["frozen_blocks"])
    summary = {"model": ft.model, "dataset": pr.dataset, "panel": list(ft.panel),
               "lr": ft.lr, "steps": ft.steps, "batch_size": ft.batch_size, "dtype": ft.dtype,
               "frozen": settings["frozen"], "frozen_blocks": settings["frozen_blocks"],
               "blocks": settings["blocks"], "modes": settings["modes"],
               "freezing": comparison.to_dict("records"),
               "alignment": settings.get("alignment"),
               "alignment_change": None if change is None else change.to_dict("records")}
    out = layout.finetune()
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        comparison.to_csv(tmp / "freezing.csv", index=False, float_format="%.5f")
        freezing_gain_figure(tmp / "gain.png", comparison, ft.model)
        if alignment is not None:
            alignment.to_csv(tmp / "alignment.csv", index=False, float_format="%.5f")
            change.to_csv(tmp / "alignment_change.csv", index=False, float_format="%.5f")
            freezing_alignment_figure(tmp / "alignment.png", alignment,
                                      settings["frozen_blocks"], ft.model)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True)
                                          + "\n")
    tracked = track_finetune(params, layout)
    lines = [f"  {r.mode} on {r.on}: G {r.mean:+.4f} [{r.ci_low:+.4f}, {r.ci_high:+.4f}]"
             + (f", p {r.p:.3f}" if pd.notna(r.p) else "") for r in comparison.itertuples()]
    if change is not None:
        lines += [f"  {r.mode} on {r.source}: ILO change early {r.ilo_early:+.4f}, later "
                  f"{r.ilo_late:+.4f}; retrieval early {r.retrieval_early:+.4f}, later "
                  f"{r.retrieval_late:+.4f}" for r in change.itertuples()]
    return (f"fine-tuning reports ({ft.model}, frozen: {settings['frozen']}) -> {out}; "
            f"{tracked.status()}\n" + "\n".join(lines))
