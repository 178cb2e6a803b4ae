"""Sharing results through a DVC remote: push from one checkout, pull into a fresh clone."""

from __future__ import annotations

import pytest

from tests.helpers.projects import BIN, ELD_STAGES, GIT, make_project, ok

pytestmark = pytest.mark.integration


DVC = str(BIN / "dvc")


def test_a_clone_pulls_every_output_and_has_nothing_to_rerun(tmp_path, tiny_model_dir):
    project = make_project(tmp_path / "project", tiny_model_dir)
    # The MLflow store is per machine; everything DVC tracks travels through the remote.
    (project / ".gitignore").write_text("/mlruns.db\n/mlartifacts/\n")
    ok(GIT + ["init", "-q"], project)
    ok([DVC, "init", "-q"], project)
    ok([DVC, "repro", *ELD_STAGES], project)
    # A remote beside the repository, as in `dvc remote add -d storage ../langgeo-remote`.
    ok([DVC, "remote", "add", "-d", "storage", "../remote"], project)
    ok([DVC, "push"], project)
    ok(GIT + ["add", "-A"], project)
    ok(GIT + ["commit", "-q", "-m", "results"], project)

    clone = tmp_path / "clone"
    ok(GIT + ["clone", "-q", str(project), str(clone)], tmp_path)
    outputs = ("data/embedding/latent.parquet", "data/distances/ensemble.parquet",
               "data/signatures/tiny/eld/fr.parquet", "data/labels.parquet", "models/tiny")
    assert not any((clone / out).exists() for out in outputs)  # git holds none of them
    ok([DVC, "pull", "--with-deps", *ELD_STAGES], clone)
    status = ok([DVC, "status", *ELD_STAGES], clone)
    assert "Data and pipelines are up to date" in status.stdout, status.stdout
    again = ok([DVC, "repro", *ELD_STAGES], clone)
    assert "Running stage" not in again.stdout, again.stdout
    for out in outputs[:-1]:
        assert (clone / out).read_bytes() == (project / out).read_bytes(), out
