"""MLflow tracking: one parent run per pipeline configuration, a child per (model, dataset)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from langgeo.params import Params, flat_params


def project_root() -> Path:
    """The repository root. DVC sets ``DVC_ROOT`` to the real root, also in queued
    experiments that run in a temporary copy, so the store is never written into a copy."""
    return Path(os.environ.get("DVC_ROOT", os.getcwd())).resolve()


def tracking_uri(root: Path | None = None) -> str:
    """sqlite store at the repository root (the file store is deprecated in MLflow 3)."""
    return f"sqlite:///{(root or project_root()) / 'mlruns.db'}"


def _numeric(metrics: Mapping[str, object]) -> dict[str, float]:
    # MLflow takes numbers only: undefined metrics (None) are left out.
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def log_configuration(params: Params, metrics: Mapping[str, object],
                      children: Mapping[str, tuple[Mapping[str, str], Mapping[str, object]]],
                      artifacts: Sequence[Path], root: Path | None = None) -> str:
    """Log one configuration; returns the parent run id.

    ``children`` maps a child run name (e.g. ``pair/gemma3-270m/eld``, ``baseline/random``)
    to its params and metrics.
    """
    os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
    import mlflow

    root = root or project_root()
    mlflow.set_tracking_uri(tracking_uri(root))
    name = params.tracking.experiment
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        experiment_id = mlflow.create_experiment(
            name, artifact_location=(root / "mlartifacts").as_uri(),
            # Opens the UI on the runs table instead of the GenAI traces view.
            tags={"mlflow.experimentKind": "custom_model_development"})
    else:
        experiment_id = experiment.experiment_id
    config = params.config_hash()
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"config-{config}",
                          tags={"langgeo.config_hash": config}) as parent:
        mlflow.log_params(flat_params(params))
        mlflow.log_metrics(_numeric(metrics))
        for path in artifacts:
            mlflow.log_artifact(str(path))
        for child, (child_params, child_metrics) in children.items():
            with mlflow.start_run(experiment_id=experiment_id, run_name=child, nested=True,
                                  tags={"langgeo.config_hash": config}):
                mlflow.log_params(dict(child_params))
                mlflow.log_metrics(_numeric(child_metrics))
        return parent.info.run_id


COMPARE_COLUMNS = {
    "run_id": "run_id", "tags.mlflow.runName": "run", "start_time": "start_time",
    "params.calibration.tokens_per_language": "tokens_per_language",
    "params.signatures.score": "score", "params.signatures.binarization": "binarization",
    "params.distances.kind": "distances",
    "params.models": "models", "params.datasets": "datasets",
}


def compare_runs(experiment: str, root: Path | None = None):
    """One row per configuration (parent run) of ``experiment``: key params and every metric,
    newest first. Returns a pandas DataFrame (empty if nothing was logged yet)."""
    os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
    import mlflow
    import pandas as pd

    mlflow.set_tracking_uri(tracking_uri(root))
    if mlflow.get_experiment_by_name(experiment) is None:
        return pd.DataFrame()
    runs = mlflow.search_runs(experiment_names=[experiment], order_by=["start_time DESC"])
    if "tags.mlflow.parentRunId" in runs:
        runs = runs[runs["tags.mlflow.parentRunId"].isna()]
    metrics = [c for c in runs.columns if c.startswith("metrics.")]
    table = runs[[c for c in COMPARE_COLUMNS if c in runs] + metrics]
    return table.rename(columns={**COMPARE_COLUMNS,
                                 **{c: c.removeprefix("metrics.") for c in metrics}})


def log_layer_run(experiment: str, run_name: str, run_params: Mapping[str, str],
                  per_layer, summary: Mapping[str, object], artifacts: Sequence[Path],
                  root: Path | None = None) -> str:
    """One run whose metrics are curves over depth: every numeric column of ``per_layer``
    (a DataFrame with a ``layer`` column) is logged with ``step = layer``; ``summary`` holds
    single-valued metrics. Returns the run id."""
    os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
    import mlflow

    root = root or project_root()
    mlflow.set_tracking_uri(tracking_uri(root))
    found = mlflow.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else mlflow.create_experiment(
        experiment, artifact_location=(root / "mlartifacts").as_uri(),
        tags={"mlflow.experimentKind": "custom_model_development"})
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.log_params(dict(run_params))
        mlflow.log_metrics(_numeric(summary))
        for row in per_layer.to_dict("records"):
            step = int(row.pop("layer"))
            # NaN marks a value that does not exist for this layer (no weights to compare).
            mlflow.log_metrics({k: v for k, v in _numeric(row).items() if math.isfinite(v)},
                               step=step)
        for path in artifacts:
            mlflow.log_artifact(str(path))
        return run.info.run_id
