"""Stage ``explorer``: the interactive page of the space (``reports/explorer.html``): the ensemble
and each (model, dataset) pair, the layers' representation geometry, the transfer cost."""

from __future__ import annotations

import pandas as pd

from langgeo.layout import Layout
from langgeo.params import Params
from langgeo.report.explorer import (
    LAYER_BUDGET,
    explorer_payload,
    read_representation,
    read_transfer_cost,
    write_page,
)
from langgeo.report.space import weight_geometry


def _embedded(layers: dict, budget: int) -> str:
    """One model's entry of the payload's ``representations``, for the stage's line."""
    every, kept = layers["layers"], layers["embedded"]
    if kept == every:
        return f"{layers['model']} all {len(every)}"
    return (f"{layers['model']} {len(kept)} of {len(every)} (layer{'s' * (len(kept) > 1)} "
            f"{', '.join(map(str, kept))}; the others over the {budget / 2**20:g} MiB budget, "
            f"all in {layers['source']})")


def run(params: Params, layout: Layout) -> str:
    labels = pd.read_parquet(layout.labels())
    configurations, clusters = {}, {}
    for name, pair in [("ensemble", None)] + [(f"{m}/{d}", (m, d)) for m, d in params.pairs()]:
        configurations[name], clusters[name] = weight_geometry(params, layout, labels, pair)
    # The transfer and interlingua stages may not have run: their modes are then left out.
    absent = []
    transfer = None
    if layout.transfer_cost().is_file():
        transfer = read_transfer_cost(layout.transfer_cost())
    else:
        absent.append(f"colour by transfer cost ({layout.transfer_cost()}: `dvc repro "
                      "transfer`)")
    representations = []
    for model in params.models:
        folders = [layout.interlingua(model.name), layout.representation_distances(model.name)]
        missing = [str(f) for f in folders if not f.is_dir()]
        if missing:
            absent.append(f"{model.name}'s layers ({', '.join(missing)}: `dvc repro "
                          f"interlingua@{model.name}`)")
        else:
            representations.append(read_representation(layout, model.name))
    payload = explorer_payload(configurations, labels, clusters, tsne_seed=params.seed,
                               representations=representations, transfer=transfer,
                               transform=params.embedding.distance_transform)
    path = write_page(layout.explorer(), payload)
    layers = ", ".join(_embedded(r, LAYER_BUDGET) for r in payload["representations"]) or "none"
    panel = f"a panel of {len(transfer.codes)}" if transfer else "none"
    return (f"explorer: {len(configurations)} weight configurations, representation layers "
            f"{layers}, transfer cost {panel} -> {path} ({path.stat().st_size / 1024:.0f} KiB)"
            + ("\nexplorer: left out, their input is absent: " + "; ".join(absent)
               if absent else ""))
