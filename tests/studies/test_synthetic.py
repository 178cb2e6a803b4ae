"""Synthetic ground truth: exact, seeded transformations; the ordering check; the recovered
distances of a tiny model."""

import numpy as np
import pytest

from langgeo import LanggeoError
from langgeo.data.shards import document_tokens
from langgeo.data.sources import eld_documents, shuffled
from langgeo.method.models import load_model, load_tokenizer
from langgeo.studies.synthetic import (base_and_reference, make_variants, ordering_check,
                                       scramble_words, substitute_characters, synthetic_distances)

TEXT = ("Le chat dort sur le tapis, et le chien regarde par la fenêtre. " * 40
        + "Ça ÉTAIT une belle journée d'été 2024 !")


UNIQUE = " ".join(f"w{i}" for i in range(40))


def letters(text: str) -> list[int]:
    return [i for i, c in enumerate(text) if c.isalpha()]


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.1, 0.2, 0.4, 1.0])
def test_substitution_changes_exactly_its_rate_of_letters(rate):
    out = substitute_characters(TEXT, rate, np.random.default_rng(7))
    assert len(out) == len(TEXT)
    where = letters(TEXT)
    changed = [i for i in where if out[i] != TEXT[i]]
    assert len(changed) == round(rate * len(where))
    # Only letters change, each into another letter of the text, case kept.
    assert all(out[i] == TEXT[i] for i in range(len(TEXT)) if i not in set(where))
    alphabet = {c.lower() for c in TEXT if c.isalpha()}
    for i in changed:
        assert out[i].lower() in alphabet and out[i].lower() != TEXT[i].lower()
        assert out[i].isupper() == TEXT[i].isupper()


def test_transformations_are_reproducible_and_seeded():
    a = substitute_characters(TEXT, 0.2, np.random.default_rng(1))
    assert a == substitute_characters(TEXT, 0.2, np.random.default_rng(1))
    assert a != substitute_characters(TEXT, 0.2, np.random.default_rng(2))
    b = scramble_words(UNIQUE, 0.5, np.random.default_rng(1))
    assert b == scramble_words(UNIQUE, 0.5, np.random.default_rng(1))
    assert b != scramble_words(UNIQUE, 0.5, np.random.default_rng(2))


@pytest.mark.parametrize("strength", [0.1, 0.25, 0.5, 1.0])
def test_scrambling_moves_exactly_its_share_of_words(strength):
    words = UNIQUE.split()
    out = scramble_words(UNIQUE, strength, np.random.default_rng(3)).split()
    assert sorted(out) == sorted(words)  # every word kept
    moved = sum(a != b for a, b in zip(words, out))
    assert moved == round(strength * len(words))


def test_scrambling_leaves_too_short_a_selection_alone_and_checks_its_input():
    assert scramble_words("deux mots", 0.4, np.random.default_rng(0)) == "deux mots"
    with pytest.raises(LanggeoError, match=r"\[0, 1\]"):
        scramble_words(UNIQUE, 1.5, np.random.default_rng(0))
    with pytest.raises(LanggeoError, match=r"\[0, 1\]"):
        substitute_characters(TEXT, -0.1, np.random.default_rng(0))


def test_base_and_reference_are_disjoint_runs_of_the_text(tiny_model_dir):
    docs = shuffled(eld_documents()["fr"], "fr", 0)
    tokenizer = load_tokenizer(tiny_model_dir)
    base, reference = base_and_reference(iter(docs), [tokenizer], 256, 64, "fr", "eld")
    assert base == docs[:len(base)] and set(base).isdisjoint(reference)
    assert reference == docs[docs.index(reference[0]):][:len(reference)]
    assert sum(len(t) for t in document_tokens(tokenizer, base)) >= 320 - 5  # 1.25x, BOS
    with pytest.raises(LanggeoError, match="needs text for 320 \\+ 256 tokens"):
        base_and_reference(iter(docs[:len(base) + 1]), [tokenizer], 256, 64, "fr", "eld")


def test_variants_report_realized_rates():
    docs = shuffled(eld_documents()["fr"], "fr", 0)[:200]
    spec = {"substitute": [0.1, 0.4], "scramble": [0.5, 1.0]}
    variants = make_variants(docs[:100], docs[100:], spec, seed=0)
    assert [v.name for v in variants] == ["base", "substitute@0.1", "substitute@0.4",
                                          "scramble@0.5", "scramble@1", "reference"]
    base, reference = variants[0].documents, variants[-1].documents
    assert base == tuple(docs[:100]) and reference == tuple(docs[100:])
    assert variants[1].realized == pytest.approx(0.1, abs=1e-3)
    assert variants[2].realized == pytest.approx(0.4, abs=1e-3)
    # Sentences of a few words round to fewer moves; never more than asked.
    assert 0.4 < variants[3].realized <= 0.51 and 0.9 < variants[4].realized <= 1.0
    again = make_variants(docs[:100], docs[100:], {"scramble": [1.0, 0.5]}, seed=0)
    # Each variant has its own generator: order and company do not change it.
    assert again[1].documents == variants[4].documents
    assert again[2].documents == variants[3].documents
    assert make_variants(docs[:100], docs[100:], spec, seed=1)[1].documents \
        != variants[1].documents


def test_scrambling_a_language_without_spaces_is_refused():
    with pytest.raises(LanggeoError, match="space-separated words"):
        ja = shuffled(eld_documents()["ja"], "ja", 0)
        make_variants(ja[:40], ja[40:50], {"scramble": [0.5, 1.0]}, 0)


def test_ordering_check():
    assert ordering_check([0.1, 0.2, 0.4], [0.01, 0.02, 0.03]) == (pytest.approx(1.0), True)
    assert ordering_check([0.4, 0.1, 0.2], [0.03, 0.01, 0.02]) == (pytest.approx(1.0), True)
    rho, passed = ordering_check([0.1, 0.2, 0.4], [0.01, 0.03, 0.02])
    assert rho == pytest.approx(0.5) and not passed
    rho, passed = ordering_check([0.1, 0.2, 0.4], [0.01, 0.02, 0.02])  # a tie fails
    assert rho < 1 and not passed
    with pytest.raises(LanggeoError, match="at least two"):
        ordering_check([0.1], [0.2])


def test_tiny_model_recovers_the_order_of_strong_transformations(tiny_model_dir):
    docs = eld_documents()
    model, tokenizer = load_model(tiny_model_dir), load_tokenizer(tiny_model_dir)
    fr = shuffled(docs["fr"], "fr", 0)
    variants = make_variants(fr[:150], fr[150:300],
                             {"substitute": [0.05, 0.2, 0.8], "scramble": [0.1, 1.0]}, seed=0)

    def run():
        return synthetic_distances(model, tokenizer, variants, 256, 64, "sparsegpt",
                                   "per_matrix", 0.01, 2, "tiny")

    table = run()
    assert list(table["transformation"]) == ["substitute"] * 3 + ["scramble"] * 2 + ["reference"]
    checks = table[table["transformation"] != "reference"]
    assert checks["passed"].all() and checks["spearman"].tolist() == pytest.approx([1.0] * 5)
    assert (checks["distance"] > 0).all()
    assert table["distance"].tolist() == run()["distance"].tolist()  # deterministic
