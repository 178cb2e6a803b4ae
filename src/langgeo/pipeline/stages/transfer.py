"""Stage ``transfer``: does our distance predict what pruning with one language's text costs
another? The transfer test of :mod:`langgeo.studies.transfer` on the pruning matrix, against
our distances, the pruning masks' own geometry and the baselines.

Reads ``data/pruning/<model>/<dataset>/`` (stage ``pruning_matrix``); writes
``reports/pruning/``: ``transfer.json`` (summary and tests), ``matrix.csv``, ``cost.png``,
``scatter.png``. Cheap: a change of the distances re-runs this stage alone.
"""

from __future__ import annotations

import pandas as pd

from langgeo import LanggeoError
from langgeo.evaluation.baselines import baseline_distances
from langgeo.evaluation.protocol import mantel_test
from langgeo.formats.storage import atomic_path, check_parquet_files, write_json
from langgeo.geometry.hamming import distances_from_files
from langgeo.layout import Layout
from langgeo.params import Params, parse_pattern
from langgeo.pipeline.runs import track_transfer
from langgeo.report.study_figures import transfer_cost_figure, transfer_scatter_figure
from langgeo.studies.transfer import (
    CrossLingual,
    lsp_summary,
    panel_distances,
    pruning_model,
    transfer_tests,
)


def run(params: Params, layout: Layout) -> str:
    name, pr = pruning_model(params), params.pruning
    pattern = parse_pattern(pr.sparsity, pr.pattern)
    folder = layout.pruning_data(name, pr.dataset)
    codes = list(pr.panel)
    fix = "Restore it with `dvc checkout data/pruning` or run `dvc repro pruning_matrix`"
    check_parquet_files([folder / "matrix.parquet"]
                        + [folder / "masks" / f"{a}.parquet" for a in codes], fix)
    cross = CrossLingual.from_table(pd.read_parquet(folder / "matrix.parquet"))
    if cross.languages != codes:
        raise LanggeoError(f"{folder} holds the panel {cross.languages}, not params "
                           f"'pruning.panel' {codes}; run `dvc repro pruning_matrix`")
    distance_name, ours = panel_distances(params, layout)
    labels = pd.read_parquet(layout.labels()).set_index("code")
    iso3 = labels.loc[codes, "iso639_3"].tolist()
    baselines = baseline_distances(codes, iso3, params.seed, params.baselines.uriel_kinds,
                                   params.baselines.missing)
    cost = cross.cost()
    # The masks are signatures too: their Hamming geometry.
    masks = distances_from_files([folder / "masks" / f"{a}.parquet" for a in codes])
    geometries = {"ours": ours, f"{pr.method}_mask": masks,
                  **{k: b.distances for k, b in baselines.items()}}
    tests = transfer_tests(codes, cost, geometries, pr.permutations, params.seed)
    mask_rho, mask_p = mantel_test(ours, masks, pr.permutations, params.seed)
    lsp = lsp_summary(cross)
    summary = {
        "model": name, "dataset": pr.dataset, "method": pr.method, "pattern": pattern.name,
        "sparsity": cross.sparsity, "distances": distance_name, "panel": codes,
        "dense": {b: cross.ppl["dense", b] for b in codes},
        "lsp": lsp, "tests": tests,
        "mask_vs_ours_mantel": {"spearman_rho": mask_rho, "p": mask_p},
    }
    with atomic_path(layout.pruning()) as tmp:
        tmp.mkdir(parents=True)
        cross.table().to_csv(tmp / "matrix.csv", index=False, float_format="%.6g")
        transfer_cost_figure(tmp / "cost.png", codes, cost,
                             f"R[a, b], {name} pruned {pattern.name} "
                             f"{pattern.target:.0%} ({pr.method})")
        transfer_scatter_figure(tmp / "scatter.png", codes, ours, cost, tests["ours"]["rho"],
                                tests["ours"]["p"], f"our distance d(a, b) ({distance_name})")
        write_json(summary, tmp / "transfer.json")
    tracked = track_transfer(params, layout)
    ours_test = tests["ours"]
    lines = [f"transfer: {len(codes)} languages, {name} {pr.method} {pattern.name}; d vs R "
             f"Spearman {ours_test['rho']:.3f} (p {ours_test['p']:.4f}), mean per target "
             f"{ours_test['mean_target_rho']:.3f} (p {ours_test['mean_target_p']:.4f})"]
    lines += [f"  {g}: rho {t['rho']:.3f} (p {t['p']:.4f})" for g, t in tests.items()
              if g != "ours"]
    if lsp:
        lines.append(f"  own-language pruning beats {lsp['reference']}-pruning for "
                     f"{lsp['own_beats_reference']} of {lsp['targets']} targets")
    lines.append(f"  -> {layout.pruning()}; {tracked.status()}")
    return "\n".join(lines)
