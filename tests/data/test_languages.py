"""langgeo.data.languages: the table of known languages, and the script of each corpus
language against the corpus text."""

import unicodedata
from collections import Counter

from langgeo.data.languages import CORPUS_SCRIPTS, known_languages
from tests.helpers.languages import CORPUS_CODES


def test_known_languages_table():
    known = known_languages()
    assert list(known.columns) == ["code", "iso639_3", "name"]
    assert set(CORPUS_CODES) <= set(known["code"])
    assert list(known["code"]) == sorted(known["code"])
    assert not known["code"].duplicated().any()
    # "no" is a real code that a naive CSV reader turns into a boolean or NA.
    assert known.set_index("code").at["no", "name"] == "Norwegian Bokmål"


def test_known_languages_returns_a_copy():
    known = known_languages()
    known.loc[0, "name"] = "changed"
    assert "changed" not in set(known_languages()["name"])


def _dominant_script(texts):
    letters = Counter(unicodedata.name(c).split()[0] for t in texts for c in t if c.isalpha())
    # Japanese mixes Han and kana; Han alone is Chinese.
    if letters["HIRAGANA"] + letters["KATAKANA"] > 0.1 * letters.total():
        return "Jpan"
    return {"LATIN": "Latn", "CYRILLIC": "Cyrl", "ARABIC": "Arab", "DEVANAGARI": "Deva",
            "ETHIOPIC": "Ethi", "BENGALI": "Beng", "GREEK": "Grek", "GUJARATI": "Gujr",
            "HEBREW": "Hebr", "ARMENIAN": "Armn", "GEORGIAN": "Geor", "KANNADA": "Knda",
            "HANGUL": "Kore", "MALAYALAM": "Mlym", "ORIYA": "Orya", "GURMUKHI": "Guru",
            "TAMIL": "Taml", "TELUGU": "Telu", "THAI": "Thai",
            "CJK": "Hani"}[letters.most_common(1)[0][0]]


def test_corpus_scripts_match_the_corpus_text():
    from langgeo.data.sources import eld_documents

    documents = eld_documents()
    assert set(documents) == set(CORPUS_SCRIPTS)
    found = {code: _dominant_script(texts) for code, texts in documents.items()}
    assert found == CORPUS_SCRIPTS
