import pytest
import torch

from langgeo import LanggeoError
from langgeo.corpus import (check_languages, eld_documents, pack_sequences, select_documents,
                            shuffled)

from conftest import tiny_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    docs = eld_documents()
    return tiny_tokenizer([t for c in ("fr", "de") for t in docs[c][:100]])


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


def test_selection_is_the_shortest_sufficient_prefix(tokenizer):
    docs = shuffled(eld_documents()["de"], "de", 0)
    chosen = select_documents(docs, [tokenizer], 512, 128, "de", "eld")
    ids = pack_sequences(tokenizer, chosen, 512, 128)
    assert ids.shape == (4, 128) and (ids[:, 0] == tokenizer.bos_token_id).all()
    with pytest.raises(LanggeoError):
        pack_sequences(tokenizer, chosen[:-1], 512, 128)


def test_too_little_text_names_language_and_both_counts(tokenizer):
    docs = eld_documents()["fr"][:3]
    with pytest.raises(LanggeoError, match=r"'fr' in dataset 'eld' has \d+ text tokens, fewer "
                                           r"than the 4095 needed"):
        select_documents(docs, [tokenizer], 4096, 4096, "fr", "eld")


def test_packing_is_a_plain_token_stream(tokenizer):
    docs = ["hello world", "bonjour le monde"]
    stream = tokenizer("hello world\n", add_special_tokens=False)["input_ids"] + tokenizer(
        "bonjour le monde\n", add_special_tokens=False)["input_ids"]
    ids = pack_sequences(tokenizer, docs, 4, 2)
    assert ids.dtype == torch.int64 and ids[:, 1].tolist() == stream[:2]
