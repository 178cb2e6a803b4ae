"""Stages finetune_matrix and finetune: both modes, the alignment after fine-tuning, the
freezing comparison and its MLflow run on a tiny model; bad input refused with nothing
written."""

import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from langgeo.pipeline.cli import main
from tests.helpers.projects import TINY_FINETUNE

pytestmark = pytest.mark.usefixtures("one_thread")


def written(root) -> list:
    """Files under data/finetune (its folders may exist: the output is renamed into place)."""
    folder = root / "data/finetune"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def set_finetune(root, **changes) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["finetune"].update({**TINY_FINETUNE, **changes})
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def test_finetune_stages_write_both_modes_alignment_and_the_freezing_report(
        scratch, capsys, monkeypatch):
    monkeypatch.delenv("DVC_ROOT", raising=False)
    set_finetune(scratch)
    assert main(["finetune-matrix"]) == 0
    out = capsys.readouterr().out
    # The tiny model has 2 blocks: round(0.28 x 2) = 1 frozen.
    assert "frozen: token embeddings, blocks 0-0 of 2, the final norm and the LM head" in out
    data = scratch / "data/finetune/tiny/eld"
    assert sorted(p.name for p in data.iterdir()) == [
        "alignment.parquet", "frozen.curves.parquet", "frozen.parquet", "full.curves.parquet",
        "full.parquet", "settings.json"]
    settings = json.loads((data / "settings.json").read_text())
    assert settings["frozen_blocks"] == 1 and settings["blocks"] == 2
    modes = settings["modes"]
    assert modes["full"]["frozen_tensors"] == 0
    assert 0 < modes["frozen"]["trained_parameters"] < modes["full"]["trained_parameters"]
    assert settings["alignment"]["units_per_language"] == {c: 6 for c in
                                                          ["fr", "es", "de", "ru"]}
    full, frozen = (pd.read_parquet(data / f"{m}.parquet") for m in ("full", "frozen"))
    assert len(full) == len(frozen) == 4 * 5
    # The same base, other fine-tuned models.
    pd.testing.assert_frame_equal(full[full["source"] == "base"],
                                  frozen[frozen["source"] == "base"])
    assert not np.allclose(full["gain"].dropna(), frozen["gain"].dropna())
    alignment = pd.read_parquet(data / "alignment.parquet")
    # base, then fr and ru in each mode; 3 layers each (embedding output + 2 blocks).
    assert list(dict.fromkeys(zip(alignment["mode"], alignment["source"]))) == [
        ("base", "base"), ("full", "fr"), ("full", "ru"), ("frozen", "fr"), ("frozen", "ru")]
    assert len(alignment) == 5 * 3
    # Frozen: the embedding output and block 0's output are the base's exactly, so are their
    # scores; the last layer moved. Full fine-tuning moves them all.
    by = alignment.set_index(["mode", "source", "layer"])
    for layer in (0, 1):
        assert by.loc[("frozen", "ru", layer), "ilo"] == by.loc[("base", "base", layer), "ilo"]
        assert (by.loc[("frozen", "ru", layer), "retrieval_p1"]
                == by.loc[("base", "base", layer), "retrieval_p1"])

    assert main(["finetune"]) == 0
    out = capsys.readouterr().out
    assert "frozen - full on others: G" in out
    reports = scratch / "reports/finetune"
    assert sorted(p.name for p in reports.iterdir()) == [
        "alignment.csv", "alignment.png", "alignment_change.csv", "freezing.csv", "gain.png",
        "summary.json"]
    freezing = pd.read_csv(reports / "freezing.csv")
    assert set(freezing["mode"]) == {"full", "frozen", "frozen - full"}
    assert (freezing["ci_low"] <= freezing["mean"]).all()
    assert (freezing["mean"] <= freezing["ci_high"]).all()
    change = pd.read_csv(reports / "alignment_change.csv").set_index(["mode", "source"])
    assert change.loc[("frozen", "ru"), "ilo_early"] == 0
    summary = json.loads((reports / "summary.json").read_text())
    assert summary["frozen_blocks"] == 1 and summary["panel"] == ["fr", "es", "de", "ru"]
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{scratch / 'mlruns.db'}")
    runs = mlflow.search_runs(experiment_names=["langgeo-finetune"])
    assert len(runs) == 1
    row = freezing.set_index(["mode", "on"]).loc[("frozen - full", "others")]
    assert runs["metrics.frozen - full/G_others_p"].iloc[0] == pytest.approx(row["p"])


@pytest.mark.parametrize(("changes", "message"), [
    ({"alignment_sources": ["ja"]}, r"'finetune.alignment_sources' has \['ja'\]"),
    ({"panel": ["fr", "es", "de", "ja"]}, r"'finetune.panel' has \['ja'\]"),
    ({"lr": 0.5}, "finetune.lr"),
    ({"steps": 0}, "finetune.steps"),
    ({"frozen_fraction": 1.5}, "finetune.frozen_fraction"),
])
def test_bad_finetune_settings_exit_2_writing_nothing(scratch, capsys, changes, message):
    set_finetune(scratch, **changes)
    assert main(["finetune-matrix"]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert written(scratch) == []


def test_a_non_finite_loss_exits_2_naming_the_source_writing_nothing(scratch, capsys,
                                                                      monkeypatch):
    set_finetune(scratch, lr=0.09, steps=2)
    from langgeo.studies import finetune

    real = finetune._loss_backward

    def nan_for_de(model, ids, chunk):
        loss = real(model, ids, chunk)
        return float("nan") if nan_for_de.calls.append(1) or len(nan_for_de.calls) == 5 \
            else loss

    nan_for_de.calls = []
    monkeypatch.setattr(finetune, "_loss_backward", nan_for_de)
    assert main(["finetune-matrix"]) == 2
    err = capsys.readouterr().err
    assert "fine-tuning on 'de': the loss at step 1 of 2 is nan" in err
    assert written(scratch) == []


def test_rankings_of_pruning_and_both_fine_tuning_modes_and_their_mlflow_run(
        scratch, capsys, monkeypatch):
    from langgeo.data.labels import language_labels
    from langgeo.formats.matrix_file import write_matrix

    monkeypatch.delenv("DVC_ROOT", raising=False)
    set_finetune(scratch, steps=1, alignment_sources=[])
    codes = ["fr", "es", "de", "ru", "ja"]
    rng = np.random.default_rng(0)
    for path in ("ensemble", "tiny/eld", "tiny/udhr"):
        upper = np.triu(rng.uniform(0.1, 0.5, (5, 5)), 1)
        write_matrix(scratch / f"data/distances/{path}.parquet", codes, upper + upper.T)
    language_labels(codes).to_parquet(scratch / "data/labels.parquet", index=False)
    assert main(["pruning-matrix"]) == 0
    assert main(["finetune-matrix"]) == 0
    # Without alignment sources: no alignment table, and the report says nothing of it.
    assert not (scratch / "data/finetune/tiny/eld/alignment.parquet").exists()
    assert main(["rankings"]) == 0
    out = capsys.readouterr().out
    assert "finetune frozen: ours NDCG@3" in out and "pruning: ours NDCG@3" in out
    table = pd.read_csv(scratch / "reports/rankings/rankings.csv")
    assert set(table["experiment"]) == {"pruning", "finetune full", "finetune frozen"}
    assert {"ours", "pair tiny/eld", "sparsegpt masks", "random"} <= set(table["ranker"])
    assert (table["n_targets"] == 4).all()
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{scratch / 'mlruns.db'}")
    runs = mlflow.search_runs(experiment_names=["langgeo-rankings"])
    ours = table[(table["experiment"] == "finetune frozen") & (table["ranker"] == "ours")]
    assert len(runs) == 1
    assert runs["metrics.finetune frozen/ours/ndcg"].iloc[0] == pytest.approx(
        ours["ndcg"].iloc[0], abs=1e-5)
    assert main(["finetune"]) == 0
    assert not (scratch / "reports/finetune/alignment.png").exists()
    # Data of an older finetune_matrix (no settings): exit 2, the reports left as they were.
    (scratch / "data/finetune/tiny/eld/settings.json").unlink()
    before = sorted(p.name for p in (scratch / "reports/finetune").iterdir())
    assert main(["finetune"]) == 2
    assert "run `dvc repro finetune_matrix`" in capsys.readouterr().err
    assert sorted(p.name for p in (scratch / "reports/finetune").iterdir()) == before


def test_a_panel_language_without_held_out_text_exits_2_naming_it_and_both_counts(
        scratch, capsys):
    set_finetune(scratch)
    params = yaml.safe_load((scratch / "params.yaml").read_text())
    params["pruning"]["heldout_tokens"] = 10_000_000
    (scratch / "params.yaml").write_text(yaml.safe_dump(params))
    assert main(["finetune-matrix"]) == 2
    err = capsys.readouterr().err
    assert re.search(r"language 'fr' in dataset 'eld' has \d+ text tokens .* fewer than the "
                     r"\d+ calibration \+ \d+ held-out tokens needed", err)
    assert written(scratch) == []
