"""Stages pruning_matrix and transfer: the cross-lingual matrix and masks, then the reports and
MLflow run of a tiny model."""

import numpy as np
import pytest

# Tiny matrices: on a busy 2-core machine the thread pool costs more than the work.
pytestmark = pytest.mark.usefixtures("one_thread")


def test_transfer_stage_writes_matrix_masks_reports_and_mlflow(scratch, capsys, monkeypatch):
    import json

    import pandas as pd

    from langgeo.data.labels import language_labels
    from langgeo.formats.matrix_file import write_matrix
    from langgeo.formats.signature_file import read_signature
    from langgeo.pipeline.cli import main

    monkeypatch.delenv("DVC_ROOT", raising=False)
    codes = ["fr", "es", "de", "ru", "ja"]
    rng = np.random.default_rng(0)
    upper = np.triu(rng.uniform(0.1, 0.5, (5, 5)), 1)
    write_matrix(scratch / "data/distances/ensemble.parquet", codes, upper + upper.T)
    language_labels(codes).to_parquet(scratch / "data/labels.parquet", index=False)
    assert main(["pruning-matrix"]) == 0
    assert "pruning matrix: tiny pruned unstructured 50%" in capsys.readouterr().out
    assert not (scratch / "reports/pruning").exists()  # the forward passes write data only
    assert main(["transfer"]) == 0
    out = capsys.readouterr().out
    assert "transfer: 4 languages" in out and "uriel_genetic" in out
    summary = json.loads((scratch / "reports/pruning/transfer.json").read_text())
    assert set(summary["tests"]) >= {"ours", "sparsegpt_mask", "uriel_geographic", "random"}
    assert set(summary["tests"]["ours"]["per_target"]) == {"fr", "es", "de", "ru"}
    matrix = pd.read_parquet(scratch / "data/pruning/tiny/eld/matrix.parquet")
    assert len(matrix) == 4 * 5
    pruned = matrix[matrix["source"] != "dense"]
    assert (pruned[pruned["source"] == pruned["target"]]["R"] == 0).all()
    signature = read_signature(scratch / "data/pruning/tiny/eld/masks/fr.parquet")
    assert signature.n_bits > 0
    for figure in ("cost.png", "scatter.png"):
        assert (scratch / "reports/pruning" / figure).stat().st_size > 0
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{scratch / 'mlruns.db'}")
    runs = mlflow.search_runs(experiment_names=["langgeo-pruning"])
    assert len(runs) == 1 and runs["metrics.ours/p"].iloc[0] == summary["tests"]["ours"]["p"]
