"""Stage calibrate: a language the dataset lacks, or too little text, fails cleanly with
nothing written."""

from __future__ import annotations

import pytest

from langgeo.data import romanize as romanize_module
from langgeo.data.romanize import unromanized_share
from langgeo.data.shards import read_shard
from langgeo.pipeline.cli import main
from langgeo.pipeline.jobs import file_sha256
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


UDHR = {"udhr": {"source": "udhr", "tokens_per_language": 128},
        "latin": {"source": "udhr", "tokens_per_language": 128, "romanize": True}}


def test_a_romanized_dataset_writes_latin_shards(project):
    pytest.importorskip("uroman")
    set_params(project, languages=["ru", "fr"], datasets=["udhr", "latin"],
               dataset_catalog=UDHR)
    assert main(["calibrate", "--dataset", "udhr"]) == 0
    assert main(["calibrate", "--dataset", "latin"]) == 0
    shards = project / "data" / "calibration"
    native, latin = read_shard(shards / "udhr" / "ru.parquet"), read_shard(
        shards / "latin" / "ru.parquet")
    assert unromanized_share("".join(native)) == 1.0
    assert unromanized_share("".join(latin)) == 0.0 and latin[0].startswith("Prinimaya vo vnimaniye")
    # Another shard, so another signature fingerprint (which hashes the shard's bytes).
    assert file_sha256(shards / "udhr" / "fr.parquet") != file_sha256(
        shards / "latin" / "fr.parquet")


class _Failing:
    def romanize_string(self, text, lcode=None):
        raise RuntimeError("no table")


def test_a_failing_romanizer_names_the_language(project, capsys, monkeypatch):
    monkeypatch.setattr(romanize_module, "_uroman", lambda: _Failing())
    set_params(project, languages=["ru"], datasets=["latin"], dataset_catalog=UDHR)
    assert main(["calibrate", "--dataset", "latin"]) == 2
    assert "language 'ru'" in capsys.readouterr().err
    assert list((project / "data" / "calibration").iterdir()) == []
