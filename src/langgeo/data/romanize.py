"""Romanized text: each language's calibration text in Latin letters, to separate what a model
knows of a language from what it knows of its script (issue 24's script control).

The romanizer is ``uroman`` (Hermjakob, May & Knight 2018, "Out-of-the-box universal
romanization tool uroman", ACL demos; PyPI ``uroman==1.3.1.1``, pure Python, offline: its
tables ship in the package). Its licence asks that a publication using it acknowledge it:
"This project uses the universal romanizer software 'uroman' written by Ulf Hermjakob, USC
Information Sciences Institute (2015-2020)".

uroman romanizes any script it has tables for, guided by a language code (ISO 639-3) for the
few languages with rules of their own (Russian, Ukrainian, Persian, ...). Latin-script text
loses its diacritics and keeps its letters (``être`` -> ``etre``). A language whose text is
left mostly unromanized (a script uroman does not know) raises, naming the language, rather
than being passed on silently.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from langgeo import LanggeoError
from langgeo.data.languages import language_iso639_3

__all__ = [
    "UROMAN_VERSION",
    "romanize",
    "romanize_documents",
    "romanize_stream",
    "unromanized_share",
    "uroman_language_code",
]

#: The uroman release the outputs were checked with.
UROMAN_VERSION = "1.3.1.1"

# uroman keys its language rules on ISO 639-3 macrolanguage codes; our tables name the
# member language (Iranian Persian, Standard Arabic, ...). Only the members whose macrolanguage
# uroman knows by code need mapping; any other code is passed as it is.
_UROMAN_MACROLANGUAGE = {"pes": "fas", "prs": "fas", "arb": "ara", "lvs": "lav", "cmn": "zho",
                         "zsm": "msa", "uzn": "uzb", "ekk": "est", "nob": "nor", "als": "sqi",
                         "swh": "swa", "ory": "ori", "khk": "mon", "azj": "aze", "plt": "mlg"}

# uroman's token cache (Uroman(cache_size=...)) is 1.5-2.5x faster on running text but, in
# 1.3.1.1, romanizes some separators differently (a no-break space, the Ethiopic comma, CJK
# brackets) from uroman's whole-string mode; the whole-string mode is kept as the reference.


@functools.lru_cache(maxsize=1)
def _uroman() -> Any:
    """The one uroman instance of this process (loading its tables takes seconds)."""
    try:
        from uroman import Uroman
    except ModuleNotFoundError as error:
        raise LanggeoError("romanizing text needs the 'uroman' package; install it with "
                           f"'pip install uroman=={UROMAN_VERSION}'") from error
    return Uroman()


def uroman_language_code(language: str) -> str:
    """The language code uroman is given for one of our language codes: its ISO 639-3 code,
    or the macrolanguage code uroman's rules use (``fa`` -> ``pes`` -> ``fas``)."""
    iso = language_iso639_3(language)
    return _UROMAN_MACROLANGUAGE.get(iso, iso)


def unromanized_share(text: str) -> float:
    """Share of the letters of ``text`` that are not Latin letters (0.0 when it has none)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    foreign = sum(not unicodedata.name(ch, "").startswith("LATIN") for ch in letters)
    return foreign / len(letters)


def _romanize_one(engine: Any, text: str, k: int, language: str, lcode: str) -> str:
    try:
        return str(engine.romanize_string(text, lcode=lcode))
    except Exception as error:  # uroman raises anything from its lattice code
        raise LanggeoError(f"uroman failed on text {k} of language {language!r} "
                           f"({type(error).__name__}: {error}); the language is not "
                           "romanized: drop it from the romanized run or report the text "
                           "to uroman") from error


def _check_romanized(out: Sequence[str], language: str, max_unromanized: float) -> None:
    share = unromanized_share("".join(out))
    if share > max_unromanized:
        left = sorted({unicodedata.name(ch, ch).split()[0] for text in out for ch in text
                       if ch.isalpha() and not unicodedata.name(ch, "").startswith("LATIN")})
        raise LanggeoError(f"uroman left {share:.0%} of the letters of language {language!r} "
                           f"unromanized (scripts: {', '.join(left[:5])}); the language is not "
                           "romanized: drop it from the romanized run")


def romanize(texts: Sequence[str], language: str, *,
             max_unromanized: float = 0.05) -> list[str]:
    """``texts`` of ``language`` (one of our codes) in Latin letters, one output per text, in
    order; deterministic.

    Raises LanggeoError naming the language when uroman is missing, when it fails on a text,
    or when more than ``max_unromanized`` of the output's letters (all texts together) are
    still not Latin."""
    if isinstance(texts, str):
        raise LanggeoError(f"romanize({language!r}): pass a list of texts, not one string")
    lcode = uroman_language_code(language)
    engine = _uroman()
    out = [_romanize_one(engine, text, k, language, lcode) for k, text in enumerate(texts)]
    _check_romanized(out, language, max_unromanized)
    return out


def romanize_stream(documents: Iterable[str], language: str, *,
                    max_unromanized: float = 0.05) -> Iterator[str]:
    """:func:`romanize` one document at a time, as ``documents`` are read (a lazy corpus is
    read only as far as its consumer needs); each document is checked on its own."""
    lcode = uroman_language_code(language)
    engine = _uroman()
    for k, document in enumerate(documents):
        out = _romanize_one(engine, document, k, language, lcode)
        _check_romanized([out], language, max_unromanized)
        yield out


def romanize_documents(documents: Mapping[str, Sequence[str]], *,
                       max_unromanized: float = 0.05) -> dict[str, list[str]]:
    """:func:`romanize` for every language of ``documents`` (language -> texts), in its
    order; the first language that fails raises, naming it."""
    return {language: romanize(texts, language, max_unromanized=max_unromanized)
            for language, texts in documents.items()}
