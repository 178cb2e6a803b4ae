"""Stage calibrate: a language the dataset lacks, or too little text, fails cleanly with
nothing written."""

from __future__ import annotations

from langgeo.pipeline.cli import main
from tests.helpers.projects import set_params


def test_unknown_language_fails_cleanly(project, capsys):
    set_params(project, languages=["fr", "xx"])
    assert main(["calibrate", "--dataset", "eld"]) == 2
    err = capsys.readouterr().err
    assert "['xx'] not in dataset 'eld'" in err and "am ar az" in err
    assert not (project / "data").exists()


def test_too_few_tokens_fails_cleanly(project, capsys):
    set_params(project, calibration={"tokens_per_language": 1 << 20, "seq_len": 64})
    assert main(["calibrate", "--dataset", "eld"]) == 2
    err = capsys.readouterr().err
    assert "language 'fr'" in err and "fewer than the 1032192 needed" in err
    assert not (project / "data" / "calibration" / "eld").exists()
    assert list((project / "data" / "calibration").iterdir()) == []


def test_a_language_no_dataset_holds_is_an_error(project, capsys):
    set_params(project, languages=["fr", "or"], datasets=["udhr"],
               dataset_catalog={"eld": {"source": "eld"},
                                "udhr": {"source": "udhr", "tokens_per_language": 128}})
    assert main(["calibrate", "--dataset", "udhr"]) == 2
    assert "'or' has no UDHR declaration" in capsys.readouterr().err
    assert not (project / "data" / "calibration" / "udhr").exists()
