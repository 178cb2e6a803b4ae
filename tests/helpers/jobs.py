"""The signature stage run as jobs in a copy of a calibrated scratch project.

The fixture ``project`` here is a copy of tests/pipeline/conftest.py's ``calibrated``. The
modules that use it import it (as ``calibrated_copy``), since tests/pipeline/conftest.py has
a ``project`` of its own: the fresh scratch project of the other stage tests."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import pytest
import yaml

from langgeo.pipeline.cli import main

SHARDED = ["fr", "es", "de", "ru"]


@pytest.fixture(name="project")
def calibrated_copy(calibrated, tmp_path):
    """A copy of the calibrated project, for one test to change."""
    copy = tmp_path / "p"
    shutil.copytree(calibrated, copy, symlinks=True)
    return copy


def set_params(root: Path, **sections) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(params.get(key), dict):
            params[key].update(value)
        else:
            params[key] = value
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def stage(root: Path, capsys, command: str = "signatures", **sections) -> tuple[int, str]:
    set_params(root, **sections)
    args = ["--model", "tiny", "--dataset", "eld"] if command == "signatures" else []
    with contextlib.chdir(root):
        rc = main([command, *args])
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def out_dir(root: Path) -> Path:
    return root / "data" / "signatures" / "tiny" / "eld"


def contents(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out_dir(root).iterdir())}


def leftovers(root: Path) -> list[Path]:
    return [p for p in (root / "data").rglob(".*.tmp")]
