"""MLflow tracking: one parent run per pipeline configuration, a child per (model, dataset)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from langgeo import LanggeoError
from langgeo.params import Params, flat_params


def project_root() -> Path:
    """The repository root. DVC sets ``DVC_ROOT`` to the real root, also in queued
    experiments that run in a temporary copy, so the store is never written into a copy."""
    return Path(os.environ.get("DVC_ROOT", os.getcwd())).resolve()


def tracking_uri(root: Path | None = None) -> str:
    """sqlite store at the repository root (the file store is deprecated in MLflow 3)."""
    return f"sqlite:///{(root or project_root()) / 'mlruns.db'}"


def check_store(root: Path | None = None) -> None:
    """Raise a LanggeoError, with a recovery recipe that keeps the logged runs, when the
    sqlite store exists but is not a healthy database."""
    import sqlite3

    path = (root or project_root()) / "mlruns.db"
    if not path.exists() or path.stat().st_size == 0:
        return  # MLflow creates it
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            problem = db.execute("PRAGMA quick_check").fetchone()[0]
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
            if problem == "ok" and tables and "runs" not in tables:
                problem = "no 'runs' table: not an MLflow store"
    except sqlite3.DatabaseError as exc:
        problem = str(exc)
    if problem != "ok":
        raise LanggeoError(
            f"the MLflow store {path} is damaged ({problem}); nothing was written. To keep "
            f"the runs already logged, rebuild it from what sqlite can still read: `sqlite3 "
            f"{path} .dump > mlruns.sql && mv {path} {path}.damaged && sqlite3 {path} < "
            f"mlruns.sql` (artifacts in mlartifacts/ are untouched). To start afresh instead: "
            f"`mv {path} {path}.damaged`. Then `make repro` (`dvc repro`, then `langgeo track` "
            f"for the runs of the current outputs that the store lacks)")


def _numeric(metrics: Mapping[str, object]) -> dict[str, float]:
    # MLflow takes numbers only: undefined metrics (None) are left out.
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


#: Key of the saved runs-table view (experiment tag ``mlflow.sharedViewState.<key>``, opened
#: by ``?viewStateShareKey=<key>``): the MLflow 3.17 UI restores its columns from that tag.
RUNS_VIEW_KEY = "langgeo"


def runs_view(label_level: str) -> dict[str, object]:
    """The runs-table view state the UI reads from the experiment tag: the headline metrics
    (k-means ARI and purity at ``label_level``, agglomerative ARI) and the params that tell
    configurations apart, as columns, newest run first."""
    metrics = [f"{label_level}/kmeans/ari_mean", f"{label_level}/kmeans/ari_std",
               f"{label_level}/kmeans/purity_mean", f"{label_level}/agglomerative/ari"]
    params = ["models", "datasets", "calibration.tokens_per_language"]
    # Column keys as the UI builds them (`type.` + backquoted name); without an explicit
    # order it sorts metrics by name, which would put agglomerative ARI first.
    columns = [f"metrics.`{m}`" for m in metrics] + [f"params.`{p}`" for p in params]
    return {"selectedColumns": columns, "columnOrder": columns,
            "orderByKey": "attributes.start_time", "orderByAsc": False}


def get_or_create_experiment(name: str, root: Path | None = None) -> str:
    """The id of MLflow experiment ``name`` in the project's store (artifacts in
    ``mlartifacts/``), created if absent."""
    os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
    import mlflow

    root = root or project_root()
    mlflow.set_tracking_uri(tracking_uri(root))
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    # The kind tag marks it as model training rather than GenAI in the UI's mode switch.
    return mlflow.create_experiment(name, artifact_location=(root / "mlartifacts").as_uri(),
                                    tags={"mlflow.experimentKind": "custom_model_development"})


def ensure_experiment(name: str, label_level: str, root: Path | None = None) -> str:
    """The id of MLflow experiment ``name`` in the project's store, created if absent, with
    the tags that make the UI open it on the runs table (:func:`runs_url`)."""
    import mlflow

    experiment_id = get_or_create_experiment(name, root)
    client = mlflow.MlflowClient()
    # Set again on an existing experiment: a store from an older version may lack them. The
    # experiment's own page still opens on a GenAI overview, hence the view and runs_url.
    client.set_experiment_tag(experiment_id, "mlflow.experimentKind",
                              "custom_model_development")
    client.set_experiment_tag(experiment_id, f"mlflow.sharedViewState.{RUNS_VIEW_KEY}",
                              json.dumps(runs_view(label_level)))
    return experiment_id


def runs_url(experiment_id: str, base: str = "http://127.0.0.1:5000") -> str:
    """Direct link to the experiment's runs table with the headline columns."""
    return f"{base}/#/experiments/{experiment_id}/runs?viewStateShareKey={RUNS_VIEW_KEY}"


def serve_ui(experiment: str, label_level: str, host: str = "127.0.0.1", port: int = 5000,
             root: Path | None = None, startup_timeout: float = 120.0) -> int:
    """Run the MLflow UI over the project's store until it stops; once it answers, print the
    link to the runs table. Returns the server's exit status."""
    import urllib.request

    root = root or project_root()
    # A new store gets its tables before the server opens it; an existing one is tagged while
    # the server starts (both import mlflow, seconds each on a busy machine).
    fresh = not (root / "mlruns.db").exists()
    if fresh:
        experiment_id = ensure_experiment(experiment, label_level, root)
    # Job execution spawns ~10 worker processes (~1.9 GB) that the runs table does not need,
    # and one local reader needs one worker, not the default four (which start 4x slower
    # on two cores).
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
           "MLFLOW_ENABLE_TELEMETRY": "false"}
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", tracking_uri(root),
         "--default-artifact-root", (root / "mlartifacts").as_uri(), "--host", host,
         "--port", str(port), "--workers", "1"], env=env)
    base = f"http://{host}:{port}"
    try:
        if not fresh:
            experiment_id = ensure_experiment(experiment, label_level, root)
        deadline = time.monotonic() + startup_timeout
        while server.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        if server.poll() is None:
            print(f"\nlanggeo runs table (experiment {experiment!r}): "
                  f"{runs_url(experiment_id, base)}\n", flush=True)
        return server.wait()
    except KeyboardInterrupt:
        server.terminate()
        return server.wait()
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait()


#: Tags that identify a run: the configuration (hash of the whole params) and a sha256 of
#: the files it was logged from (:func:`outputs_digest`); ``langgeo track`` logs a run only
#: when none carries both.
CONFIG_TAG = "langgeo.config_hash"
OUTPUTS_TAG = "langgeo.outputs_sha256"


def outputs_digest(paths: Sequence[Path], root: Path) -> str:
    """sha256 over the files at ``paths``: each one's path relative to ``root`` and the
    sha256 of its bytes, in path order (so the same files give the same digest anywhere)."""
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.relative_to(root).as_posix()):
        content = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                content.update(block)
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + content.digest())
    return digest.hexdigest()


def log_run(experiment_id: str, run_name: str, run_params: Mapping[str, object],
            metrics: Mapping[str, object], artifacts: Sequence[Path] = (),
            tags: Mapping[str, str] | None = None,
            children: Mapping[str, tuple[Mapping[str, object], Mapping[str, object]]]
            | None = None,
            steps: Mapping[int, Mapping[str, object]] | None = None,
            root: Path | None = None) -> str:
    """Log one run into experiment ``experiment_id`` of the project's store; returns its id.

    ``children`` maps a nested run's name (e.g. ``pair/gemma3-270m/eld``) to its params and
    metrics; ``steps`` maps a step (e.g. a layer) to metrics logged at that step, where NaN
    marks a value that does not exist at that step and is left out. Non-numeric metrics are
    left out. ``tags`` are written last, so a run cut short is not taken for a complete one.
    """
    os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(root))
    tags = dict(tags or {})
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.log_params(dict(run_params))
        mlflow.log_metrics(_numeric(metrics))
        for step, values in (steps or {}).items():
            mlflow.log_metrics({k: v for k, v in _numeric(values).items() if math.isfinite(v)},
                               step=step)
        for path in artifacts:
            mlflow.log_artifact(str(path))
        # Children carry the configuration (to filter by it in the UI) but not the outputs
        # key, so that find_run finds only the parent.
        child_tags = {k: v for k, v in tags.items() if k != OUTPUTS_TAG}
        for child, (child_params, child_metrics) in (children or {}).items():
            with mlflow.start_run(experiment_id=experiment_id, run_name=child, nested=True,
                                  tags=child_tags):
                mlflow.log_params(dict(child_params))
                mlflow.log_metrics(_numeric(child_metrics))
        mlflow.set_tags(tags)
        return run.info.run_id


def configuration_name(params: Params) -> str:
    """What a configuration ran, as its run's name: models × datasets with their calibration
    tokens, score, distances, dtype and the number of languages (its hash is a tag)."""
    models = "+".join(m.name for m in params.models)
    datasets = "+".join(f"{d.name}@{params.tokens(d.name)}" for d in params.datasets)
    sig = params.signatures
    return (f"{models} x {datasets} {sig.score} {params.distances.kind} {sig.dtype} "
            f"{len(params.languages)} languages")


def log_configuration(params: Params, metrics: Mapping[str, object],
                      children: Mapping[str, tuple[Mapping[str, object], Mapping[str, object]]],
                      artifacts: Sequence[Path], root: Path | None = None,
                      tags: Mapping[str, str] | None = None) -> str:
    """Log one configuration: a parent run named :func:`configuration_name` and tagged with
    the params' hash, with the whole params, the
    ensemble's ``metrics``, ``artifacts`` and ``children`` (see :func:`log_run`), in the
    experiment ``tracking.experiment``; returns the parent run id."""
    experiment_id = ensure_experiment(params.tracking.experiment, params.evaluation.label_level,
                                      root)
    config = params.config_hash()
    return log_run(experiment_id, configuration_name(params), flat_params(params), metrics,
                   artifacts, {CONFIG_TAG: config, **(tags or {})}, children, root=root)


def find_run(experiment: str, tags: Mapping[str, str], root: Path | None = None) -> str | None:
    """The id of the newest active run of ``experiment`` that carries every tag of ``tags``;
    None when there is none (or no such experiment or store: none is created)."""
    root = root or project_root()
    # Looking a run up must not create a store: MLflow would build one (seconds) to find none.
    if not (root / "mlruns.db").is_file():
        return None
    os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
    import mlflow

    client = mlflow.MlflowClient(tracking_uri(root))
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    query = " AND ".join(f"tags.`{key}` = '{value}'" for key, value in tags.items())
    runs = client.search_runs([found.experiment_id], query,
                              order_by=["attributes.start_time DESC"], max_results=1)
    return runs[0].info.run_id if runs else None


def add_to_run(run_id: str, artifacts: Sequence[Path], tags: Mapping[str, str],
               root: Path | None = None) -> None:
    """Add ``artifacts`` (replacing those of the same name) and then ``tags`` to a run."""
    os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
    import mlflow

    client = mlflow.MlflowClient(tracking_uri(root))
    for path in artifacts:
        client.log_artifact(run_id, str(path))
    for key, value in tags.items():
        client.set_tag(run_id, key, value)


COMPARE_COLUMNS = {
    "run_id": "run_id", "tags.mlflow.runName": "run", "start_time": "start_time",
    "params.calibration.tokens_per_language": "tokens_per_language",
    "params.signatures.score": "score", "params.signatures.binarization": "binarization",
    "params.distances.kind": "distances", "params.signatures.dtype": "dtype",
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


def compare_pair_runs(experiment: str, root: Path | None = None):
    """One row per (configuration, model, dataset) of ``experiment``: the child runs of each
    pair, measured on the languages every pair of the configuration holds (``common``) where
    pairs differ in coverage, else on the pair's own; with the pair's model, dataset and
    tokens per language, the parent's score, binarization, distances and dtype, and every
    metric, newest first. A pandas DataFrame, empty if no run has pair children with tokens."""
    os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")
    import mlflow
    import pandas as pd

    parents = compare_runs(experiment, root)
    if parents.empty:
        return pd.DataFrame()
    runs = mlflow.search_runs(experiment_names=[experiment], order_by=["start_time DESC"],
                              filter_string="params.tokens_per_language != ''")
    if runs.empty:
        return pd.DataFrame()
    runs = runs.assign(run=runs["tags.mlflow.runName"], parent=runs["tags.mlflow.parentRunId"])
    # Per configuration the common-language runs where they exist, else the pair's own.
    has_common = set(runs.loc[runs["run"].str.startswith("common/pair/"), "parent"])
    keep = (runs["run"].str.startswith("common/pair/") |
            (runs["run"].str.startswith("pair/") & ~runs["parent"].isin(has_common)))
    runs = runs[keep]
    metrics = [c for c in runs.columns if c.startswith("metrics.")]
    table = pd.DataFrame({
        "run": runs["run"], "model": runs["params.model"], "dataset": runs["params.dataset"],
        "tokens_per_language": runs["params.tokens_per_language"].astype(int),
        "languages": ["common" if r.startswith("common/") else "own" for r in runs["run"]],
        "parent": runs["parent"],
        **{c.removeprefix("metrics."): runs[c] for c in metrics}})
    config = parents.set_index("run_id")[["score", "binarization", "distances", "dtype"]]
    return table.join(config, on="parent").reset_index(drop=True)
