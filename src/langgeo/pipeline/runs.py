"""The MLflow run of each stage, built from the files the stage wrote and from params.

The stages log their run right after writing their outputs; ``langgeo track`` logs the runs
of outputs that no stage logged into this store (outputs that DVC found up to date, such as
the reports committed to git, or a store deleted since). Both call the functions here, so a
run is the same whichever logged it. Every run is tagged with the configuration's hash and a
sha256 of the files it was logged from (:data:`~langgeo.pipeline.tracking.CONFIG_TAG`,
:data:`~langgeo.pipeline.tracking.OUTPUTS_TAG`); a run carrying both already is not logged again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from langgeo.layout import Layout
from langgeo.params import Params, flat_params
from langgeo.pipeline.tracking import (
    CONFIG_TAG,
    OUTPUTS_TAG,
    add_to_run,
    check_store,
    find_run,
    get_or_create_experiment,
    log_configuration,
    log_run,
    outputs_digest,
)

#: Tag of the evaluate run that holds ``explorer.html``: the sha256 of the page it holds.
EXPLORER_TAG = "langgeo.explorer_sha256"


@dataclass(frozen=True)
class Tracked:
    """What became of one stage's run: ``run_id`` None when there was nothing to log (then
    ``note`` says why), else whether it was ``logged`` now or already in the store."""

    stage: str
    experiment: str
    run_id: str | None
    logged: bool = False
    note: str = ""

    def status(self) -> str:
        """The outcome in words, without the stage's name."""
        if self.run_id is None:
            return f"not logged: {self.note}"
        return (f"{'logged' if self.logged else 'already present'}: MLflow run {self.run_id} "
                f"in experiment {self.experiment!r}")

    def line(self) -> str:
        """One line for the terminal."""
        return f"{self.stage}: {self.status()}"


def _identity(params: Params, layout: Layout, files: Sequence[Path]) -> dict[str, str]:
    """The tags that identify a run logged from ``files`` under ``params``."""
    return {CONFIG_TAG: params.config_hash(), OUTPUTS_TAG: outputs_digest(files, layout.root)}


def _track(stage: str, experiment: str, params: Params, layout: Layout,
           required: Sequence[Path], optional: Sequence[Path],
           log: Callable[[list[Path], dict[str, str]], str]) -> Tracked:
    """Log with ``log(files, tags)`` unless a run with the same identity tags exists; nothing
    when a ``required`` file is absent (the stage has not run here)."""
    missing = [str(p) for p in required if not p.is_file()]
    if missing:
        return Tracked(stage, experiment, None, note=(
            f"no {', '.join(missing)} (`dvc repro {stage}` writes "
            f"{'them' if len(missing) > 1 else 'it'})"))
    files = [*required, *optional]
    tags = _identity(params, layout, files)
    found = find_run(experiment, tags)
    if found is not None:
        return Tracked(stage, experiment, found)
    return Tracked(stage, experiment, log(files, tags), logged=True)


def _evaluation_files(layout: Layout) -> tuple[list[Path], list[Path]]:
    """The files an evaluate run is logged from: required ones, then the figures."""
    return ([layout.metrics(), layout.comparison(), layout.attribution(),
             layout.attribution().with_suffix(".png"), layout.embedding() / "latent.parquet"],
            sorted(layout.figures().glob("*.png")))


def evaluation_children(params: Params, metrics: Mapping[str, object]
                        ) -> dict[str, tuple[dict[str, object], Mapping[str, object]]]:
    """The child runs of a configuration from its ``metrics.json``: one per (model, dataset)
    pair, the pairs and the ensemble on the languages every pair holds (``common/...``), one
    per baseline with its Mantel test against ours, and the script control's runs
    (``Latn/...``)."""

    def pair_params(name: str, kind: str) -> dict[str, object]:
        model, dataset = name.split("/")
        return {"kind": kind, "model": model, "dataset": dataset,
                "tokens_per_language": params.tokens(dataset)}

    children = {f"pair/{name}": (pair_params(name, "pair"), m)
                for name, m in metrics["per_pair"].items()}
    if "common" in metrics:
        common = metrics["common"]
        children["common/ours"] = ({"kind": "common", "matrix": "ours"}, common["ours"])
        children.update({f"common/pair/{name}": (pair_params(name, "common"), m)
                         for name, m in common["per_pair"].items()})
    children.update({f"baseline/{name}": ({"kind": "baseline", "baseline": name},
                                          {**m, **{f"mantel/{k}": v for k, v in
                                                   metrics["mantel"][name].items()}})
                     for name, m in metrics["baselines"].items()})
    control = metrics["script_control"]
    restricted = {"ours": control["ours"],
                  **{f"pair/{n}": m for n, m in control["per_pair"].items()},
                  **{f"baseline/{n}": m for n, m in control["baselines"].items()}}
    children.update({f"{control['script']}/{what}": ({"kind": f"{control['script']}-only",
                                                      "matrix": what}, m)
                     for what, m in restricted.items() if m})
    return children


def track_evaluation(params: Params, layout: Layout) -> Tracked:
    """The configuration's run (experiment ``tracking.experiment``) from
    ``reports/metrics.json``: the ensemble's metrics and the script control's partial Mantel
    test, the whole params, :func:`evaluation_children`, and as artifacts the metrics,
    comparison, attribution, latent vectors and figures."""

    def log(files: list[Path], tags: dict[str, str]) -> str:
        metrics = json.loads(layout.metrics().read_text())
        partial = {f"partial_mantel/genetic_given_script/{k}": v for k, v in
                   metrics["script_control"]["partial_mantel"]["ours"].items()}
        return log_configuration(params, {**metrics["ours"], **partial},
                                 evaluation_children(params, metrics), files, tags=tags)

    return _track("evaluate", params.tracking.experiment, params, layout,
                  *_evaluation_files(layout), log)


def track_transfer(params: Params, layout: Layout) -> Tracked:
    """The pruning run (experiment ``<tracking.experiment>-pruning``, apart from the
    configurations that ``langgeo compare`` tabulates) from ``reports/pruning/transfer.json``:
    every transfer test's statistics, the language-specific pruning counts and the masks'
    Mantel test against ours, with ``params.pruning`` and the seed as params. (Timings stay
    in the log of stage ``pruning_matrix`` and in ``make repro``'s table: a run is built
    from files only, so that ``langgeo track`` logs the same run as the stage.)"""
    folder = layout.pruning()
    experiment = f"{params.tracking.experiment}-pruning"

    def log(files: list[Path], tags: dict[str, str]) -> str:
        summary = json.loads((folder / "transfer.json").read_text())
        metrics = {f"{g}/{k}": v for g, t in summary["tests"].items() for k, v in t.items()
                   if k != "per_target"}
        metrics.update({f"lsp/{k}": v for k, v in summary["lsp"].items() if isinstance(v, int)})
        mantel = summary["mask_vs_ours_mantel"]
        metrics.update({"mask_vs_ours/mantel_rho": mantel["spearman_rho"],
                        "mask_vs_ours/mantel_p": mantel["p"]})
        pr = params.pruning
        run_params = {f"pruning.{k}": (" ".join(v) if isinstance(v, tuple) else v)
                      for k, v in vars(pr).items()} | {"seed": params.seed}
        return log_run(get_or_create_experiment(experiment),
                       f"{pr.model}-{pr.dataset}-{pr.method}-{pr.pattern}", run_params,
                       metrics, files, tags)

    return _track("transfer", experiment, params, layout,
                  [folder / n for n in ("transfer.json", "matrix.csv", "cost.png",
                                        "scatter.png")], [], log)


def track_interlingua(params: Params, layout: Layout, model: str) -> Tracked:
    """The model's interlingua run (experiment ``<tracking.experiment>-interlingua``: these
    runs are not pipeline configurations, which ``langgeo compare`` lists; run named after
    the model) from ``reports/interlingua/<model>/``: every column of
    ``layers.csv`` as a metric with step = layer, units, languages and the most aligned layer
    from ``summary.json``, the ``interlingua`` params."""
    import pandas as pd

    folder = layout.interlingua(model)
    experiment = f"{params.tracking.experiment}-interlingua"

    def log(files: list[Path], tags: dict[str, str]) -> str:
        summary = json.loads((folder / "summary.json").read_text())
        steps = {int(row.pop("layer")): row
                 for row in pd.read_csv(folder / "layers.csv").to_dict("records")}
        run_params = {"model": model, **{k: v for k, v in flat_params(params).items()
                                         if k.startswith("interlingua.")}}
        return log_run(get_or_create_experiment(experiment), model, run_params,
                       {"units": summary["units"], "n_languages": len(summary["languages"]),
                        "most_aligned_layer": summary["most_aligned_layer"]},
                       files, tags, steps=steps)

    return _track(f"interlingua@{model}", experiment, params, layout,
                  [folder / "layers.csv", folder / "summary.json"],
                  sorted(folder.glob("*.png")), log)


def track_finetune(params: Params, layout: Layout) -> Tracked:
    """The fine-tuning study's run (experiment ``<tracking.experiment>-finetune``) from
    ``reports/finetune/summary.json``: G on the source and on the other languages per mode
    with its interval (and frozen minus full, with its p-value), the change of ILO and
    retrieval in the early and later layers per (mode, source), ``params.finetune`` as
    params."""
    folder = layout.finetune()
    experiment = f"{params.tracking.experiment}-finetune"

    def log(files: list[Path], tags: dict[str, str]) -> str:
        summary = json.loads((folder / "summary.json").read_text())
        metrics = {f"{r['mode']}/G_{r['on']}{suffix}": r[key]
                   for r in summary["freezing"]
                   for key, suffix in (("mean", ""), ("ci_low", "_ci_low"),
                                       ("ci_high", "_ci_high"), ("p", "_p"))}
        for r in summary["alignment_change"] or []:
            metrics.update({f"{r['mode']}/{r['source']}/{k}": r[k] for k in
                            ("ilo_early", "ilo_late", "retrieval_early", "retrieval_late")})
        metrics["frozen_blocks"] = summary["frozen_blocks"]
        run_params = {k: v for k, v in flat_params(params).items() if k.startswith("finetune.")}
        return log_run(get_or_create_experiment(experiment), params.finetune.model, run_params,
                       metrics, files, tags)

    return _track("finetune", experiment, params, layout,
                  [folder / "summary.json", folder / "freezing.csv"],
                  [p for p in (folder / "alignment.csv", folder / "alignment_change.csv",
                               *sorted(folder.glob("*.png"))) if p.is_file()], log)


def track_rankings(params: Params, layout: Layout) -> Tracked:
    """The rankings run (experiment ``<tracking.experiment>-rankings``) from
    ``reports/rankings/rankings.csv``: NDCG@3, top-1 loss and the Spearman correlations with
    their intervals, per experiment (pruning, fine-tuning modes) and ranker."""
    import pandas as pd

    folder = layout.rankings()
    experiment = f"{params.tracking.experiment}-rankings"

    def log(files: list[Path], tags: dict[str, str]) -> str:
        table = pd.read_csv(folder / "rankings.csv")
        values = [c for c in table.columns if c not in ("experiment", "ranker", "n_targets")]
        metrics = {f"{r['experiment']}/{r['ranker']}/{c}": r[c]
                   for r in table.to_dict("records") for c in values}
        run_params = {"seed": params.seed, "pruning.model": params.pruning.model,
                      "pruning.dataset": params.pruning.dataset,
                      "finetune.model": params.finetune.model if params.finetune else "",
                      "experiments": " ".join(dict.fromkeys(table["experiment"]))}
        return log_run(get_or_create_experiment(experiment), "rankings", run_params, metrics,
                       files, tags)

    return _track("rankings", experiment, params, layout,
                  [folder / "rankings.csv", folder / "summary.json"], [], log)


def track_explorer(params: Params, layout: Layout) -> Tracked:
    """``explorer.html`` as an artifact of the configuration's run of the current evaluate
    outputs (tagged with the page's sha256), unless that run holds this page already."""
    experiment = params.tracking.experiment
    page = layout.explorer()
    if not page.is_file():
        return Tracked("explorer", experiment, None, note=f"no {page} (`dvc repro explorer` "
                                                          "writes it)")
    required, optional = _evaluation_files(layout)
    evaluation = (_identity(params, layout, [*required, *optional])
                  if all(p.is_file() for p in required) else None)
    run_id = find_run(experiment, evaluation) if evaluation else None
    if run_id is None:
        return Tracked("explorer", experiment, None, note=(
            f"no run of configuration {params.config_hash()} and the current "
            f"{layout.metrics()} to add the page to (run the evaluate stage first)"))
    digest = {EXPLORER_TAG: outputs_digest([page], layout.root)}
    if find_run(experiment, {**evaluation, **digest}) == run_id:
        return Tracked("explorer", experiment, run_id)
    add_to_run(run_id, [page], digest)
    return Tracked("explorer", experiment, run_id, logged=True)


def track_robust(params: Params, layout: Layout) -> Tracked:
    """The script-robust geometry's run (experiment ``<tracking.experiment>-robust``) from
    ``reports/robust/``: one child run per variant with its metrics, the a-priori one's
    metrics on the parent, ``scripts.layer_share`` and the seed as params."""
    folder = layout.robust()
    experiment = f"{params.tracking.experiment}-robust"

    def log(files: list[Path], tags: dict[str, str]) -> str:
        summary = json.loads((folder / "metrics.json").read_text())
        variants = summary["variants"]
        a_priori = next(m for m in variants.values() if m["a_priori"])
        children = {name: ({"variant": name, "a_priori": m["a_priori"]}, m)
                    for name, m in variants.items()}
        return log_run(get_or_create_experiment(experiment), "robust",
                       {"scripts.layer_share": summary["layer_share"], "seed": params.seed},
                       a_priori, files, tags, children=children)

    return _track("robust", experiment, params, layout,
                  [folder / "metrics.json", folder / "comparison.csv"], [], log)


def track_all(params: Params, layout: Layout) -> Iterator[Tracked]:
    """The runs of every stage's current outputs (evaluate, transfer, finetune, rankings,
    interlingua per model, then the explorer page, which goes into evaluate's run), each logged unless present."""
    # A damaged store is one message before anything is read or written.
    check_store()
    yield track_evaluation(params, layout)
    yield track_transfer(params, layout)
    if params.finetune is not None:
        yield track_finetune(params, layout)
    yield track_rankings(params, layout)
    for model in params.models:
        yield track_interlingua(params, layout, model.name)
    yield track_robust(params, layout)
    yield track_explorer(params, layout)
