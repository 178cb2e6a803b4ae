"""The romanizer (uroman) on a few scripts, and its failures reported by language."""

from __future__ import annotations

import difflib
import sys

import pytest

from langgeo import LanggeoError
from langgeo.data import romanize as romanize_module
from langgeo.data.romanize import (
    romanize,
    romanize_documents,
    unromanized_share,
    uroman_language_code,
)

pytest.importorskip("uroman")

TEXTS = {
    "ru": ["Москва — столица России.", "Я люблю читать книги."],  # Cyrillic
    "ar": ["مرحبا بالعالم", "اللغة العربية جميلة"],  # Arabic
    "hi": ["नमस्ते दुनिया", "भारत एक बड़ा देश है।"],  # Devanagari
    "zh": ["你好，世界。", "我喜欢学习语言。"],  # Han
    "ka": ["გამარჯობა მსოფლიო", "საქართველო ლამაზი ქვეყანაა."],  # Georgian
}


@pytest.fixture(scope="module")
def romanized():
    # Loading uroman's tables takes seconds: once for the module.
    return romanize_documents(TEXTS)


@pytest.mark.parametrize("language", sorted(TEXTS))
def test_scripts_become_ascii_latin(romanized, language):
    out = romanized[language]
    assert len(out) == len(TEXTS[language])
    joined = "".join(out)
    assert unromanized_share(joined) == 0.0
    letters = [ch for ch in joined if ch.isalpha()]
    assert letters and sum(ch.isascii() for ch in letters) / len(letters) > 0.95
    assert romanize(TEXTS[language], language) == out  # deterministic


def test_known_romanizations(romanized):
    assert romanized["ru"][0].startswith("Moskva")
    assert romanized["ka"][0].startswith("gamarjoba")
    assert "nihao" in romanized["zh"][0].replace(" ", "").lower()


def test_latin_text_stays_nearly_unchanged():
    text = "Il était une fois une petite fille qui vivait au bord de la forêt."
    (out,) = romanize([text], "fr")
    assert difflib.SequenceMatcher(None, text, out).ratio() > 0.95
    assert out.startswith("Il etait une fois")


def test_language_codes_for_uroman():
    assert uroman_language_code("ru") == "rus"
    assert uroman_language_code("fa") == "fas"  # Iranian Persian: uroman's Persian rules
    assert uroman_language_code("zh") == "zho"


class _Failing:
    def romanize_string(self, text, lcode=None):
        raise RuntimeError("lattice broke")


class _Identity:
    def romanize_string(self, text, lcode=None):
        return text


def test_a_failure_names_the_language(monkeypatch):
    monkeypatch.setattr(romanize_module, "_uroman", lambda: _Failing())
    with pytest.raises(LanggeoError, match="language 'ka'.*lattice broke"):
        romanize_documents({"ka": ["გამარჯობა"]})


def test_unromanized_output_names_the_language(monkeypatch):
    monkeypatch.setattr(romanize_module, "_uroman", lambda: _Identity())
    assert romanize(["plain latin"], "en") == ["plain latin"]
    with pytest.raises(LanggeoError, match="language 'ru' unromanized.*CYRILLIC"):
        romanize_documents({"en": ["plain latin"], "ru": ["Привет, мир"]})


def test_missing_romanizer(monkeypatch):
    romanize_module._uroman.cache_clear()
    monkeypatch.setitem(sys.modules, "uroman", None)  # import uroman now fails
    try:
        with pytest.raises(LanggeoError, match="pip install uroman==1.3.1.1"):
            romanize(["Привет"], "ru")
    finally:
        romanize_module._uroman.cache_clear()


def test_a_single_string_is_refused():
    with pytest.raises(LanggeoError, match="list of texts"):
        romanize("Привет", "ru")
