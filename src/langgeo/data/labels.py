"""Gold genealogical labels (family and primary branch) from Glottolog.

The labels are the ground truth against which the geometry learned from model
weights is judged, so they come from an external, citable classification:
Glottolog, as shipped in the CSV files of the ``urielplus`` package.

The mapping from our ISO 639-1 corpus codes to ISO 639-3 is a table we own
(``resources/languages.csv``) rather than a generic lookup, because ISO 639-1
codes often name macrolanguages (``ar``, ``zh``, ``fa``, ...) and only we know
which member language our text is in (for example, our ``ku`` is Central
Kurdish, ``ckb``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from importlib import resources
from importlib.resources.abc import Traversable

import pandas as pd

from langgeo import LanggeoError
from langgeo.data.languages import known_languages, read_csv_strings

__all__ = ["LABEL_COLUMNS", "language_labels", "language_lineages"]


#: Columns of the table returned by :func:`language_labels`, in order.
LABEL_COLUMNS: tuple[str, ...] = ("code", "iso639_3", "name", "glottocode", "family", "branch")


_URIEL_PACKAGE = "urielplus"


_URIEL_CSV_DIR = ("database", "urielplus_csvs")


_GLOTTOCODE_MAP_CSV = "uriel_glottocode_map.csv"


_LINEAGE_CSV = "lang_fam_geo.csv"


# Glottolog puts "Classical Indo-European" directly under Indo-European for
# every branch except Anatolian and Tocharian; keeping it would make it the
# "primary branch" of every living Indo-European language and erase the
# Italic/Germanic/Slavic/... distinctions we want to score against.
_UNINFORMATIVE_NODES = frozenset({"Classical Indo-European"})


def _uriel_csv(filename: str) -> Traversable:
    try:
        directory = resources.files(_URIEL_PACKAGE).joinpath(*_URIEL_CSV_DIR)
    except ModuleNotFoundError as error:
        raise LanggeoError(
            "Glottolog labels need the 'urielplus' package; install it with "
            "'pip install urielplus==1.3.2'."
        ) from error
    source = directory.joinpath(filename)
    if not source.is_file():
        raise LanggeoError(
            f"{filename} was not found in the installed urielplus package ({directory}); "
            "reinstall it with 'pip install --force-reinstall urielplus==1.3.2'."
        )
    return source


@functools.lru_cache(maxsize=1)
def _load_glottolog() -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """ISO 639-3 -> Glottocode, and Glottocode -> (Glottolog name, lineage)."""
    code_map = read_csv_strings(_uriel_csv(_GLOTTOCODE_MAP_CSV), ("iso_code", "glottocode"))
    lineages = read_csv_strings(
        _uriel_csv(_LINEAGE_CSV), ("language_id", "language_name", "lineage")
    )
    # Plain dicts: a lookup for a few dozen codes should not pay for pandas
    # indexing, and the first row wins should a code ever be listed twice.
    iso_to_glottocode: dict[str, str] = {}
    for iso, glottocode in zip(code_map["iso_code"], code_map["glottocode"]):
        iso_to_glottocode.setdefault(iso.strip(), glottocode.strip())
    glottocode_to_lineage: dict[str, tuple[str, str]] = {}
    for glottocode, name, lineage in zip(
        lineages["language_id"], lineages["language_name"], lineages["lineage"]
    ):
        glottocode_to_lineage.setdefault(glottocode.strip(), (name.strip(), lineage))
    return iso_to_glottocode, glottocode_to_lineage


def _family_and_branch(lineage: str, own_label: str) -> tuple[str, str]:
    nodes = [node.strip() for node in lineage.split(",")]
    nodes = [node for node in nodes if node and node not in _UNINFORMATIVE_NODES]
    if not nodes:
        # Glottolog gives an isolate no ancestors: it is a family of one.
        return own_label, own_label
    if len(nodes) == 1:
        # A family with no internal subgrouping above this language (e.g.
        # Korean directly under Koreanic): the family is the finest branch.
        return nodes[0], nodes[0]
    return nodes[0], nodes[1]


def language_labels(codes: Sequence[str]) -> pd.DataFrame:
    """Return Glottolog family and primary-branch labels for corpus languages.

    The family is the top node of the Glottolog lineage; the primary branch
    is the next node, skipping "Classical Indo-European", which sits above
    almost all Indo-European branches and carries no information. An
    isolate (empty lineage, e.g. Basque) is its own family and branch,
    labelled with its Glottolog name; a language whose lineage holds only
    the family node has the family as its branch.

    Parameters
    ----------
    codes : sequence of str
        ISO 639-1 codes, as listed by :func:`known_languages`. Order is kept
        and repeats are allowed.

    Returns
    -------
    labels : pandas.DataFrame of shape (len(codes), 6)
        One row per input code, in input order, with string columns
        ``code``, ``iso639_3``, ``name`` (from :func:`known_languages`),
        ``glottocode``, ``family`` and ``branch`` (from Glottolog).

    Raises
    ------
    LanggeoError
        If ``codes`` is a single string rather than a sequence of codes, if
        a code is not in :func:`known_languages`, or if the urielplus data
        has no Glottocode or no lineage for a code's ISO 639-3 code.
    """
    if isinstance(codes, str):
        # A bare string is a Sequence[str] too; iterating it would silently
        # look up its letters as codes.
        raise LanggeoError(
            f"codes must be a sequence of language codes, not the string {codes!r}; "
            f"pass [{codes!r}] for a single language."
        )
    codes = list(codes)
    known = known_languages()
    by_code = known.set_index("code")
    unknown = [code for code in codes if code not in by_code.index]
    if unknown:
        raise LanggeoError(
            f"Unknown language code(s) {unknown}. Known codes: {', '.join(known['code'])}. "
            "To label a new language, add a row to langgeo/data/resources/languages.csv."
        )

    iso_to_glottocode, glottocode_to_lineage = _load_glottolog()
    rows = []
    for code in codes:
        iso639_3 = by_code.at[code, "iso639_3"]
        name = by_code.at[code, "name"]
        glottocode = iso_to_glottocode.get(iso639_3)
        if glottocode is None:
            raise LanggeoError(
                f"No Glottocode for language {code!r} (ISO 639-3 {iso639_3!r}) in "
                f"urielplus' {_GLOTTOCODE_MAP_CSV}; check its iso639_3 entry in "
                "langgeo/data/resources/languages.csv."
            )
        entry = glottocode_to_lineage.get(glottocode)
        if entry is None:
            raise LanggeoError(
                f"No Glottolog lineage for language {code!r} (ISO 639-3 {iso639_3!r}, "
                f"Glottocode {glottocode!r}) in urielplus' {_LINEAGE_CSV}; check its "
                "iso639_3 entry in langgeo/data/resources/languages.csv."
            )
        glottolog_name, lineage = entry
        family, branch = _family_and_branch(lineage, glottolog_name)
        rows.append((code, iso639_3, name, glottocode, family, branch))
    return pd.DataFrame(rows, columns=list(LABEL_COLUMNS), dtype=str)


def language_lineages(codes: Sequence[str]) -> list[tuple[str, ...]]:
    """Each language's Glottolog lineage path, for the reference tree of
    :func:`langgeo.geometry.trees.lineage_tree`: the family first, then each subgroup down
    to the language's parent, then the language's own Glottocode; "Classical Indo-European"
    is skipped as in :func:`language_labels`. An isolate (empty lineage) is
    ``(Glottolog name, Glottocode)``: a family of one, named as :func:`language_labels`
    names it, so ``path[0]`` is always the ``family`` label.

    Parameters
    ----------
    codes : sequence of str
        ISO 639-1 codes, as for :func:`language_labels` (same checks, same errors).

    Returns
    -------
    list of tuple of str, one per code, in input order.
    """
    labels = language_labels(codes)
    _, glottocode_to_lineage = _load_glottolog()
    paths = []
    for glottocode in labels["glottocode"]:
        name, lineage = glottocode_to_lineage[glottocode]
        nodes = [node.strip() for node in lineage.split(",")]
        nodes = [node for node in nodes if node and node not in _UNINFORMATIVE_NODES]
        paths.append((*(nodes or [name]), glottocode))
    return paths
