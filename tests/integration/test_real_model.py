"""One check on the real embedded model (Gemma 3 270M from its PyPI package): conversion,
then signatures of two languages on a few tokens."""

import numpy as np
import pytest

from langgeo.data.shards import pack_sequences, select_documents
from langgeo.data.sources import eld_documents, shuffled
from langgeo.formats.signature_file import Signature
from langgeo.geometry.hamming import signature_distances
from langgeo.method.binarize import binarize
from langgeo.method.hessians import collect_hessians
from langgeo.method.importance import layer_scores
from langgeo.method.models import load_model, load_tokenizer, prepare_model
from langgeo.params import parse_params

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gemma_dir(tmp_path_factory):
    import yaml

    params = parse_params(yaml.safe_load(open("params.yaml")))
    return prepare_model(params.model("gemma3-270m"), tmp_path_factory.mktemp("m") / "gemma")


@pytest.fixture(scope="module")
def gemma(gemma_dir):
    return load_model(gemma_dir), load_tokenizer(gemma_dir)


def test_tokenizer_gives_the_ids_of_the_model_class(gemma_dir):
    """load_tokenizer reads tokenizer.json without Gemma's tokenizer class: the same ids,
    special tokens included, on text of several scripts."""
    from transformers import AutoTokenizer

    ours, theirs = load_tokenizer(gemma_dir), AutoTokenizer.from_pretrained(gemma_dir)
    docs = eld_documents()
    texts = [t for code in ("fr", "ru", "ja", "hi", "ar", "th") for t in docs[code][:50]]
    assert ours(texts, add_special_tokens=False)["input_ids"] == \
        theirs(texts, add_special_tokens=False)["input_ids"]
    assert ours(texts[:3])["input_ids"] == theirs(texts[:3])["input_ids"]
    for attribute in ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id"):
        assert getattr(ours, attribute) == getattr(theirs, attribute), attribute


def signature(model, tokenizer, lang):
    docs = select_documents(shuffled(eld_documents()[lang], lang, 0), [tokenizer], 256, 128,
                            lang, "eld")
    hessians = collect_hessians(model, pack_sequences(tokenizer, docs, 256, 128).split(2))
    bits = binarize(layer_scores(model, hessians, "sparsegpt", 0.01), "per_matrix")
    return hessians, Signature({"language": lang}, list(bits),
                               {m: b.shape for m, b in bits.items()},
                               {m: np.packbits(b.reshape(-1)) for m, b in bits.items()})


def test_real_model_signatures(gemma):
    model, tokenizer = gemma
    assert type(model).__name__ == "Gemma3ForCausalLM"
    hessians, fr = signature(model, tokenizer, "fr")
    _, ja = signature(model, tokenizer, "ja")
    # 18 blocks x (q, k, v, o, gate, up, down); q/k/v and gate/up share inputs.
    assert len(fr.modules) == 126 and len(hessians.hessian) == 72
    assert fr.n_bits == 100_270_080
    assert all(fr.bits(m).sum() == fr.bits(m).size // 2 for m in fr.modules[:7])
    d = signature_distances([fr, ja])[0, 1]
    assert 0.01 < d < 0.5, d


REFERENCE = ["fr", "it", "pt", "ru", "fi", "hu", "ta", "kn", "ja"]


HELD_OUT = ["es", "et", "te"]  # Indo-European, Uralic, Dravidian


def test_held_out_languages_land_among_their_relatives(gemma):
    """Leave-one-out on the real model: a reference space of 9 languages from factor
    distances (512 tokens each); Spanish, Estonian and Telugu placed in it find their own
    family."""
    from langgeo.data.labels import language_labels
    from langgeo.geometry.continuous import factor_distances, factor_features
    from langgeo.geometry.embedding import classical_mds
    from langgeo.method.signature import compute
    from langgeo.studies.placement import Space

    model, tokenizer = gemma
    docs = eld_documents()

    def features(lang):
        chosen = select_documents(shuffled(docs[lang], lang, 0), [tokenizer], 512, 256, lang,
                                  "eld")
        return factor_features([compute(model, tokenizer, chosen, 512, 256,
                                               name=lang).factors])[0]

    reference = np.stack([features(lang) for lang in REFERENCE])
    d = factor_distances(reference)
    labels = language_labels(REFERENCE + HELD_OUT).set_index("code")
    space = Space(REFERENCE, labels, d, classical_mds(d)[0])
    placed = space.place_distances(
        factor_distances(np.stack([features(lang) for lang in HELD_OUT]), reference), HELD_OUT)
    for lang, (_, guess) in zip(HELD_OUT, placed.guesses.iterrows()):
        nearest = placed.neighbours[lang].iloc[0]
        assert nearest["family"] == labels.loc[lang, "family"], (lang, placed.neighbours[lang])
        assert guess["family"] == labels.loc[lang, "family"], (lang, guess)
