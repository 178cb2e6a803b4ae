"""Stage ``rankings``: which distance picks the best source language for a target? The protocol
of the transfer-source literature (:mod:`langgeo.evaluation.ranking`: NDCG@3, top-1
performance loss, Spearman per target and pooled, bootstrap intervals over targets) for every
distance, against two kinds of transfer: pruning with the source's text (performance ``-R``
of the pruning matrix) and fine-tuning on it (the gain ``G`` of each fine-tuning mode).

The rankers: our ensemble and each (model, dataset) pair, the URIEL+ distances, script
identity, random, the pruning masks' Hamming distance, and the representation distance of
every layer of the studied model (stage interlingua). Writes ``reports/rankings/``:
``rankings.csv`` (one row per experiment and ranker) and ``summary.json``; logs the MLflow run
(experiment ``<tracking.experiment>-rankings``).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from langgeo import LanggeoError
from langgeo.evaluation.baselines import baseline_distances
from langgeo.evaluation.ranking import SUMMARIES, evaluate_rankers
from langgeo.formats.matrix_file import read_matrix
from langgeo.formats.storage import atomic_path
from langgeo.geometry.hamming import distances_from_files
from langgeo.layout import Layout
from langgeo.params import Params
from langgeo.pipeline.runs import track_rankings
from langgeo.studies.transfer import CrossLingual, pruning_model


def _on(codes: list[str], matrix: np.ndarray, subset: list[str]) -> np.ndarray | None:
    """``matrix`` (over ``codes``) restricted to ``subset``, None when it lacks one of them."""
    if any(c not in codes for c in subset):
        return None
    at = [codes.index(c) for c in subset]
    return matrix[np.ix_(at, at)]


def rankers(params: Params, layout: Layout, panel: list[str], model: str
            ) -> dict[str, np.ndarray]:
    """Every distance over ``panel``: name -> ``(n, n)``."""
    out = {}
    codes, ensemble = read_matrix(layout.ensemble_distances())
    out["ours"] = _on(codes, ensemble, panel)
    for m, d in params.pairs():
        out[f"pair {m}/{d}"] = _on(*read_matrix(layout.pair_distances(m, d)), panel)
    labels = pd.read_parquet(layout.labels()).set_index("code")
    for name, b in baseline_distances(panel, labels.loc[panel, "iso639_3"].tolist(),
                                      params.seed, params.baselines.uriel_kinds,
                                      params.baselines.missing).items():
        if name != "random":  # the ranking protocol brings its own random ranker
            out[name] = b.distances
    pr = params.pruning
    masks = layout.pruning_data(pruning_model(params), pr.dataset) / "masks"
    out[f"{pr.method} masks"] = distances_from_files([masks / f"{c}.parquet" for c in panel])
    layers = sorted(layout.representation_distances(model).glob("layer_*.parquet"))
    for path in layers:
        out[f"representation {path.stem}"] = _on(*read_matrix(path), panel)
    return {name: d for name, d in out.items() if d is not None}


def run(params: Params, layout: Layout) -> str:
    pr, ft = params.pruning, params.finetune
    if pr is None:
        raise LanggeoError("params: no 'pruning' section; see params.yaml in the repository")
    name = pruning_model(params)
    experiments = {}
    pruning = CrossLingual.from_table(pd.read_parquet(
        layout.pruning_data(name, pr.dataset) / "matrix.parquet"))
    experiments["pruning"] = (pruning.languages, -pruning.cost(), name)
    if ft is not None:
        folder = layout.finetune_data(ft.model, pr.dataset)
        for mode in ft.modes:
            table = pd.read_parquet(folder / f"{mode}.parquet")
            tuned = table[table["source"] != "base"]
            gain = tuned.pivot(index="source", columns="target", values="gain")
            codes = list(ft.panel)
            experiments[f"finetune {mode}"] = (codes, gain.loc[codes, codes].to_numpy(),
                                               ft.model)
    rows, summary = [], {}
    for experiment, (codes, performance, model) in experiments.items():
        results = evaluate_rankers(rankers(params, layout, codes, model), performance,
                                   seed=params.seed, codes=codes)
        summary[experiment] = {"languages": codes, "model": model, "rankers": results}
        for ranker, r in results.items():
            rows.append({"experiment": experiment, "ranker": ranker, "n_targets": r["n_targets"],
                         **{k: r[k] for s in SUMMARIES for k in (s, f"{s}_ci_low",
                                                                  f"{s}_ci_high")}})
    table = pd.DataFrame(rows)
    with atomic_path(layout.rankings()) as tmp:
        tmp.mkdir(parents=True)
        table.to_csv(tmp / "rankings.csv", index=False, float_format="%.5f")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    tracked = track_rankings(params, layout)
    lines = []
    for experiment, group in table.groupby("experiment", sort=False):
        best = group.sort_values("ndcg", ascending=False).head(3)
        ours = group[group["ranker"] == "ours"].iloc[0]
        lines.append(f"  {experiment}: ours NDCG@3 {ours['ndcg']:.3f} "
                     f"[{ours['ndcg_ci_low']:.3f}, {ours['ndcg_ci_high']:.3f}], top-1 loss "
                     f"{ours['top1_loss']:.4f}, pooled rho {ours['pooled_spearman']:.3f}; best "
                     + ", ".join(f"{r.ranker} {r.ndcg:.3f}" for r in best.itertuples()))
    return (f"rankings: {len(table)} rows -> {layout.rankings()}; {tracked.status()}\n"
            + "\n".join(lines))
