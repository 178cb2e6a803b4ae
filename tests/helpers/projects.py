"""Scratch projects: a copy of this repository's pipeline whose params point at the tiny
model, and the commands a user runs in one (git, dvc, langgeo)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from langgeo.pipeline.cli import main

#: The repository root.
REPO = Path(__file__).resolve().parents[2]
#: The scripts of this interpreter's environment (dvc, langgeo, ray).
BIN = Path(sys.executable).parent
#: git with an identity of its own, for commits in scratch projects.
GIT = ["git", "-c", "user.name=langgeo", "-c", "user.email=langgeo@example.invalid"]


#: The stages an eld-only tiny project can run (and every stage they need): the script
#: experiment needs UDHR references and the fine-tuning study its own held-out panel; their
#: stages are tested on tiny projects of their own (tests/pipeline/stages/).
ELD_STAGES = ["attribute", "report", "evaluate", "export", "synthetic", "transfer", "explorer"]


#: The fine-tuning study of a tiny project: the tiny model, four of its languages, a step size
#: large enough to move it in two steps.
TINY_FINETUNE = {"model": "tiny", "panel": ["fr", "es", "de", "ru"], "lr": 1e-2, "steps": 2,
                 "batch_size": 1, "modes": ["full", "frozen"], "alignment_sources": ["fr", "ru"],
                 "alignment_units": 6}


def make_project(root: Path, model_dir: Path, **overrides) -> Path:
    """A copy of this repository's pipeline whose params point at the tiny model."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    shutil.copytree(REPO / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__",
                                                                             "*.egg-info"))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params.update(languages=["fr", "es", "de", "ru", "ja"], models=["tiny"], datasets=["eld"],
                  calibration={"tokens_per_language": 256, "seq_len": 64})
    params["evaluation"].update(kmeans_seeds=2, n_permutations=99, n_bootstrap=10,
                                mantel_permutations=99)
    params["model_catalog"]["tiny"] = {"source": "pretrained", "id": str(model_dir)}
    params["synthetic"].update(tokens=256, transformations={"substitute": [0.1, 0.4],
                                                            "scramble": [0.5, 1.0]})
    params["pruning"].update(model="tiny", panel=["fr", "es", "de", "ru", "ja"],
                             calibration_tokens=128, heldout_tokens=128, seq_len=64,
                             permutations=99)
    params["finetune"].update(TINY_FINETUNE)
    for key, value in overrides.items():
        params[key] = value
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "DVC_NO_ANALYTICS": "1", "HF_HUB_OFFLINE": "1"}
    env.pop("DVC_ROOT", None)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def ok(cmd, cwd):
    result = run(cmd, cwd)
    assert result.returncode == 0, f"{cmd}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result


def set_params(root: Path, **overrides) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    params.update(overrides)
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def track(root: Path, capsys) -> list[str]:
    with contextlib.chdir(root):
        assert main(["track"]) == 0
    return capsys.readouterr().out.splitlines()
