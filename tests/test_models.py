"""Loading a prepared model folder."""

from __future__ import annotations

import json
import shutil

from transformers import AutoTokenizer, PreTrainedTokenizerFast

from langgeo.corpus import eld_documents
from langgeo.models import load_tokenizer


def test_tokenizer_from_its_file_gives_the_ids_of_auto_tokenizer(tiny_model_dir, tmp_path,
                                                                 monkeypatch):
    texts = [t for code in ("fr", "ru", "ja") for t in eld_documents()[code][:20]]
    theirs = AutoTokenizer.from_pretrained(tiny_model_dir)
    through_auto = []
    auto = AutoTokenizer.from_pretrained
    monkeypatch.setattr(AutoTokenizer, "from_pretrained",
                        lambda *a, **k: through_auto.append(a) or auto(*a, **k))
    ours = load_tokenizer(tiny_model_dir)
    assert through_auto == []  # built from tokenizer.json, not through AutoTokenizer
    assert type(ours) is PreTrainedTokenizerFast
    assert ours(texts, add_special_tokens=False)["input_ids"] == \
        theirs(texts, add_special_tokens=False)["input_ids"]
    assert (ours.bos_token_id, ours.eos_token_id, ours.pad_token_id) == \
        (theirs.bos_token_id, theirs.eos_token_id, theirs.pad_token_id)
    # A folder whose tokenizer is not the tokenizers backend goes through AutoTokenizer.
    other = tmp_path / "other"
    shutil.copytree(tiny_model_dir, other)
    config = json.loads((other / "tokenizer_config.json").read_text())
    config["backend"] = "sentencepiece"
    (other / "tokenizer_config.json").write_text(json.dumps(config))
    assert load_tokenizer(other)(texts[:3], add_special_tokens=False)["input_ids"] == \
        theirs(texts[:3], add_special_tokens=False)["input_ids"]
    assert len(through_auto) == 1


def test_model_loading_is_one_log_line_unless_verbose(tiny_model_dir, capfd, caplog,
                                                      monkeypatch):
    import logging

    from langgeo import VERBOSE_ENV
    from langgeo.models import load_model

    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    with caplog.at_level(logging.INFO, logger="langgeo.models"):
        load_model(tiny_model_dir)
    assert "Loading weights" not in capfd.readouterr().err
    lines = [r.getMessage() for r in caplog.records if r.name == "langgeo.models"]
    assert len(lines) == 1 and str(tiny_model_dir) in lines[0] and "parameters" in lines[0]
    monkeypatch.setenv(VERBOSE_ENV, "1")  # what `langgeo --verbose` sets
    load_model(tiny_model_dir)
    assert "Loading weights" in capfd.readouterr().err
    monkeypatch.delenv(VERBOSE_ENV)
    load_model(tiny_model_dir)
    assert "Loading weights" not in capfd.readouterr().err
