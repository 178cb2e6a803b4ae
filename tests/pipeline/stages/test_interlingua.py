"""Stage interlingua: its reports and the layers' matrices, written whole or not at all;
an impossible neighbourhood refused."""

import numpy as np
import pytest

from langgeo.studies.interlingua import representation_distances


@pytest.fixture
def project(tmp_path, tiny_model_dir, monkeypatch):
    """A scratch project with the tiny model, its labels and planted weight distances."""
    import os

    from langgeo.data.labels import language_labels
    from langgeo.formats.matrix_file import write_matrix
    from tests.helpers.projects import make_project

    languages = ["fr", "es", "de", "ru", "ja", "or"]
    root = make_project(tmp_path / "p", tiny_model_dir, languages=languages)
    (root / "models").mkdir()
    os.symlink(tiny_model_dir, root / "models" / "tiny")
    monkeypatch.chdir(root)
    (root / "data").mkdir()
    language_labels(languages).to_parquet(root / "data" / "labels.parquet", index=False)
    planted = representation_distances(np.random.default_rng(0).standard_normal((6, 4, 3)))
    write_matrix(root / "data/distances/tiny/eld.parquet", languages, planted)
    return root


@pytest.mark.integration
def test_interlingua_stage(project, monkeypatch):
    import json

    import pandas as pd

    from langgeo.pipeline.cli import main
    from langgeo.pipeline.stages import interlingua as stage

    assert main(["hidden-states", "--model", "tiny"]) == 0
    states = project / "data/hidden_states/tiny"
    assert sorted(p.name for p in states.iterdir()) == ["states.npy", "units.json"]
    assert main(["interlingua", "--model", "tiny"]) == 0
    out = project / "reports/interlingua/tiny"
    matrices = project / "data/interlingua/tiny"
    summary = json.loads((out / "summary.json").read_text())
    # Odia has no UDHR declaration: left out and reported.
    assert summary["without_translation"] == ["or"]
    assert summary["languages"] == ["fr", "es", "de", "ru", "ja"]
    # Each language its first units, up to 60 (declarations hold 58-60 units after the
    # blank ones); pairs align on those both hold.
    assert summary["layers"] == 3 and summary["units_per_language"]["max"] == 60
    assert summary["units"] >= 5 * 58 and summary["units_per_language"]["min"] >= 58
    assert 40 <= summary["units_per_pair"]["min"] <= summary["units_per_pair"]["max"] <= 60
    layers = pd.read_csv(out / "layers.csv")
    assert list(layers["layer"]) == [0, 1, 2] and layers["mantel_rho"].notna().all()
    assert len(pd.read_csv(out / "languages.csv")) == 15
    # The matrices are data under DVC; the reports folder holds none.
    assert sorted(p.name for p in matrices.iterdir()) == [
        f"layer_0{i}.parquet" for i in range(3)]
    assert not (out / "distances").exists()
    for figure in ("curves", "languages", "weights_vs_representation"):
        assert (out / f"{figure}.png").stat().st_size > 0
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlruns.db'}")
    runs = mlflow.search_runs(experiment_names=["langgeo-interlingua"])
    assert list(runs["tags.mlflow.runName"]) == ["tiny"]
    history = mlflow.tracking.MlflowClient().get_metric_history(runs["run_id"][0], "ilo")
    assert [m.step for m in history] == [0, 1, 2]

    # A run that fails once every matrix is written leaves both outputs as they were and no
    # temporaries.
    before = {p: p.read_bytes() for folder in (out, matrices) for p in folder.rglob("*")
              if p.is_file()}

    def fail(*args, **kwargs):
        raise OSError("disk full (planted)")

    monkeypatch.setattr(stage, "language_ilo_figure", fail)
    with pytest.raises(OSError, match="planted"):
        main(["interlingua", "--model", "tiny"])
    after = {p: p.read_bytes() for folder in (out, matrices) for p in folder.rglob("*")
             if p.is_file()}
    assert after == before
    assert [p.name for p in (out.parent.iterdir())] == ["tiny"]
    assert [p.name for p in (matrices.parent.iterdir())] == ["tiny"]


def test_interlingua_stage_impossible_t(project, capsys):
    import yaml

    params = yaml.safe_load((project / "params.yaml").read_text())
    params["interlingua"].update(k=5, t=5)       # 5 languages: at most 4 others
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    from langgeo.pipeline.cli import main

    # Refused before the forward passes, and again by the analysis.
    assert main(["hidden-states", "--model", "tiny"]) == 2
    assert "interlingua.t" in capsys.readouterr().err
    assert not (project / "data/hidden_states").exists()
    assert main(["interlingua", "--model", "tiny"]) == 2
    assert "hidden_states" in capsys.readouterr().err
    assert not (project / "reports/interlingua").exists()
    assert not (project / "data/interlingua").exists()
