"""`langgeo track`: the MLflow runs of the current outputs, logged by the same functions as the
stages', once per configuration and outputs."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
from pathlib import Path

import yaml

from langgeo.cli import main
from test_pipeline import REPO, make_project

STAGES = [["labels"], ["calibrate", "--dataset", "eld"],
          ["signatures", "--model", "tiny", "--dataset", "eld"], ["distances"], ["embed"],
          ["attribute"], ["report"], ["evaluate"], ["transfer"],
          ["interlingua", "--model", "tiny"], ["explorer"]]


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


def track(root: Path, capsys) -> list[str]:
    with contextlib.chdir(root):
        assert main(["track"]) == 0
    return capsys.readouterr().out.splitlines()


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
    logged = store(root)
    # the configuration, its pair, baselines and Latin-script runs; pruning; interlingua
    assert len(logged) == 1 + 1 + 6 + 1 + 1 + 5 + 1 + 1
    parent = next(v for (e, p, _), v in logged.items() if e == "langgeo" and p is None)
    config = parent["tags"]["langgeo.config_hash"]
    assert {(e, p) for e, p, _ in logged} == {
        ("langgeo", None), ("langgeo", f"config-{config}"), ("langgeo-pruning", None),
        ("langgeo-interlingua", None)}
    assert "explorer.html" in parent["artifacts"] and "metrics.json" in parent["artifacts"]
    assert set(parent["tags"]) == {"langgeo.config_hash", "langgeo.outputs_sha256",
                                   "langgeo.explorer_sha256"}

    # The stages' runs are the ones track would log: nothing to do.
    lines = track(root, capsys)
    assert [line.split(":")[:2] for line in lines] == [
        ["evaluate", " already present"], ["transfer", " already present"],
        ["interlingua@tiny", " already present"], ["explorer", " already present"]]
    assert store(root) == logged

    # The outputs without the store, as on a clone where `dvc repro` has nothing to run. (A
    # copy, not the store deleted in place: MLflow keeps a cached connection to the deleted
    # file within this process.)
    clone = tmp_path / "clone"
    shutil.copytree(root, clone, symlinks=True,
                    ignore=shutil.ignore_patterns("mlruns.db", "mlartifacts"))
    lines = track(clone, capsys)
    assert [line.split(":")[:2] for line in lines] == [
        ["evaluate", " logged"], ["transfer", " logged"], ["interlingua@tiny", " logged"],
        ["explorer", " logged"]]
    assert store(clone) == logged

    assert all(": already present: MLflow run " in line for line in track(clone, capsys))
    assert store(clone) == logged


def test_track_without_outputs_or_with_a_damaged_store(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DVC_ROOT", raising=False)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["models"] = ["gemma3-270m"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    assert track(tmp_path, capsys) == [
        "evaluate: not logged: no reports/metrics.json, reports/comparison.csv, "
        "reports/attribution.csv, reports/attribution.png, data/embedding/latent.parquet "
        "(`dvc repro evaluate` writes them)",
        "transfer: not logged: no reports/pruning/transfer.json, reports/pruning/matrix.csv, "
        "reports/pruning/cost.png, reports/pruning/scatter.png (`dvc repro transfer` writes "
        "them)",
        "interlingua@gemma3-270m: not logged: no reports/interlingua/gemma3-270m/layers.csv, "
        "reports/interlingua/gemma3-270m/summary.json (`dvc repro interlingua@gemma3-270m` "
        "writes them)",
        "explorer: not logged: no reports/explorer.html (`dvc repro explorer` writes it)"]
    # Looking runs up creates no store.
    assert not (tmp_path / "mlruns.db").exists()

    (tmp_path / "mlruns.db").write_bytes(b"this is not sqlite" * 100)
    with contextlib.chdir(tmp_path):
        assert main(["track"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("langgeo track: error: the MLflow store ")
    assert "is damaged" in captured.err and "`langgeo track`" in captured.err
