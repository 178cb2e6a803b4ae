"""Perplexity and bits per byte on held-out text disjoint from the calibration text."""

import math

import pytest
import torch

from langgeo import LanggeoError
from langgeo.studies.perplexity import heldout_windows, perplexity, split_documents, token_bytes

# Tiny matrices: on a busy 2-core machine the thread pool costs more than the work.
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tokenizer():
    from langgeo.data.sources import eld_documents
    from tests.conftest import tiny_tokenizer

    docs = eld_documents()
    return tiny_tokenizer([t for c in ("fr", "ru", "ja") for t in docs[c][:200]])


def test_uniform_model_gives_the_vocabulary_size_and_hand_counted_bytes(tokenizer):
    from tests.conftest import tiny_llama

    model = tiny_llama()
    torch.nn.init.zeros_(model.get_output_embeddings().weight)  # every logit 0: uniform
    docs = ["the cat sat on the mat", "a dog ran far away", "one more plain line here"]
    ids, n_bytes = heldout_windows(tokenizer, docs, 16, 8)
    assert ids.shape == (2, 8) and (ids[:, 0] == tokenizer.bos_token_id).all()
    stream = [t for d in docs for t in tokenizer(d + "\n", add_special_tokens=False)["input_ids"]]
    # By hand: ASCII text, so each predicted token's bytes are its decoded characters.
    assert n_bytes == sum(len(tokenizer.decode([t])) for t in stream[:14])
    result = perplexity(model, ids, n_bytes)
    assert result.tokens == 14  # 2 rows x (8 - 1) predictions, not 2 x 8
    assert result.per_token == pytest.approx(300, rel=1e-5)
    assert result.bits_per_byte == pytest.approx(14 * math.log2(300) / n_bytes, rel=1e-5)


@pytest.mark.parametrize("softcap", [None, 3.0])
def test_perplexity_counts_seq_len_minus_one_predictions(softcap):
    from tests.conftest import tiny_gemma3

    model = tiny_gemma3()
    model.config.final_logit_softcapping = softcap
    ids = torch.randint(3, 300, (3, 10), generator=torch.Generator().manual_seed(0))
    ours = perplexity(model, ids, n_bytes=100, batch_size=2, chunk=4)
    # transformers' loss is the mean over the seq_len - 1 shifted targets of each row.
    with torch.no_grad():
        losses = [float(model(input_ids=row[None], labels=row[None]).loss) for row in ids]
    assert ours.tokens == 3 * 9
    assert ours.nll == pytest.approx(sum(losses) * 9, rel=1e-5)
    assert ours.per_token == pytest.approx(math.exp(sum(losses) / 3), rel=1e-5)


def test_token_bytes_add_up_to_the_utf8_text(tokenizer):
    docs = ["Привет, мир", "日本語のテキスト", "plain ascii", "ça va 🙂"]
    for doc, counts in zip(docs, token_bytes(tokenizer, docs)):
        assert counts.sum() == len((doc + "\n").encode())
        assert (counts >= 0).all()


def test_heldout_is_a_suffix_disjoint_from_calibration(tokenizer):
    from langgeo.data.sources import eld_documents, shuffled

    order = shuffled(eld_documents()["fr"], "fr", 0)
    calibration, heldout = split_documents(order, tokenizer, 256, 128, 64, "fr", "eld")
    assert calibration == order[:len(calibration)]
    assert heldout == order[::-1][:len(heldout)]
    assert not set(calibration) & set(heldout)
    # Held-out text does not move when only the calibration size changes.
    assert split_documents(order, tokenizer, 512, 128, 64, "fr", "eld")[1] == heldout


def test_too_little_text_names_the_language_and_both_counts(tokenizer):
    docs = ["short text %d" % i for i in range(3)]
    with pytest.raises(LanggeoError, match=r"'xx'.*calibration.*held-out") as info:
        split_documents(docs, tokenizer, 64, 64, 32, "xx", "mini")
    assert "pruning.heldout_tokens" in str(info.value)
    with pytest.raises(LanggeoError, match="'xx'"):
        split_documents([], tokenizer, 64, 64, 32, "xx", "mini")


def test_enough_tokens_in_all_but_no_disjoint_split_is_refused(tokenizer):
    from langgeo.data.sources import eld_documents

    # Two documents of n tokens; calibration needs both (7 r_c > n), held-out needs one
    # (7 r_h <= n), and together they fit in 2n tokens: only disjointness forbids it.
    for text in eld_documents()["fr"]:
        n = len(tokenizer(text + "\n", add_special_tokens=False)["input_ids"])
        if n % 7 >= 4 and n > 14:
            break
    docs = [text, text.upper()]
    assert len(tokenizer(docs[1] + "\n", add_special_tokens=False)["input_ids"]) >= n
    with pytest.raises(LanggeoError, match=r"'xx'.*2 calibration documents.*held-out"):
        split_documents(docs, tokenizer, 8 * (n // 7 + 1), 8 * (n // 7), 8, "xx", "mini")
