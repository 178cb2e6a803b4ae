"""langgeo.data.shards: the shortest sufficient prefix of a language's documents, read
lazily from a stream, packed into sequences."""


import pytest
import torch

from langgeo import LanggeoError
from langgeo.data.shards import SELECT_CHUNK, pack_sequences, select_documents
from langgeo.data.sources import eld_documents, shuffled
from tests.conftest import tiny_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    docs = eld_documents()
    return tiny_tokenizer([t for c in ("fr", "de") for t in docs[c][:100]])


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


class WordTokenizer:
    """One token per whitespace-separated word; has a BOS, as the real tokenizers do."""

    bos_token_id = 0

    def __call__(self, texts, add_special_tokens):
        return {"input_ids": [t.split() for t in texts]}


def test_streamed_selection_reads_lazily_and_matches_the_eager_one():
    docs = [f"a b c {i}" for i in range(1000)]  # 4 words each
    read = []

    def stream():
        for d in docs:
            read.append(d)
            yield d

    # 4 sequences of [BOS] + 7 text tokens = 28 text tokens: 7 documents.
    chosen = select_documents(stream(), [WordTokenizer()], 32, 8, "fr", "mine")
    assert chosen == docs[:7] == select_documents(docs, [WordTokenizer()], 32, 8, "fr", "mine")
    assert len(read) == SELECT_CHUNK
    with pytest.raises(LanggeoError, match=r"'fr' in dataset 'mine' has 40 text tokens, fewer "
                                           r"than the 56 needed"):
        select_documents(iter(docs[:10]), [WordTokenizer()], 64, 8, "fr", "mine")
