"""Stage ``interlingua@<model>``: the Interlingual Local Overlap of the model's hidden states on
parallel UDHR text, layer by layer, beside its weight geometry (:mod:`langgeo.studies.interlingua`).

Reads the hidden states of stage ``hidden_states@<model>``; writes
``reports/interlingua/<model>/`` (``layers.csv``, ``languages.csv``, ``summary.json``,
figures) and the per-layer representation distances ``data/interlingua/<model>/``.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd

from langgeo import LanggeoError
from langgeo.formats.matrix_file import read_matrix, write_matrix
from langgeo.formats.states_file import read_states, unit_slots
from langgeo.formats.storage import atomic_path
from langgeo.layout import Layout
from langgeo.params import Params
from langgeo.pipeline.runs import track_interlingua
from langgeo.report.study_figures import (
    geometry_scatter_figure,
    interlingua_figure,
    language_ilo_figure,
)
from langgeo.studies.interlingua import analyse_layers, check_neighbourhood, shared_units


def weight_distances(params: Params, layout: Layout, model: str, codes: list[str]
                     ) -> tuple[list[str], np.ndarray] | None:
    """The model's weight distances (mean over params 'datasets') on the languages of
    ``codes`` that every one of its matrices covers, in the order of ``codes``."""
    if model not in [m.name for m in params.models]:
        return None
    matrices = [read_matrix(layout.pair_distances(model, d.name)) for d in params.datasets]
    shared = [c for c in codes if all(c in m_codes for m_codes, _ in matrices)]
    picked = [m[np.ix_(idx, idx)] for m_codes, m in matrices
              for idx in [[m_codes.index(c) for c in shared]]]
    return shared, np.mean(picked, axis=0)


def unit_counts(keys: np.ndarray) -> dict[str, dict[str, float]]:
    """Units per language and units aligned per pair of languages (min, median, max): the
    ILO score uses every unit, retrieval and the distance each pair's common units."""
    shared = shared_units(keys)
    pairs = shared[np.triu_indices_from(shared, 1)]

    def spread(x: np.ndarray) -> dict[str, float]:
        return {"min": int(x.min()), "median": float(np.median(x)), "max": int(x.max())}

    return {"units_per_language": spread(np.diag(shared)), "units_per_pair": spread(pairs)}


def run(params: Params, layout: Layout, model: str) -> str:
    il, ev = params.interlingua, params.evaluation
    start = time.perf_counter()
    states, record = read_states(layout.hidden_states(model))
    codes = record["languages"]
    expected = [c for c in params.languages if c not in record["without_translation"]]
    if codes != expected or record["model"] != model:
        raise LanggeoError(f"{layout.hidden_states(model)} holds other languages or another "
                           f"model than params; run `dvc repro hidden_states@{model}`")
    slots = unit_slots(record)
    check_neighbourhood(len(codes), int((slots >= 0).sum(axis=1).min()), il.k, il.t)
    labels = pd.read_parquet(layout.labels()).set_index("code")
    gold = labels.loc[codes, ["family", "branch"]].to_dict("list")
    found = weight_distances(params, layout, model, codes)
    keep = list(range(len(codes)))
    weights = None
    if found is not None:
        keep = [codes.index(c) for c in found[0]]
        weights = found[1]
    result = analyse_layers(states[:, keep], [codes[i] for i in keep],
                            {lvl: [g[i] for i in keep] for lvl, g in gold.items()}, weights,
                            k=il.k, t=il.t, seed=il.seed, centre=il.centre, keys=slots[keep],
                            transform=params.embedding.distance_transform,
                            kmeans_seeds=ev.kmeans_seeds, n_permutations=ev.n_permutations,
                            mantel_permutations=ev.mantel_permutations,
                            min_cluster_size=ev.hdbscan_min_cluster_size)
    codes = [codes[i] for i in keep]
    per_layer, per_language = result.per_layer, result.per_language
    best = int(per_layer.loc[per_layer["ilo"].idxmax(), "layer"])
    agree = (int(per_layer.loc[per_layer["mantel_rho"].idxmax(), "layer"])
             if per_layer["mantel_rho"].notna().any() else None)
    per_pair = unit_counts(slots[keep])
    summary = {"model": model, "languages": codes,
               "without_translation": record["without_translation"],
               "declarations": {c: record["declarations"][c] for c in codes},
               "units": int((slots[keep] >= 0).sum()), **per_pair,
               "layers": len(result.distances), "most_aligned_layer": best,
               "most_agreeing_layer": agree}
    out = layout.interlingua(model)
    matrices = layout.representation_distances(model)
    # Both folders are written aside and renamed only once everything is written (matrices
    # first, then the reports that name them), so an error leaves neither half-written.
    with atomic_path(out) as tmp, atomic_path(matrices) as tmp_matrices:
        tmp.mkdir(parents=True)
        tmp_matrices.mkdir(parents=True)
        per_layer.to_csv(tmp / "layers.csv", index=False, float_format="%.5f")
        per_language.to_csv(tmp / "languages.csv", index=False, float_format="%.5f")
        for layer, d in enumerate(result.distances):
            write_matrix(tmp_matrices / layout.layer_distances(model, layer).name, codes,
                         d)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        interlingua_figure(tmp / "curves.png", per_layer, model)
        language_ilo_figure(tmp / "languages.png",
                            per_language[per_language["layer"] == best], best,
                            labels.loc[codes, "family"].tolist())
        if agree is not None:
            geometry_scatter_figure(tmp / "weights_vs_representation.png", weights,
                                    result.distances[agree], agree,
                                    float(per_layer.loc[agree, "mantel_rho"]))
    tracked = track_interlingua(params, layout, model)
    row = per_layer.loc[best]
    pair = per_pair["units_per_pair"]
    return (f"interlingua ({model}): {len(codes)} languages, {summary['units']} units (per "
            f"pair aligned: min {pair['min']}, median {pair['median']:g}, max {pair['max']}; no "
            f"translation: {record['without_translation'] or 'none'}), "
            f"{len(result.distances)} layers in "
            f"{time.perf_counter() - start:.0f} s; highest mean ILO {row['ilo']:.3f} at layer "
            f"{best} (shuffled {row['shuffled_ilo']:.3f}, Gaussian {row['gaussian_ilo']:.3f}, "
            f"retrieval P@1 {row['retrieval_p1']:.3f}); -> {out}, {matrices}; "
            f"{tracked.status()}")
