"""Stage ``robust``: the geometry restricted to, or weighted towards, the blocks where one
language's two scripts are closest (:mod:`langgeo.studies.robust_geometry`), each model's
blocks read from its script experiment (``reports/scripts/<model>/``), every variant
ensembled over the (model, dataset) pairs like the ``distances`` stage and judged by the
``evaluate`` stage's protocol, with Mantel tests against script identity and genealogy;
``reports/robust/`` (metrics.json, comparison.csv)."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from langgeo import LanggeoError
from langgeo.data.udhr import language_script
from langgeo.evaluation.baselines import script_distances, uriel_distances
from langgeo.evaluation.protocol import mantel_test, partial_mantel_test
from langgeo.formats.storage import atomic_path, check_parquet_files, write_json
from langgeo.geometry.ensemble import ensemble
from langgeo.geometry.hamming import TOTAL, module_groups
from langgeo.layout import Layout
from langgeo.params import Params
from langgeo.pipeline.counts import pair_counts
from langgeo.pipeline.inputs import check_signatures
from langgeo.pipeline.runs import track_robust
from langgeo.pipeline.stages.evaluate import protocol
from langgeo.report.summary import robust_summary
from langgeo.studies.robust_geometry import (
    block_weights,
    share_name,
    variant_table,
    weighted_distances,
)


def _criterion(layout: Layout, model: str) -> tuple[pd.DataFrame, list[int]]:
    """The model's per-block criterion and the blocks its script experiment chose."""
    folder = layout.scripts(model)
    if not (folder / "layers.csv").is_file() or not (folder / "summary.json").is_file():
        raise LanggeoError(f"{folder} has no layers.csv and summary.json; run the script "
                           f"experiment first (`dvc repro scripts@{model}`)")
    summary = json.loads((folder / "summary.json").read_text())
    return pd.read_csv(folder / "layers.csv"), list(summary["script_robust_layers"])


def run(params: Params, layout: Layout) -> str:
    if params.scripts is None:
        raise LanggeoError("params: no 'scripts' section; the robust geometry takes its blocks "
                           "from the script experiment (see params.yaml in the repository)")
    start = time.perf_counter()
    share = params.scripts.layer_share
    weights = {}
    for model in params.models:
        criterion, chosen = _criterion(layout, model.name)
        weights[model.name] = block_weights(criterion, share)
        if sorted(map(int, weights[model.name][share_name(share)])) != sorted(chosen):
            raise LanggeoError(f"{layout.scripts(model.name)} was written with another "
                               "'scripts.layer_share'; re-run `dvc repro scripts@"
                               f"{model.name}`")
    store_bits = params.signatures.store_bits
    check_signatures(params, layout, "hamming" if store_bits else "factors")
    check_parquet_files([layout.labels()], "Restore it with `dvc checkout data/labels.parquet` "
                        "or re-run its stage: `dvc repro -f -s labels`")
    variants = list(next(iter(weights.values())))
    matrices: dict[str, list] = {name: [] for name in variants}
    kept_bits: dict[str, list[float]] = {name: [] for name in variants}
    loaded: dict = {}
    for model, dataset in params.pairs():
        # Per block only: one pass over the bits gives every variant.
        codes, counts = pair_counts(params, layout, model, dataset,
                                    lambda m: {"layer": module_groups(m)["layer"]}, loaded)
        for name, w in weights[model].items():
            matrices[name].append((codes, weighted_distances(counts, w)))
            kept_bits[name].append(sum(counts.bits["layer", b] for b, x in w.items() if x > 0)
                                   / counts.bits[TOTAL] if w else 1.0)
    del loaded
    codes = list(params.languages)
    labels = pd.read_parquet(layout.labels()).set_index("code")
    evaluate = protocol(params, labels, codes)
    ev = params.evaluation
    script = script_distances(codes, {c: language_script(c) for c in codes}).distances
    genetic = uriel_distances("genetic", labels.loc[codes, "iso639_3"].tolist(),
                              params.baselines.missing).distances
    metrics: dict[str, dict] = {}
    for name in variants:
        order, combined, _ = ensemble(matrices[name])
        at = [order.index(c) for c in codes]
        combined = combined[np.ix_(at, at)]
        rho_s, p_s = mantel_test(combined, script, ev.mantel_permutations, params.seed)
        rho_g, p_g = mantel_test(combined, genetic, ev.mantel_permutations, params.seed)
        partial = partial_mantel_test(combined, genetic, script, ev.mantel_permutations,
                                      params.seed)
        metrics[name] = {**evaluate(combined), "a_priori": name == share_name(share),
                         "bits_share": float(np.mean(kept_bits[name])),
                         "blocks": {m: sorted(w[name], key=int) for m, w in weights.items()},
                         "mantel/script/rho": rho_s, "mantel/script/p": p_s,
                         "mantel/genetic/rho": rho_g, "mantel/genetic/p": p_g,
                         "partial_mantel/genetic_given_script/rho": partial["partial_rho"],
                         "partial_mantel/genetic_given_script/p": partial["p"]}
    table = variant_table(metrics, ev.label_level)
    summary = {"label_level": ev.label_level, "layer_share": share, "variants": metrics}
    out = layout.robust()
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        write_json(summary, tmp / "metrics.json")
        table.to_csv(tmp / "comparison.csv", index=False, float_format="%.4f")
    tracked = track_robust(params, layout)
    return (f"robust: {len(variants)} variants of {len(params.pairs())} (model, dataset) "
            f"pairs in {time.perf_counter() - start:.0f} s -> {out}; {tracked.status()}\n"
            + robust_summary(summary))
