"""A preset run as a DVC experiment in a temporary workspace: its reports copied, params.yaml
left alone."""

from __future__ import annotations

import json
import shutil

import pytest

from langgeo import LanggeoError
from langgeo.data import udhr

pytestmark = pytest.mark.integration


def test_a_preset_runs_as_an_experiment_and_leaves_params_yaml_alone(tmp_path, tiny_model_dir,
                                                                     monkeypatch):
    from tests.helpers.projects import BIN, GIT, make_project, ok, run

    project = make_project(tmp_path / "project", tiny_model_dir)
    (project / ".gitignore").write_text("/mlruns.db\n/mlartifacts/\n/data/external/\n")
    # Where `make install` puts the tarball; a temporary workspace finds it through DVC_ROOT.
    (project / "data" / "external").mkdir(parents=True)
    shutil.copy(udhr.archive_path(), project / "data" / "external")
    (project / "params.udhr5.yaml").write_text(
        "datasets: [udhr]\ndataset_catalog: {udhr: {source: udhr, tokens_per_language: 128}}\n")
    with pytest.raises(LanggeoError, match="'pruning.dataset' 'eld' .* must be among"):
        from langgeo.pipeline.presets import preset_params
        preset_params("udhr5", project)
    with (project / "params.udhr5.yaml").open("a") as f:
        f.write("pruning: {dataset: udhr}\n")
    ok(GIT + ["init", "-q"], project)
    ok([str(BIN / "dvc"), "init", "-q"], project)
    ok(GIT + ["add", "-A"], project)
    ok(GIT + ["commit", "-q", "-m", "pipeline"], project)
    before = (project / "params.yaml").read_bytes()
    monkeypatch.delenv("LANGGEO_UDHR")
    result = run([str(BIN / "langgeo"), "preset", "--name", "udhr5"], project)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "reports copied to reports/presets/udhr5" in result.stdout
    assert (project / "params.yaml").read_bytes() == before
    assert not (project / "data" / "signatures").exists()  # the workspace ran nothing
    metrics = json.loads((project / "reports/presets/udhr5/metrics.json").read_text())
    assert metrics["pairs"] == ["tiny/udhr"] and metrics["ours"]["n_languages"] == 5
    assert (project / "reports/presets/udhr5/comparison.csv").is_file()
    assert "udhr5" in ok([str(BIN / "dvc"), "exp", "list", "--name-only"], project).stdout.split()
