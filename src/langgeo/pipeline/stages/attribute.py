"""Stage ``attribute``: the ARI of each group of weight matrices, for every (model, dataset)
pair (``reports/attribution.csv`` and its figure)."""

from __future__ import annotations

import pandas as pd

from langgeo.evaluation.attribution import attribution_table
from langgeo.formats.storage import atomic_path
from langgeo.layout import Layout
from langgeo.params import Params
from langgeo.pipeline.counts import pair_counts
from langgeo.pipeline.inputs import check_signatures
from langgeo.report.study_figures import attribution_figure


def run(params: Params, layout: Layout) -> str:
    # Without stored bits, the bits are rebuilt from the factor files and the model.
    store_bits = params.signatures.store_bits
    check_signatures(params, layout, "hamming" if store_bits else "factors")
    labels = pd.read_parquet(layout.labels()).set_index("code").loc[list(params.languages)]
    ev = params.evaluation
    tables = []
    loaded: dict = {}
    for model, dataset in params.pairs():
        codes, counts = pair_counts(params, layout, model, dataset, loaded=loaded)
        table = attribution_table(counts, labels.loc[codes, ["branch", "family"]].to_dict("list"),
                                  ev.kmeans_seeds, params.seed, params.embedding.n_components,
                                  params.embedding.distance_transform)
        table.insert(0, "dataset", dataset)
        table.insert(0, "model", model)
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    with atomic_path(layout.attribution()) as tmp:
        table.to_csv(tmp, index=False, float_format="%.5f")
    attribution_figure(layout.attribution().with_suffix(".png"), table, ev.label_level)
    lines = []
    for (model, dataset), pair in table.groupby(["model", "dataset"], sort=False):
        ari = f"{ev.label_level}_ari_mean"
        best = pair[pair["family"] == "layer"].sort_values(ari).iloc[-1]
        parts = pair[pair["family"] == "part"].set_index("group")[ari]
        lines.append(f"  {model}/{dataset}: best block {best['group']} (ARI {best[ari]:.3f}); "
                     + ", ".join(f"{g} ARI {v:.3f}" for g, v in parts.items()))
    return f"attribution: {len(table)} groups -> {layout.attribution()}\n" + "\n".join(lines)
