"""Stage prepare-model: a model that cannot load offline fails fast, with nothing written."""

from __future__ import annotations

import time

import yaml

from langgeo.pipeline.cli import main


def test_model_that_cannot_load_offline_fails_fast(project, capsys, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["model_catalog"]["ghost"] = {"source": "pretrained", "id": "no-such-org/no-model"}
    params["models"] = ["ghost"]
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    start = time.perf_counter()
    assert main(["prepare-model", "--model", "ghost"]) == 2
    assert time.perf_counter() - start < 10
    err = capsys.readouterr().err
    assert "no-such-org/no-model" in err and "HF_HUB_OFFLINE" in err
    assert not (project / "models" / "ghost").exists()
