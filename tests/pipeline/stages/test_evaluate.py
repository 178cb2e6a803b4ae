"""The stages on two datasets where one lacks a language: the other covers it, and the
evaluation compares like with like on the languages every pair holds."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest

from langgeo.data import shards, udhr
from langgeo.pipeline.cli import main
from tests.helpers.projects import set_params


@pytest.mark.integration
def test_a_language_absent_from_one_dataset_is_covered_by_the_other(project, capsys):
    set_params(project, languages=["fr", "de", "ru", "ja", "es", "or"],
               datasets=["eld", "udhr"],
               dataset_catalog={"eld": {"source": "eld"},
                                "udhr": {"source": "udhr", "tokens_per_language": 128}})
    for stage in (["labels"], ["calibrate", "--dataset", "eld"],
                  ["calibrate", "--dataset", "udhr"]):
        assert main(stage) == 0, capsys.readouterr().err
    assert "not in this dataset: or" in capsys.readouterr().out
    shard = pq.read_table(project / "data/calibration/udhr/ja.parquet").to_pandas()
    assert list(shard.columns) == ["position", "text", "article", "unit"]
    assert list(zip(shard["article"], shard["unit"], shard["text"])) == [
        (u.article, u.position, u.text) for u in udhr.units("jpn")[:len(shard)]]
    for dataset in ("eld", "udhr"):
        assert main(["signatures", "--model", "tiny", "--dataset", dataset]) == 0
    assert not (project / "data/signatures/tiny/udhr/or.parquet").exists()
    assert main(["distances"]) == 0
    coverage = pd.read_parquet(project / "data/distances/coverage.parquet").set_index("language")
    assert coverage.loc["or", "or"] == 1 and coverage.loc["fr", "de"] == 2
    assert coverage.loc["or", "fr"] == 1 and coverage.loc["or", "es"] == 1
    for stage in ("embed", "attribute", "report", "evaluate"):
        assert main([stage]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "tiny/udhr: k-means ARI" in out and "1 absent: or" in out
    metrics = json.loads((project / "reports/metrics.json").read_text())
    assert metrics["coverage"]["tiny/udhr"] == {"n_languages": 5, "absent": ["or"]}
    assert metrics["per_pair"]["tiny/udhr"]["n_languages"] == 5
    assert metrics["ours"]["n_languages"] == 6
    # Like for like: the ensemble and every pair also on the 5 languages both pairs hold.
    common = metrics["common"]
    assert common["languages"] == ["fr", "de", "ru", "ja", "es"]
    assert common["ours"]["n_languages"] == common["per_pair"]["tiny/eld"]["n_languages"] == 5
    assert common["per_pair"]["tiny/udhr"] == metrics["per_pair"]["tiny/udhr"]
    assert "best member (tiny/" in out and "on the 5 languages every pair holds" in out
    table = pd.read_csv(project / "reports/comparison.csv").set_index("matrix")
    assert table.loc["pair tiny/eld (common 5)", "n_languages"] == 5
    # A placed text is compared with each dataset's references at that dataset's own size
    # (eld 256 tokens, udhr 128): French eld text lands on French.
    text = project / "fr.txt"
    text.write_text("\n\n".join(shards.read_shard(project / "data/calibration/eld/fr.parquet")))
    assert main(["place", "--text", str(text), "--language", "fr", "--k", "2"]) == 0, \
        capsys.readouterr().err
    neighbours = pd.read_csv(project / "reports/place/neighbours.csv")
    assert neighbours["code"].iloc[0] == "fr"
