"""Alignment of parallel units and pooled hidden states on tiny models."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from langgeo import LanggeoError
from langgeo.studies.representations import language_states, pairwise_units, unit_states
from tests.conftest import tiny_gemma3, tiny_llama, tiny_tokenizer

TEXTS = ["Tous les êtres humains naissent libres et égaux.", "Все люди рождаются свободными.",
         "Alle Menschen sind frei und gleich an Würde und Rechten geboren.", "人人生而自由。",
         "Todos los seres humanos nacen libres e iguales en dignidad y derechos."]


@dataclass(frozen=True)
class Unit:
    article: int
    position: int
    text: str


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer(TEXTS * 20)


def test_pairwise_units_align_each_pair_on_the_units_both_hold():
    # Article 1: fr and ru one unit, de two; article 3 in ru alone; a blank unit in ru.
    units = {
        "fr": [Unit(0, 0, "p0"), Unit(0, 1, "p1"), Unit(1, 0, "a1"), Unit(2, 0, "b"),
               Unit(2, 1, "c")],
        "de": [Unit(0, 1, "q1"), Unit(0, 0, "q0"), Unit(1, 0, "x1"), Unit(1, 1, "x2"),
               Unit(2, 0, "d"), Unit(2, 1, "e")],
        "ru": [Unit(0, 0, "r0"), Unit(0, 1, " "), Unit(1, 0, "y1"), Unit(2, 0, "f"),
               Unit(2, 1, "g"), Unit(3, 0, "only here")],
    }
    found = pairwise_units(units)
    assert found.keys == [(0, 2, 0), (0, 2, 1), (1, 1, 0), (1, 2, 0), (1, 2, 1), (2, 2, 0),
                          (2, 2, 1), (3, 1, 0)]
    assert found.ids == {"fr": [0, 1, 2, 5, 6], "de": [0, 1, 3, 4, 5, 6],
                         "ru": [0, 2, 5, 6, 7]}
    assert found.texts["de"] == ["q0", "q1", "x1", "x2", "d", "e"]
    assert found.texts["ru"] == ["r0", "y1", "f", "g", "only here"]
    slots = found.slots()
    assert slots.shape == (3, 6) and list(slots[0]) == [0, 1, 2, 5, 6, -1]
    from langgeo.studies.interlingua import shared_units

    # fr-de: the preamble and article 2 (not article 1, split differently); fr-ru: p0, a1,
    # b, c (ru's second preamble unit is blank); de-ru: q0, d, e.
    np.testing.assert_array_equal(shared_units(slots), [[5, 4, 4], [4, 6, 3], [4, 3, 5]])
    # Two units each: those the most languages hold (p0, b, c: all three), ties in document
    # order; fr's p1 (fr, de) and ru's y1 (fr, ru) give way.
    first = pairwise_units(units, max_units=2)
    assert first.texts == {"fr": ["p0", "b"], "de": ["q0", "d"], "ru": ["r0", "f"]}
    np.testing.assert_array_equal(shared_units(first.slots()), np.full((3, 3), 2))
    with pytest.raises(LanggeoError, match="no units"):
        pairwise_units({"fr": [Unit(0, 0, "a")], "de": [Unit(0, 0, "  ")]})
    with pytest.raises(LanggeoError, match="no language"):
        pairwise_units({})


def _reference(model, tokenizer, text: str, skip: int) -> np.ndarray:
    ids = [tokenizer.bos_token_id] + tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        hidden = model.model(input_ids=torch.tensor([ids]), output_hidden_states=True)
    return np.stack([h[0, skip:].mean(0).numpy() for h in hidden.hidden_states])


@pytest.mark.parametrize("build", [tiny_gemma3, tiny_llama])
def test_batched_pooled_states_match_one_unit_at_a_time(build, tokenizer):
    model = build()
    for pooling, skip in (("mean", 0), ("mean_no_bos", 1)):
        states = unit_states(model, tokenizer, TEXTS, pooling, batch_size=3)
        assert states.shape == (model.config.num_hidden_layers + 1, len(TEXTS), 32)
        for i, text in enumerate(TEXTS):
            np.testing.assert_allclose(states[:, i], _reference(model, tokenizer, text, skip),
                                       rtol=1e-4, atol=1e-5)
    assert not np.allclose(unit_states(model, tokenizer, TEXTS, "mean"),
                           unit_states(model, tokenizer, TEXTS, "mean_no_bos"))


def test_language_states_layout_and_determinism(tokenizer):
    model = tiny_gemma3()
    texts = {"a": TEXTS[:2], "b": TEXTS[2:4], "c": TEXTS[3:5]}
    states = language_states(model, tokenizer, texts, batch_size=2)
    assert states.shape == (3, 3, 2, 32)
    alone = unit_states(model, tokenizer, TEXTS[2:4], batch_size=1)
    np.testing.assert_allclose(states[:, 1], alone, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(states, language_states(model, tokenizer, texts, batch_size=2))
    # Fewer units: zero vectors after the last, the others as they are.
    ragged = language_states(model, tokenizer, {"a": TEXTS[:2], "b": TEXTS[2:5]}, batch_size=2)
    assert ragged.shape == (3, 2, 3, 32) and not ragged[:, 0, 2].any()
    np.testing.assert_allclose(ragged[:, 1], unit_states(model, tokenizer, TEXTS[2:5]),
                               rtol=1e-4, atol=1e-5)
    with pytest.raises(LanggeoError, match="pooling"):
        unit_states(model, tokenizer, TEXTS, "max")
