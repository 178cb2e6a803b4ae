"""MLflow tracking: a damaged store found before any work; the runs table's view."""

from __future__ import annotations

import contextlib

import pytest

from langgeo.pipeline.tracking import runs_view


def test_damaged_mlflow_store_is_found_before_evaluating(tmp_path):
    import sqlite3

    from langgeo import LanggeoError
    from langgeo.pipeline.tracking import check_store

    store = tmp_path / "mlruns.db"
    with contextlib.closing(sqlite3.connect(store)) as db:
        db.execute("CREATE TABLE runs (id TEXT, payload TEXT)")
        db.executemany("INSERT INTO runs VALUES (?, ?)",
                       [(str(i), "x" * 500) for i in range(400)])
        db.commit()
    check_store(tmp_path)  # healthy
    data = bytearray(store.read_bytes())
    data[len(data) // 2:len(data) // 2 + 4096] = b"\xff" * 4096
    store.write_bytes(bytes(data))
    with pytest.raises(LanggeoError, match=r"damaged .*\.dump > mlruns\.sql"):
        check_store(tmp_path)
    store.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LanggeoError, match="damaged"):
        check_store(tmp_path)


def test_runs_view_names_the_headline_metrics():
    view = runs_view("family")
    assert view["selectedColumns"][:3] == ["metrics.`family/kmeans/ari_mean`",
                                           "metrics.`family/kmeans/ari_std`",
                                           "metrics.`family/kmeans/purity_mean`"]
    assert "params.`calibration.tokens_per_language`" in view["selectedColumns"]
