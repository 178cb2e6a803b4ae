"""The languages langgeo knows: codes, names, ISO 639-3, hub configs and writing systems.

Two tables we own, in ``resources/``: ``languages.csv`` (our code, its ISO 639-3 code and
English name, for every language that can be labelled) and ``paper_languages.csv`` (the
paper's 106 languages with their config in each hub corpus and their Glottolog family and
branch). ISO 639-1 codes often name macrolanguages (``ar``, ``zh``, ``fa``): only we know which
member our text is in (``ku`` is Central Kurdish, ``ckb``). Scripts are ISO 15924 codes.
"""

from __future__ import annotations

import csv
import difflib
import functools
import importlib.resources
import io
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable

import pandas as pd

from langgeo import LanggeoError

_KNOWN_COLUMNS: tuple[str, ...] = ("code", "iso639_3", "name")


def read_csv_strings(source: Traversable, columns: Sequence[str]) -> pd.DataFrame:
    # keep_default_na=False because real codes collide with pandas' NA
    # spellings: ISO 639-3 "nan" is Min Nan Chinese, and an empty lineage is
    # meaningful (a language isolate), not missing data.
    with source.open("rb") as handle:
        table = pd.read_csv(handle, dtype=str, keep_default_na=False)
    missing = [column for column in columns if column not in table.columns]
    if missing:
        raise LanggeoError(
            f"{source} lacks column(s) {missing}; expected {list(columns)}. "
            "The file is corrupt or from an unsupported version."
        )
    return table.loc[:, list(columns)]


@functools.lru_cache(maxsize=1)
def _load_known() -> pd.DataFrame:
    source = resources.files("langgeo.data").joinpath("resources", "languages.csv")
    table = read_csv_strings(source, _KNOWN_COLUMNS)
    return table.sort_values("code", ignore_index=True)


def known_languages() -> pd.DataFrame:
    """Return the languages this package can label.

    Returns
    -------
    languages : pandas.DataFrame of shape (n_languages, 3)
        Columns ``code`` (ISO 639-1 code used by the corpus), ``iso639_3``
        (the ISO 639-3 individual language the corpus text is in, which
        resolves macrolanguages, e.g. ``ar`` -> ``arb``, ``ku`` -> ``ckb``)
        and ``name`` (English name), all strings, one row per language,
        sorted by ``code``. The frame is a fresh copy and may be modified.
    """
    return _load_known().copy()


def check_language_codes(codes: Sequence[str], where: str) -> None:
    """Raise unless every code is a language of :func:`known_languages` or ``unknown`` (a
    text whose language the user does not know), naming the close matches of each other
    code; ``where`` names the input (e.g. ``--language``)."""
    known = set(_load_known()["code"])
    bad = [code for code in dict.fromkeys(codes) if code != "unknown" and code not in known]
    if bad:
        near = {code: difflib.get_close_matches(code, sorted(known), n=3) for code in bad}
        hints = "; ".join(f"{code!r}: did you mean {', '.join(m)}?" if m
                          else f"{code!r}: no close match" for code, m in near.items())
        raise LanggeoError(f"{where}: {', '.join(map(repr, bad))} is no language code of "
                           f"langgeo/data/resources/languages.csv ({hints}); give an ISO 639-1 "
                           "code from that table, or 'unknown'")


LANGUAGE_TABLE = ("resources", "paper_languages.csv")


@lru_cache(maxsize=1)
def language_table() -> dict[str, dict[str, str]]:
    """Rows of ``resources/paper_languages.csv`` by our language code.

    Each row maps one of our codes to its ``iso639_3`` code, ``name``, its code in each hub
    source (``wikipedia``, ``culturax``, ``fineweb2``; empty where the source lacks the
    language) and its Glottolog ``glottocode``, ``family`` and ``branch``.
    """
    text = importlib.resources.files("langgeo.data").joinpath(*LANGUAGE_TABLE).read_text("utf-8")
    return {row["code"]: row for row in csv.DictReader(io.StringIO(text))}


@lru_cache(maxsize=1)
def _language_rows() -> dict[str, dict[str, str]]:
    """ISO 639-3 and expected script of each of our codes (both language tables)."""
    rows: dict[str, dict[str, str]] = {}
    for table in ("paper_languages.csv", "languages.csv"):
        text = importlib.resources.files("langgeo.data").joinpath("resources", table).read_text()
        for row in csv.DictReader(io.StringIO(text)):
            rows.setdefault(row["code"], row)
    return rows


def language_iso639_3(language: str) -> str:
    """The ISO 639-3 code of one of our codes; a code of three letters not in our tables is
    taken as ISO 639-3 itself (the UDHR-wide preset names languages that way)."""
    row = _language_rows().get(language)
    if row:
        return row["iso639_3"]
    if re.fullmatch(r"[a-z]{3}", language):
        return language
    raise LanggeoError(f"language {language!r} is not in src/langgeo/data/resources/languages.csv; "
                       "add it with its ISO 639-3 code, or use an ISO 639-3 code")


#: ISO 15924 script of each ``eld`` corpus language's text, checked against the text itself
#: (tests/test_baselines.py). ``ku`` is Central Kurdish in Arabic script and ``sr`` is in
#: Cyrillic in this corpus; Japanese mixes Han and kana (Jpan), distinct from Chinese (Hani).
CORPUS_SCRIPTS: dict[str, str] = {
    **dict.fromkeys(["az", "ca", "cs", "da", "de", "en", "es", "et", "eu", "fi", "fr", "hr",
                     "hu", "is", "it", "lt", "lv", "ms", "nl", "no", "pl", "pt", "ro", "sk",
                     "sl", "sq", "sv", "tl", "tr", "vi", "yo"], "Latn"),
    **dict.fromkeys(["be", "bg", "ru", "sr", "uk"], "Cyrl"),
    **dict.fromkeys(["ar", "fa", "ku", "ur"], "Arab"),
    **dict.fromkeys(["hi", "mr"], "Deva"),
    "am": "Ethi", "bn": "Beng", "el": "Grek", "gu": "Gujr", "he": "Hebr", "hy": "Armn",
    "ja": "Jpan", "ka": "Geor", "kn": "Knda", "ko": "Kore", "ml": "Mlym", "or": "Orya",
    "pa": "Guru", "ta": "Taml", "te": "Telu", "th": "Thai", "zh": "Hani",
}


def known_script(language: str) -> str | None:
    from langgeo.data.languages import CORPUS_SCRIPTS

    if language in CORPUS_SCRIPTS:
        return CORPUS_SCRIPTS[language]
    config = language_table().get(language, {}).get("fineweb2", "")
    return config.partition("_")[2] or None


# Scripts that a writing system mixes: Japanese (Han and kana), Korean (Hangul and Han).
_MIXED_SCRIPTS = {"Hira": "Jpan", "Kana": "Jpan", "Hang": "Kore"}


def dominant_script(text: str) -> str | None:
    """The ISO 15924 code of the script most letters of ``text`` are in (``Latn``, ``Cyrl``,
    ...); Japanese text with any kana is ``Jpan``, Korean with any Hangul ``Kore``. Common and
    inherited characters (digits, punctuation, combining marks) are not counted."""
    from fontTools import unicodedata

    counts = Counter(unicodedata.script(ch) for ch in text if ch.isalpha())
    for code in ("Zyyy", "Zinh", "Zzzz"):
        counts.pop(code, None)
    if not counts:
        return None
    for part, mixed in _MIXED_SCRIPTS.items():
        if counts.get(part, 0) > 0.05 * sum(counts.values()):
            return mixed
    return counts.most_common(1)[0][0]
