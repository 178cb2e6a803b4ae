"""``langgeo track`` (the last stage) without outputs, or with a damaged store."""

from __future__ import annotations

import contextlib

import yaml

from langgeo.pipeline.cli import main
from tests.helpers.projects import REPO, track


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
        "finetune: not logged: no reports/finetune/summary.json, reports/finetune/freezing.csv "
        "(`dvc repro finetune` writes them)",
        "rankings: not logged: no reports/rankings/rankings.csv, reports/rankings/summary.json "
        "(`dvc repro rankings` writes them)",
        "interlingua@gemma3-270m: not logged: no reports/interlingua/gemma3-270m/layers.csv, "
        "reports/interlingua/gemma3-270m/summary.json (`dvc repro interlingua@gemma3-270m` "
        "writes them)",
        "robust: not logged: no reports/robust/metrics.json, reports/robust/comparison.csv "
        "(`dvc repro robust` writes them)",
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
