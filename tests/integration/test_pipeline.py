"""The DVC pipeline end to end on a tiny model and four languages, in a scratch project."""

from __future__ import annotations

import contextlib
import json
import sqlite3

import pandas as pd
import pytest

from tests.helpers.projects import BIN, ELD_STAGES, make_project, run, set_params

pytestmark = pytest.mark.integration


def test_dvc_repro_end_to_end(tmp_path, tiny_model_dir):
    project = make_project(tmp_path / "project", tiny_model_dir)
    assert run(["git", "init", "-q"], project).returncode == 0
    assert run([str(BIN / "dvc"), "init", "-q"], project).returncode == 0

    first = run([str(BIN / "dvc"), "repro", *ELD_STAGES], project)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "5 languages, 4 gold labels" in first.stdout

    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert metrics["pairs"] == ["tiny/eld"]
    assert set(metrics["ours"]) >= {"branch/kmeans/ari_mean", "branch/kmeans/purity_mean",
                                    "branch/silhouette_latent", "family/agglomerative/ari"}
    assert set(metrics["baselines"]) == {"uriel_geographic", "uriel_featural",
                                         "uriel_syntactic", "uriel_genetic", "script", "random"}
    comparison = (project / "reports/comparison.csv").read_text().splitlines()
    # header, ours, one pair, baselines; then the same on the Latin-script languages (fr,
    # es, de), without the script baseline, constant there
    assert len(comparison) == 1 + 1 + 1 + 6 + 1 + 1 + 5
    assert metrics["script_control"]["languages"] == ["fr", "es", "de"]
    folder = project / "data/signatures/tiny/eld"
    signatures = sorted(p for p in folder.glob("*.parquet")
                        if ".scores." not in p.name and ".factors." not in p.name)
    assert len(list(folder.glob("*.scores.parquet"))) == 5
    assert len(list(folder.glob("*.factors.parquet"))) == 5
    assert [p.stem for p in signatures] == ["de", "es", "fr", "ja", "ru"]
    for figure in ("heatmap", "mst", "mds", "tsne", "spectrum", "confusion"):
        assert (project / f"reports/figures/{figure}.png").stat().st_size > 0
    # The explorer, written after transfer and interlingua, offers both; evaluate ran first.
    page = (project / "reports/explorer.html").read_text()
    assert "<svg" in page and '"transfer":{"panel":["fr","es","de","ru","ja"]' in page
    assert '"name":"representation, tiny, layer 0"' in page
    assert "explorer: 2 weight configurations, representation layers tiny all 3," in first.stdout
    # The layers' matrices are DVC-cached data; the reports hold none.
    assert len(list((project / "data/interlingua/tiny").glob("layer_*.parquet"))) == 3
    assert not (project / "reports/interlingua/tiny/distances").exists()
    assert "left out" not in first.stdout
    # What the `track` stage does in a whole `dvc repro`: the runs of these outputs.
    logged = run([str(BIN / "langgeo"), "track"], project)
    assert logged.returncode == 0 and "evaluate: logged: MLflow run" in logged.stdout
    attribution = pd.read_csv(project / "reports/attribution.csv")
    assert set(attribution["family"]) == {"all", "layer", "part", "module"}
    assert attribution.loc[attribution["family"] == "layer", "group"].tolist() == ["0", "1"]
    assert attribution["branch_ari_mean"].notna().all()
    assert (project / "reports/attribution.png").stat().st_size > 0
    assert (project / "reports/export/latent.csv").read_text().startswith("code,")
    synthetic = pd.read_csv(project / "reports/synthetic.csv")
    assert synthetic["transformation"].value_counts().to_dict() == {
        "substitute": 2, "scramble": 2, "reference": 1}
    assert (synthetic["distance"] > 0).all() and "synthetic: tiny: " in first.stdout
    assert "substitute rho" in first.stdout and "scramble rho" in first.stdout
    transfer = json.loads((project / "reports/pruning/transfer.json").read_text())
    assert set(transfer["tests"]) >= {"ours", "uriel_geographic", "uriel_genetic"}
    assert 0 < transfer["tests"]["ours"]["p"] <= 1
    matrix = pd.read_parquet(project / "data/pruning/tiny/eld/matrix.parquet")
    assert len(matrix) == 5 * 6 and (matrix["sparsity"][matrix["source"] != "dense"] == 0.5).all()
    assert len(list((project / "data/pruning/tiny/eld/masks").glob("*.parquet"))) == 5

    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlruns.db'}")
    runs = mlflow.search_runs(experiment_names=["langgeo"])
    # the configuration, its (model, dataset), the baselines, and those on Latin script only
    assert len(runs) == 1 + 1 + 6 + 1 + 1 + 5
    parent = runs[runs["tags.mlflow.parentRunId"].isna()].iloc[0]
    assert (parent["metrics.branch/kmeans/ari_mean"]
            == pytest.approx(metrics["ours"]["branch/kmeans/ari_mean"]))
    assert parent["params.signatures.score"] == "sparsegpt"
    artifacts = mlflow.MlflowClient().list_artifacts(parent["run_id"])
    assert "explorer.html" in [a.path for a in artifacts]

    compare = run([str(BIN / "langgeo"), "compare"], project)
    assert compare.returncode == 0 and "1 configurations" in compare.stdout
    assert (project / "reports/compare/runs.csv").is_file()

    # Without the store (as on a fresh clone), `dvc repro` has nothing to run; `langgeo
    # track` (as in `make repro`) logs the same runs again.
    (project / "mlruns.db").rename(project / "mlruns.db.first")
    second = run([str(BIN / "dvc"), "repro", *ELD_STAGES], project)
    assert second.returncode == 0 and "Running stage" not in second.stdout
    tracked = run([str(BIN / "langgeo"), "track"], project)
    assert tracked.returncode == 0, tracked.stderr[-2000:]
    status = dict(line.split(": ", 1) for line in tracked.stdout.splitlines())
    assert [stage for stage, text in status.items() if text.startswith("logged")] == [
        "evaluate", "transfer", "interlingua@tiny", "explorer"]
    assert all(status[stage].startswith("not logged: no ")
               for stage in ("robust", "finetune", "rankings"))
    # Read with sqlite: in this process MLflow still holds a connection to the renamed file.
    with contextlib.closing(sqlite3.connect(project / "mlruns.db")) as db:
        again = db.execute("SELECT runs.name FROM runs JOIN experiments USING (experiment_id) "
                           "WHERE experiments.name = 'langgeo'").fetchall()
    assert sorted(name for name, in again) == sorted(runs["tags.mlflow.runName"])

    # Determinism: the same params give byte-identical signature files.
    before = {p.name: p.read_bytes() for p in signatures}
    again = run([str(BIN / "langgeo"), "signatures", "--model", "tiny", "--dataset", "eld"],
                project)
    assert again.returncode == 0, again.stderr[-2000:]
    assert {p.name: p.read_bytes() for p in signatures} == before

    # One more language: DVC re-runs the stage, which computes only that language.
    set_params(project, languages=["fr", "es", "de", "ru", "ja", "it"])
    added = run([str(BIN / "dvc"), "repro", "signatures@tiny-eld"], project)
    assert added.returncode == 0, added.stdout[-3000:] + added.stderr[-3000:]
    assert "5 of 6 languages up to date, 1 to compute" in added.stdout
    assert {p.name: p.read_bytes() for p in signatures} == before
    assert (folder / "it.parquet").is_file()
