"""Scratch projects for the tests of the stages and commands."""

from __future__ import annotations

import contextlib
import os

import pytest

from langgeo.pipeline.cli import main
from tests.helpers.jobs import SHARDED
from tests.helpers.projects import make_project


@pytest.fixture
def project(tmp_path, tiny_model_dir, monkeypatch):
    """A scratch project with the tiny model prepared, the working directory in it."""
    root = make_project(tmp_path / "p", tiny_model_dir)
    (root / "models").mkdir()
    os.symlink(tiny_model_dir, root / "models" / "tiny")
    monkeypatch.chdir(root)
    return root


@pytest.fixture(scope="session")
def calibrated(tmp_path_factory, tiny_model_dir):
    """A scratch project with calibration shards for SHARDED (the signature stage reads only
    the languages its params list). Read only:
    tests change a copy (tests.helpers.jobs: project)."""
    root = make_project(tmp_path_factory.mktemp("jobs") / "p", tiny_model_dir,
                        languages=SHARDED)
    (root / "models").mkdir()
    os.symlink(tiny_model_dir, root / "models" / "tiny")
    with contextlib.chdir(root):
        assert main(["calibrate", "--dataset", "eld"]) == 0
    return root


@pytest.fixture
def scratch(tmp_path, tiny_model_dir, monkeypatch):
    """A project folder whose params prune the tiny model on five eld languages."""
    from pathlib import Path

    import yaml

    params = yaml.safe_load((Path(__file__).parents[2] / "params.yaml").read_text())
    params.update(languages=["fr", "es", "de", "ru", "ja"], models=["tiny"])
    params["model_catalog"]["tiny"] = {"source": "pretrained", "id": str(tiny_model_dir)}
    params["pruning"].update(model="tiny", panel=["fr", "es", "de", "ru"],
                             calibration_tokens=128, heldout_tokens=128, seq_len=64)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "tiny").symlink_to(tiny_model_dir)
    monkeypatch.chdir(tmp_path)
    return tmp_path
