"""Presets: validated before anything runs, a reports folder langgeo did not write refused;
the committed presets are valid."""

from __future__ import annotations

import shutil

import pytest

from langgeo import LanggeoError
from langgeo.params import load_params
from tests.helpers.projects import REPO


def test_presets_validate_before_running(project, capsys):
    from langgeo.pipeline.presets import experiment_command, preset_params

    (project / "params.small.yaml").write_text(
        "languages: [ja, ru, de, es, fr]\ndatasets: [udhr]\n"
        "dataset_catalog: {udhr: {tokens_per_language: 128}}\npruning: {dataset: udhr}\n")
    overlay, params = preset_params("small", project)
    assert params.languages == ("ja", "ru", "de", "es", "fr")
    assert [d.name for d in params.datasets] == ["udhr"] and params.tokens("udhr") == 128
    # Mappings merge as `dvc exp run -S` merges them: eld stays in the catalog.
    assert params.raw["dataset_catalog"]["eld"] == {"source": "eld"}
    base = load_params(project / "params.yaml").raw
    assert experiment_command("small", overlay, base)[-8:] == [
        "-S", 'languages=["ja", "ru", "de", "es", "fr"]', "-S", 'datasets=["udhr"]',
        "-S", "dataset_catalog={udhr: {tokens_per_language: 128}}",
        "-S", 'pruning={dataset: "udhr"}']
    # A reports folder that langgeo did not write is refused before hours of work.
    from langgeo.pipeline.presets import run_preset

    mine = project / "reports" / "presets" / "small"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("my notes")
    with pytest.raises(LanggeoError, match=r"presets/small already holds files"):
        run_preset("small", project)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    (project / "params.typo.yaml").write_text("langauges: [fr]\n")
    with pytest.raises(LanggeoError, match=r"sets key\(s\) \['langauges'\]"):
        preset_params("typo", project)
    with pytest.raises(LanggeoError, match=r"no preset 'nope'.*presets here: \['small', 'typo'\]"):
        preset_params("nope", project)


def test_the_committed_udhr_presets_validate():
    from pathlib import Path

    from langgeo.pipeline.presets import preset_params

    repo = Path(__file__).resolve().parents[2]
    overlay, params = preset_params("udhr-all", repo)
    # 20 units, set for the kNN cost at this size (written by `python -m langgeo.pipeline.presets`).
    assert overlay["interlingua"] == {"max_units": 20} and len(params.languages) == 442
    assert params.interlingua.max_units == 20 and params.interlingua.k == 5
    overlay, params = preset_params("udhr-paper", repo)
    assert "interlingua" not in overlay and params.interlingua.max_units == 60


def test_the_finetune_presets_are_what_presets_py_writes(tmp_path):
    import shutil
    from pathlib import Path

    from langgeo.pipeline.presets import preset_params, write_finetune_presets

    repo = Path(__file__).resolve().parents[2]
    shutil.copy(repo / "params.yaml", tmp_path / "params.yaml")
    for path in write_finetune_presets(tmp_path):
        assert path.read_text() == (repo / path.name).read_text()
    for name, model in (("finetune", "smollm2-135m"), ("finetune-gemma", "gemma3-270m")):
        overlay, params = preset_params(name, repo)
        assert list(overlay) == ["finetune"]
        ft = params.finetune
        assert ft.model == model and ft.panel == params.pruning.panel and len(ft.panel) == 12
        assert ft.modes == ("full", "frozen") and ft.alignment_sources == ("en", "ar", "zh")


def test_a_new_catalog_entry_is_appended_as_dvc_needs(tmp_path):
    from dvc.utils.hydra import apply_overrides

    from langgeo.pipeline.presets import experiment_command, preset_params

    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    shutil.copy(REPO / "params.romanized.yaml", tmp_path / "params.romanized.yaml")
    overlay, params = preset_params("romanized", tmp_path)
    base = load_params(tmp_path / "params.yaml").raw
    command = experiment_command("romanized", overlay, base)
    assert '+dataset_catalog.udhr-latn={source: "udhr", tokens_per_language: 1024, ' \
           'romanize: true}' in command
    # What `dvc exp run -S` does to params.yaml gives the params the preset validated.
    apply_overrides(tmp_path / "params.yaml", command[command.index("-S") + 1::2])
    assert load_params(tmp_path / "params.yaml") == params
