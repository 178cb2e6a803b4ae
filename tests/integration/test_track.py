"""`langgeo track`, the last stage: the MLflow runs of the current outputs, logged once per
configuration and outputs, by the same functions as the studies' own runs."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
from pathlib import Path

import pytest

from langgeo.params import load_params
from langgeo.pipeline.cli import main
from tests.helpers.projects import make_project, track

pytestmark = pytest.mark.integration


STAGES = [["labels"], ["calibrate", "--dataset", "eld"],
          ["signatures", "--model", "tiny", "--dataset", "eld"], ["distances"], ["embed"],
          ["attribute"], ["report"], ["evaluate"], ["pruning-matrix"], ["transfer"],
          ["hidden-states", "--model", "tiny"], ["interlingua", "--model", "tiny"],
          ["explorer"]]


def store(root: Path) -> dict:
    """Every run of the project's store by (experiment, parent's name, name): its params,
    metrics (every step of each), langgeo tags and artifact names; NaN as a string, so that
    equal stores compare equal."""
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{root / 'mlruns.db'}")
    runs = [(e.name, r) for e in client.search_experiments()
            for r in client.search_runs([e.experiment_id])]
    names = {r.info.run_id: r.info.run_name for _, r in runs}
    out = {}
    for experiment, r in runs:
        parent = names.get(r.data.tags.get("mlflow.parentRunId"))
        key = (experiment, parent, r.info.run_name)
        assert key not in out, f"two runs {key}"
        out[key] = {
            "params": r.data.params,
            "metrics": {k: [(m.step, "nan" if math.isnan(m.value) else m.value)
                            for m in client.get_metric_history(r.info.run_id, k)]
                        for k in r.data.metrics},
            "tags": {k: v for k, v in r.data.tags.items() if k.startswith("langgeo.")},
            "artifacts": sorted(a.path for a in client.list_artifacts(r.info.run_id))}
    return out


#: The studies an eld-only tiny project does not run (no UDHR references, no fine-tuning panel).
NOT_RUN = [["finetune", " not logged"], ["rankings", " not logged"], ["robust", " not logged"]]


def test_track_logs_the_runs_of_the_current_outputs_once(tmp_path, tiny_model_dir, capsys,
                                                         monkeypatch, one_thread):
    monkeypatch.delenv("DVC_ROOT", raising=False)
    root = make_project(tmp_path / "p", tiny_model_dir)
    (root / "models").mkdir()
    os.symlink(tiny_model_dir, root / "models" / "tiny")
    with contextlib.chdir(root):
        for stage in STAGES:
            assert main(stage) == 0, stage
    capsys.readouterr()
    # The stages write files; only the studies log their own runs (with their timings).
    assert {(e, p) for e, p, _ in store(root)} == {("langgeo-pruning", None),
                                                   ("langgeo-interlingua", None)}
    # The last stage, track, logs the configuration's run with the explorer page in it.
    lines = track(root, capsys)
    assert [line.split(":")[:2] for line in lines] == [
        ["evaluate", " logged"], ["transfer", " already present"], *NOT_RUN[:2],
        ["interlingua@tiny", " already present"], NOT_RUN[2], ["explorer", " logged"]]
    logged = store(root)
    # the configuration, its pair, baselines and Latin-script runs; pruning; interlingua
    assert len(logged) == 1 + 1 + 6 + 1 + 1 + 5 + 1 + 1
    name, parent = next((n, v) for (e, p, n), v in logged.items() if e == "langgeo" and p is None)
    # Named by what it ran; the params' hash is a tag.
    assert name == "tiny x eld@256 sparsegpt hamming bfloat16 5 languages"
    assert parent["tags"]["langgeo.config_hash"] == load_params(root / "params.yaml").config_hash()
    assert {(e, p) for e, p, _ in logged} == {
        ("langgeo", None), ("langgeo", name), ("langgeo-pruning", None),
        ("langgeo-interlingua", None)}
    assert "explorer.html" in parent["artifacts"] and "metrics.json" in parent["artifacts"]
    assert set(parent["tags"]) == {"langgeo.config_hash", "langgeo.outputs_sha256",
                                   "langgeo.explorer_sha256"}

    # Once logged, nothing to do.
    lines = track(root, capsys)
    assert [line.split(":")[:2] for line in lines] == [
        ["evaluate", " already present"], ["transfer", " already present"], *NOT_RUN[:2],
        ["interlingua@tiny", " already present"], NOT_RUN[2], ["explorer", " already present"]]
    assert store(root) == logged

    # The outputs without the store, as on a clone where `dvc repro` has nothing to run. (A
    # copy, not the store deleted in place: MLflow keeps a cached connection to the deleted
    # file within this process.)
    clone = tmp_path / "clone"
    shutil.copytree(root, clone, symlinks=True,
                    ignore=shutil.ignore_patterns("mlruns.db", "mlartifacts"))
    lines = track(clone, capsys)
    assert [line.split(":")[:2] for line in lines] == [
        ["evaluate", " logged"], ["transfer", " logged"], *NOT_RUN[:2],
        ["interlingua@tiny", " logged"], NOT_RUN[2], ["explorer", " logged"]]
    # The same runs: every one is built from the files alone (timings are in the logs).
    assert store(clone) == logged

    assert [line.split(":")[:2] for line in track(clone, capsys)] == [
        ["evaluate", " already present"], ["transfer", " already present"], *NOT_RUN[:2],
        ["interlingua@tiny", " already present"], NOT_RUN[2], ["explorer", " already present"]]
    assert store(clone) == logged
