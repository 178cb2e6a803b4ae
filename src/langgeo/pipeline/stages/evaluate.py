"""Stage ``evaluate``: one configuration's distances against each other and against the baselines,
every matrix through the same protocol (:func:`langgeo.evaluation.protocol.evaluate_distances`);
``reports/metrics.json`` and ``reports/comparison.csv``.

The rows: the ensemble; each (model, dataset) pair on its own languages; where the pairs'
coverage differs (UDHR lacks Odia), the ensemble and every pair again on the languages that
every pair holds, the only like-for-like comparison of them; the baselines (URIEL+, script,
random) with a Mantel test against ours; and the script control
(:mod:`langgeo.evaluation.script_control`). The ensemble and the pairs are clustered on the
latent vectors of the embed stage.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from langgeo import LanggeoError
from langgeo.data.labels import language_lineages
from langgeo.data.udhr import language_script
from langgeo.evaluation.baselines import baseline_distances, uriel_distances
from langgeo.evaluation.protocol import evaluate_distances, mantel_test
from langgeo.evaluation.script_control import script_control
from langgeo.evaluation.trees import tree_metrics
from langgeo.formats.matrix_file import read_latent, read_matrix
from langgeo.formats.storage import atomic_path, check_parquet_files, write_json
from langgeo.geometry.trees import MIN_LEAVES
from langgeo.layout import Layout
from langgeo.params import Params
from langgeo.report.summary import comparison_table, script_control_summary, summary


def _restricted(codes: Sequence[str], matrix: np.ndarray, subset: Sequence[str]) -> np.ndarray:
    at = [list(codes).index(c) for c in subset]
    return matrix[np.ix_(at, at)]


def protocol(params: Params, labels: pd.DataFrame, codes: Sequence[str]
             ) -> Callable[..., dict]:
    """``evaluate(matrix, on=codes, latent=None)``: the protocol's metrics
    (:func:`evaluate_distances`) and the tree metrics of a ``(len(on), len(on))`` matrix over
    languages ``on`` (a subset of ``codes``), with the params and gold labels of this
    configuration, so that every matrix of a report is judged alike; no tree metrics below
    :data:`MIN_LEAVES` languages (a restricted evaluation may have 3). ``labels``: the labels
    stage's table indexed by code."""
    ev = params.evaluation
    lineage = dict(zip(codes, language_lineages(list(codes))))

    def evaluate(matrix: np.ndarray, on: Sequence[str] = codes,
                 latent: np.ndarray | None = None) -> dict:
        gold = labels.loc[list(on), ["family", "branch"]].to_dict("list")
        return {**evaluate_distances(
            matrix, gold, transform=params.embedding.distance_transform,
            kmeans_seeds=ev.kmeans_seeds, seed=params.seed, n_permutations=ev.n_permutations,
            n_bootstrap=ev.n_bootstrap, min_cluster_size=ev.hdbscan_min_cluster_size,
            latent=latent),
            **(tree_metrics(matrix, on, [lineage[c] for c in on], gold["family"],
                            permutations=ev.tree_permutations, samples=ev.quartet_samples,
                            seed=params.seed) if len(on) >= MIN_LEAVES else {})}

    return evaluate


def evaluate_configuration(params: Params, layout: Layout) -> dict:
    """The metrics of ``reports/metrics.json`` for the distances the pipeline wrote.

    Returns a JSON-ready dict: ``label_level``, ``pairs``, ``ours`` (the ensemble),
    ``per_pair`` and ``coverage`` (name -> its languages and the absent ones), ``common``
    (only when pairs differ in coverage: ``languages``, ``ours``, ``per_pair`` on the
    languages every pair holds), ``baselines``, ``mantel`` (each baseline against ours) and
    ``script_control``. Each metrics entry is :func:`evaluate_distances`'s dict.
    """
    check_parquet_files([layout.labels()], "Restore it with `dvc checkout data/labels.parquet` "
                        "or re-run its stage: `dvc repro -f -s labels`")
    ev = params.evaluation
    codes, ensemble = read_matrix(layout.ensemble_distances())
    labels = pd.read_parquet(layout.labels()).set_index("code")
    if codes != list(params.languages) or set(codes) - set(labels.index):
        raise LanggeoError("the distances or labels do not match params 'languages'; run "
                           "`dvc repro` to bring them up to date")

    evaluate = protocol(params, labels, codes)

    def embedded(path: Path, on: Sequence[str]) -> np.ndarray:
        latent_codes, coords = read_latent(path)
        if latent_codes != list(on):
            raise LanggeoError(f"{path} does not embed the languages of the distances; run "
                               "`dvc repro` (stage embed) to bring it up to date")
        return coords

    metrics: dict = {"label_level": ev.label_level,
                     "pairs": [f"{m}/{d}" for m, d in params.pairs()],
                     "ours": evaluate(ensemble, latent=embedded(layout.latent(), codes)),
                     "per_pair": {}, "coverage": {},
                     "baselines": {}, "mantel": {}}
    pair_matrices = {}
    for model, dataset in params.pairs():
        name = f"{model}/{dataset}"
        pair_codes, matrix = read_matrix(layout.pair_distances(model, dataset))
        pair_matrices[name] = (pair_codes, matrix)
        # With a single pair the ensemble is this very matrix (bit for bit) and the
        # protocol is deterministic, so its result is reused rather than computed again.
        same = pair_codes == codes and np.array_equal(matrix, ensemble)
        metrics["per_pair"][name] = (dict(metrics["ours"]) if same else evaluate(
            matrix, pair_codes, embedded(layout.pair_latent(model, dataset), pair_codes)))
        metrics["coverage"][name] = {"n_languages": len(pair_codes),
                                     "absent": [c for c in codes if c not in pair_codes]}
    # ARI over other languages and labels is not comparable: where the pairs' coverage
    # differs, the ensemble and the pairs are also scored on the languages all pairs hold.
    shared = [c for c in codes if all(c in set(pc) for pc, _ in pair_matrices.values())]
    if len(pair_matrices) > 1 and 3 <= len(shared) < len(codes):
        metrics["common"] = {
            "languages": shared,
            "ours": evaluate(_restricted(codes, ensemble, shared), shared),
            "per_pair": {name: (dict(metrics["per_pair"][name]) if pc == shared
                                else evaluate(_restricted(pc, m, shared), shared))
                         for name, (pc, m) in pair_matrices.items()}}
    scripts = {c: language_script(c) for c in codes}
    baselines = baseline_distances(codes, labels.loc[codes, "iso639_3"].tolist(), params.seed,
                                   params.baselines.uriel_kinds, params.baselines.missing,
                                   scripts)
    for name, baseline in baselines.items():
        metrics["baselines"][name] = {**evaluate(baseline.distances),
                                      "imputed_pairs": baseline.imputed_pairs}
        rho, p = mantel_test(ensemble, baseline.distances, ev.mantel_permutations, params.seed)
        metrics["mantel"][name] = {"spearman_rho": rho, "p": p}
    genetic = (baselines["uriel_genetic"] if "uriel_genetic" in baselines else uriel_distances(
        "genetic", labels.loc[codes, "iso639_3"].tolist(), params.baselines.missing)).distances
    metrics["script_control"] = script_control(
        codes, ensemble, pair_matrices, {n: b.distances for n, b in baselines.items()}, genetic,
        evaluate, ev.mantel_permutations, params.seed, scripts=scripts)
    return metrics


def outputs(layout: Layout) -> dict[str, str]:
    """Where a configuration's outputs are, by what they are (for the summary)."""
    return {"latent vectors": str(layout.latent()),
            "distances": str(layout.ensemble_distances()),
            "metrics": str(layout.metrics()),
            "ours vs baselines": str(layout.comparison()),
            "figures": str(layout.figures()),
            "explorer": f"{layout.explorer()} (stage explorer)",
            "MLflow store": "mlruns.db (`langgeo track` logs the runs, `make ui` shows them)"}


def run(params: Params, layout: Layout) -> str:
    metrics = evaluate_configuration(params, layout)
    write_json(metrics, layout.metrics())
    table = comparison_table(metrics)
    with atomic_path(layout.comparison()) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    return summary(metrics, outputs(layout)) + "\n" + script_control_summary(metrics)
