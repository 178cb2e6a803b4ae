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
