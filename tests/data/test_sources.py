"""Corpus sources: the paper preset, the hub/local loaders (offline), lazy selection."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import datasets
import huggingface_hub.constants
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from langgeo import LanggeoError
from langgeo.data import sources
from langgeo.data.labels import language_labels
from langgeo.data.languages import language_table
from langgeo.data.romanize import UROMAN_VERSION, romanize, unromanized_share
from langgeo.data.sources import (calibration_documents, check_dataset, check_languages,
                                  eld_documents, hub_config, load_arguments, shuffled,
                                  source_metadata, stream_documents)
from langgeo.params import DatasetSpec, load_params
from tests.helpers.projects import REPO

PAPER = REPO / "params.paper.yaml"


@pytest.fixture(scope="module")
def paper():
    return load_params(PAPER)


def test_paper_preset_is_complete_offline(paper):
    assert len(paper.languages) == 106
    assert [m.id for m in paper.models] == ["mistralai/Mistral-7B-v0.1", "google/gemma-3-4b-pt",
                                            "meta-llama/Llama-3.2-1B"]
    assert [d.hub_id for d in paper.datasets] == ["wikimedia/wikipedia", "uonlp/CulturaX",
                                                  "HuggingFaceFW/fineweb-2"]
    assert (paper.calibration.tokens_per_language, paper.calibration.seq_len) == (256 * 2048,
                                                                                 2048)
    assert (paper.signatures.device, paper.signatures.dtype) == ("cuda", "bfloat16")
    # Every language has a config in all three sources and Glottolog labels.
    for spec in paper.datasets:
        assert sources._unmapped(spec, paper.languages) == [], spec.name
    assert all(re.fullmatch(r"[a-z]{3}_[A-Z][a-z]{3}", hub_config(paper.dataset("fineweb2"), c))
               for c in paper.languages)
    labels = language_labels(paper.languages)
    assert labels["family"].nunique() == 19 and labels["branch"].nunique() == 35
    # The table's own labels are the ones langgeo.data.labels derives, not a drifting copy.
    table = language_table()
    for row in labels.itertuples():
        entry = table[row.code]
        assert (entry["iso639_3"], entry["name"], entry["glottocode"], entry["family"],
                entry["branch"]) == (row.iso639_3, row.name, row.glottocode, row.family,
                                     row.branch)


def test_paper_table_lists_exactly_the_preset_languages(paper):
    assert sorted(language_table()) == sorted(paper.languages)


@pytest.mark.parametrize("language, wikipedia, culturax, fineweb2", [
    ("fr", "20231101.fr", "fr", "fra_Latn"),
    ("ku", "20231101.ckb", "ckb", "ckb_Arab"),   # our ku is Central Kurdish (Sorani)
    ("tl", "20231101.tl", "tl", "fil_Latn"),
    ("no", "20231101.no", "no", "nob_Latn"),
    ("fa", "20231101.fa", "fa", "fas_Arab"),
])
def test_hub_load_arguments_map_our_codes(paper, language, wikipedia, culturax, fineweb2):
    expected = {"wikipedia": ("wikimedia/wikipedia", wikipedia),
                "culturax": ("uonlp/CulturaX", culturax),
                "fineweb2": ("HuggingFaceFW/fineweb-2", fineweb2)}
    for name, (hub_id, config) in expected.items():
        assert load_arguments(paper.dataset(name), language) == {
            "path": hub_id, "name": config, "split": "train", "revision": None,
            "streaming": True}


def test_language_missing_from_a_source_is_named(monkeypatch):
    table = {"fr": {"code": "fr", "culturax": "fr"}, "xx": {"code": "xx", "culturax": ""}}
    monkeypatch.setattr(sources, "language_table", lambda: table)
    spec = DatasetSpec("cx", "hub", hub_id="uonlp/CulturaX", config_template="{culturax}")
    with pytest.raises(LanggeoError, match=r"\['xx', 'yy'\] not in source 'uonlp/CulturaX' "
                                           r"\(dataset 'cx'\)"):
        check_dataset(spec, ["fr", "xx", "yy"])
    with pytest.raises(LanggeoError, match=r"\['xx'\] not in source"):
        hub_config(spec, "xx")
    # `{code}` needs no row of the table.
    assert hub_config(DatasetSpec("w", "hub", hub_id="w", config_template="x.{code}"),
                      "yy") == "x.yy"
    bad = DatasetSpec("cx", "hub", hub_id="uonlp/CulturaX", config_template="{oscar}")
    with pytest.raises(LanggeoError, match=r"names column\(s\) \['oscar'\]"):
        hub_config(bad, "fr")


# 40 documents, the second one spanning two lines, then two too short for min_chars=5.
ROWS = ([f"document {i} " + "word " * (i % 7) for i in range(40)] + ["tiny", "   "])
ROWS[1] += "\nsecond line"
KEPT = [r.strip() for r in ROWS[:40]]


def write_local(folder: Path, kind: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "txt":
        (folder / "fr.txt").write_text("\n\n".join(ROWS) + "\n")  # blank-line separated
    elif kind == "jsonl":
        (folder / "fr.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in ROWS))
    else:
        pq.write_table(pa.table({"id": list(range(len(ROWS))), "text": ROWS}),
                       folder / "fr.parquet")
    return folder


def local(folder: Path, **kwargs) -> DatasetSpec:
    return DatasetSpec("mine", "local", path=str(folder), **{"min_chars": 5, **kwargs})


def test_local_formats_stream_the_same_documents_in_the_same_seeded_order(tmp_path):
    streams = {kind: list(stream_documents(local(write_local(tmp_path / kind, kind)), "fr", 0))
               for kind in ("txt", "jsonl", "parquet")}
    assert sorted(streams["txt"]) == sorted(KEPT) and streams["txt"] != KEPT
    assert streams["txt"] == streams["jsonl"] == streams["parquet"]
    spec = local(tmp_path / "txt")
    assert list(stream_documents(spec, "fr", 0)) == streams["txt"]
    assert list(stream_documents(spec, "fr", 1)) != streams["txt"]


def test_local_folder_problems_are_named(tmp_path):
    with pytest.raises(LanggeoError, match="folder .*nowhere not found"):
        check_dataset(local(tmp_path / "nowhere"), ["fr"])
    folder = write_local(tmp_path / "mixed", "txt")
    with pytest.raises(LanggeoError, match=r"\['de', 'ru'\] not in local dataset 'mine'"):
        check_dataset(local(folder), ["fr", "de", "ru"])
    write_local(folder, "jsonl")
    with pytest.raises(LanggeoError, match=r"'fr' has several files \['fr.txt', 'fr.jsonl'\]"):
        load_arguments(local(folder), "fr")
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "fr.jsonl").write_text('{"content": "a text long enough"}\n')
    with pytest.raises(LanggeoError, match="no field 'text' .*set dataset_catalog.mine.text_field"):
        list(stream_documents(local(tmp_path / "f"), "fr", 0))
    assert list(stream_documents(local(tmp_path / "f", text_field="content"), "fr", 0)) == [
        "a text long enough"]
    (tmp_path / "f" / "fr.jsonl").write_text('{"text": "unterminated\n')
    with pytest.raises(LanggeoError, match=r"dataset 'mine' \(.*fr.jsonl\) cannot be read"):
        list(stream_documents(local(tmp_path / "f"), "fr", 0))


def test_local_load_arguments(tmp_path):
    spec = local(write_local(tmp_path / "t", "txt"))
    assert load_arguments(spec, "fr") == {
        "path": "text", "data_files": [str(tmp_path / "t" / "fr.txt")], "split": "train",
        "streaming": True, "sample_by": "paragraph"}
    assert load_arguments(local(write_local(tmp_path / "p", "parquet")), "fr")["path"] == "parquet"


def test_hub_path_reads_what_load_dataset_returns(paper, tmp_path, monkeypatch):
    """The hub code path, offline: load_dataset is handed the hub id and config, and serves a
    local file; the documents come out exactly as from the local source over that file."""
    folder = write_local(tmp_path / "j", "jsonl")
    calls = []
    real_load = datasets.load_dataset

    def fake_load(**kwargs):
        calls.append(kwargs)
        return real_load("json", data_files=[str(folder / "fr.jsonl")], split="train",
                         streaming=True)

    monkeypatch.setattr(sources, "_hub_answers", lambda hub_id, revision: True)
    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    spec = DatasetSpec("culturax", "hub", hub_id="uonlp/CulturaX", config_template="{culturax}",
                       min_chars=5)
    via_hub = list(stream_documents(spec, "ku", 3))
    assert calls == [{"path": "uonlp/CulturaX", "name": "ckb", "split": "train",
                      "revision": None, "streaming": True}]
    monkeypatch.setattr(datasets, "load_dataset", real_load)
    # Same rows, same seed (3, "ku"): the order of a local "ku" file over the same text.
    (folder / "fr.jsonl").rename(folder / "ku.jsonl")
    assert via_hub == list(stream_documents(local(folder), "ku", 3))


def test_offline_hub_fails_at_once_with_one_clear_message(monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    spec = DatasetSpec("culturax", "hub", hub_id="uonlp/CulturaX", config_template="{culturax}")
    for attempt in (lambda: check_dataset(spec, ["fr", "de"]),
                    lambda: list(stream_documents(spec, "fr", 0))):
        start = time.perf_counter()
        with pytest.raises(LanggeoError) as error:
            attempt()
        assert time.perf_counter() - start < 1
        message = str(error.value)
        assert "dataset 'culturax'" in message and "'uonlp/CulturaX' config 'fr'" in message
        assert "HF_HUB_OFFLINE" in message and "{source: local, path: <folder>}" in message


def test_hub_without_offline_mode_still_fails_fast(monkeypatch):
    """No network here: one metadata request fails at once where `datasets` retries ~23 s.
    (With network the id does not exist, which fails as fast.)"""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    spec = DatasetSpec("ghost", "hub", hub_id="langgeo-tests/no-such-dataset",
                       config_template="{culturax}")
    start = time.perf_counter()
    with pytest.raises(LanggeoError, match="dataset 'ghost'.*langgeo-tests/no-such-dataset"):
        check_dataset(spec, ["fr"])
    assert time.perf_counter() - start < sources.HUB_TIMEOUT_S + 1


def test_eld_source_behaves_as_before():
    spec = DatasetSpec("eld", "eld")
    assert calibration_documents(spec, "fr", 0) == shuffled(eld_documents()["fr"], "fr", 0)
    with pytest.raises(LanggeoError, match=r"\['xx'\] not in dataset 'eld'"):
        check_dataset(spec, ["fr", "xx"])
    assert source_metadata(spec, "fr") == {}


def test_romanized_datasets_give_latin_text_and_say_so():
    pytest.importorskip("uroman")
    native, latin = DatasetSpec("udhr", "udhr"), DatasetSpec("r", "udhr", romanize=True)
    documents = list(calibration_documents(latin, "ru", 0))
    assert len(documents) == len(calibration_documents(native, "ru", 0))
    assert unromanized_share("".join(documents)) == 0.0
    assert source_metadata(latin, "ru") == {**source_metadata(native, "ru"),
                                            "romanizer": f"uroman {UROMAN_VERSION}"}
    # eld is streamed lazily: romanized one document at a time, in the same seeded order.
    first = next(iter(calibration_documents(DatasetSpec("e", "eld", romanize=True), "ru", 0)))
    assert first == romanize([calibration_documents(DatasetSpec("eld", "eld"), "ru", 0)[0]],
                             "ru")[0]


def test_source_metadata_names_the_exact_text(paper, tmp_path):
    assert source_metadata(paper.dataset("fineweb2"), "ku") == {
        "source": "hub", "hub_id": "HuggingFaceFW/fineweb-2", "config": "ckb_Arab",
        "split": "train", "revision": "", "shuffle_buffer": "10000", "min_chars": "200"}
    spec = local(write_local(tmp_path / "t", "txt"))
    assert source_metadata(spec, "fr")["file"] == str(tmp_path / "t" / "fr.txt")


def test_eld_corpus_has_59_languages_without_lao():
    docs = eld_documents()
    assert len(docs) == 59 and "lo" not in docs and "ku" in docs
    assert all(len(texts) >= 999 for texts in docs.values())  # sv has one empty line


def test_sampling_is_seeded_and_differs_per_language():
    docs = eld_documents()["fr"]
    assert shuffled(docs, "fr", 0) == shuffled(docs, "fr", 0)
    assert shuffled(docs, "fr", 0) != shuffled(docs, "fr", 1)
    assert shuffled(docs, "fr", 0)[:5] != [docs[i] for i in range(5)]


def test_unknown_language_lists_the_known_ones():
    with pytest.raises(LanggeoError, match=r"\['xx'\] not in dataset 'eld'.*am ar az"):
        check_languages(["fr", "xx"], list(eld_documents()), "eld")
