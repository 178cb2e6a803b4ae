"""Phylogenetics files: a tree as Newick, a distance matrix as PHYLIP or NEXUS, and distances
as a long CSV, so that the space can be read by the tools of computational historical
linguistics (PHYLIP's ``neighbor``, SplitsTree, R's ape/phangorn, Biopython, scikit-bio).

Newick (:func:`write_newick`)
    One line ``(...)...;``: nested parentheses, a leaf's name, ``:length`` after a node when
    known. A name made only of letters, digits and ``. -`` is written bare; any other (an
    unquoted ``_`` reads as a blank in Newick) is put in single quotes, a quote inside doubled
    (``'it''s'``), as Newick allows.

PHYLIP distance matrix (:func:`write_phylip`)
    The square layout of PHYLIP's ``neighbor``: the first line holds n; then one line per
    taxon, its name and its n distances (diagonal included), separated by spaces. Two name
    variants:

    - ``strict`` (default): PHYLIP's own rule, a name is exactly the first 10 characters of
      its line. Names are cut to 10 characters, made unique by a numbered suffix when cutting
      merges two (``Indo-Europ`` and ``Indo-Eur_2``), and padded with blanks to 10, then one
      blank before the distances. When every name is at most 10 characters without blanks
      (ISO codes), the same file is also valid relaxed PHYLIP.
    - ``relaxed``: a name of any length, then blanks (the variant of PhyML, RAxML, scikit-bio).

    In both, a blank, tab or one of ``( ) [ ] , ; :`` in a name becomes ``_`` (they would
    break the name field or a Newick tree written from it). :func:`phylip_names` gives the
    names written, in order.

NEXUS (:func:`write_nexus`)
    ``#NEXUS``, a TAXA block (``DIMENSIONS NTAX=n; TAXLABELS ...;``) and a DISTANCES block
    (``DIMENSIONS NTAX=n; FORMAT TRIANGLE=BOTH DIAGONAL LABELS=LEFT; MATRIX ...;``): the square
    matrix, a row per taxon headed by its label, as SplitsTree reads and writes it. A label
    other than letters, digits and ``.`` is single-quoted (NEXUS reads an unquoted ``_`` as a
    blank, and ``-`` as punctuation).

Long CSV (:func:`write_distance_csv`)
    In the spirit of CLDF's ParameterTable/ValueTable: one row per unordered pair of languages
    and measure, columns ``language_a, language_b, value, measure, model, dataset, tokens,
    commit`` (``language_a`` comes first in the matrix's order; ``tokens``: the calibration
    tokens per language behind the value, empty when not known; ``commit``: the version of the
    code that computed it, e.g. ``langgeo 0.1.0``: a pipeline output cannot hold the git
    commit it will be committed in, and the same inputs must give the same bytes; the commit
    of a result is the one whose ``dvc.lock`` holds it). UTF-8, comma-separated, a header
    line, read by any CSV reader.

Every file is written atomically (:mod:`langgeo.formats.storage`).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from langgeo import LanggeoError
from langgeo.formats.storage import atomic_path

__all__ = [
    "LONG_CSV_COLUMNS",
    "NewickNode",
    "distance_long_table",
    "newick_string",
    "phylip_names",
    "write_distance_csv",
    "write_newick",
    "write_nexus",
    "write_phylip",
]

#: A tree node for :func:`newick_string`: ``(name, length, children)``. A leaf has a name and
#: no children; an internal node usually no name; ``length`` is the length of the edge above
#: the node (None: not written).
NewickNode = tuple[str | None, float | None, tuple["NewickNode", ...]]

#: Columns of the long CSV, in order.
LONG_CSV_COLUMNS: tuple[str, ...] = ("language_a", "language_b", "value", "measure", "model",
                                     "dataset", "tokens", "commit")

PHYLIP_NAME_WIDTH = 10

_NEWICK_BARE = re.compile(r"[A-Za-z0-9.\-]+")
_NEXUS_BARE = re.compile(r"[A-Za-z0-9.]+")
# Characters that break a PHYLIP name field or a Newick tree built from PHYLIP names.
_PHYLIP_UNSAFE = re.compile(r"[\s()\[\],;:]")


def _square(distances: np.ndarray, names: Sequence[str], what: str) -> np.ndarray:
    """``distances`` as a finite float64 ``(n, n)`` array with one name per row."""
    d = np.asarray(distances, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != d.shape[1] or d.shape[0] != len(names):
        raise LanggeoError(f"{what}: the distance matrix has shape {d.shape} but there are "
                           f"{len(names)} names; pass a square matrix with one name per row")
    if not np.isfinite(d).all():
        raise LanggeoError(f"{what}: the distance matrix holds NaN or infinite values; PHYLIP "
                           "and NEXUS matrices must be complete (fill or drop those languages)")
    if len(set(names)) != len(names):
        raise LanggeoError(f"{what}: names are not distinct; pass one distinct name per row")
    return d


def _number(value: float, decimals: int) -> str:
    # Fixed point: PHYLIP's neighbor and some NEXUS readers do not take exponents; no "-0".
    return f"{value if value != 0 else 0.0:.{decimals}f}"


def _newick_name(name: str) -> str:
    if _NEWICK_BARE.fullmatch(name):
        return name
    return "'" + name.replace("'", "''") + "'"


def _newick_length(length: float) -> str:
    if not math.isfinite(length):
        raise LanggeoError(f"Newick: an edge length is {length}; edge lengths must be finite")
    return repr(float(length))  # the shortest text that reads back to the same float


def newick_string(tree: NewickNode) -> str:
    """The Newick text of ``tree`` (a nested :data:`NewickNode`), ending in ``;``.

    Written without recursion, so a tree as deep as it has leaves (a caterpillar of 442
    languages) does not reach Python's recursion limit."""
    parts: list[str] = []
    # Each stack item is a node to open, or a string to emit once its children are written.
    stack: list[NewickNode | str] = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            parts.append(item)
            continue
        if not isinstance(item, tuple) or len(item) != 3:
            raise LanggeoError(f"Newick: {item!r} is not a (name, length, children) node")
        name, length, children = item
        tail = (_newick_name(name) if name else "") + \
            ("" if length is None else ":" + _newick_length(length))
        if not children:
            if not name:
                raise LanggeoError("Newick: a leaf has no name; name every leaf")
            parts.append(tail)
            continue
        parts.append("(")
        stack.append(")" + tail)
        for k, child in enumerate(reversed(children)):
            stack.append(child)
            if k < len(children) - 1:
                stack.append(",")
    return "".join(parts) + ";"


def write_newick(path: str | os.PathLike[str], tree: NewickNode) -> None:
    """Write ``tree`` as one Newick line (format in the module docstring)."""
    text = newick_string(tree) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def phylip_names(names: Sequence[str], variant: str = "strict") -> list[str]:
    """The names :func:`write_phylip` writes for ``names``, in order: unsafe characters as
    ``_``; for ``strict``, cut to 10 characters and made unique by a numbered suffix."""
    if variant not in ("strict", "relaxed"):
        raise LanggeoError(f"PHYLIP name variant {variant!r} is not known; use 'strict' "
                           "(10-character names) or 'relaxed'")
    clean = [_PHYLIP_UNSAFE.sub("_", str(name)) or "_" for name in names]
    if variant == "relaxed":
        if len(set(clean)) != len(clean):
            raise LanggeoError("PHYLIP: names are not distinct once blanks and ( ) [ ] , ; : "
                               "are written as '_'; pass distinct names")
        return clean
    used: set[str] = set()
    out = []
    for name in clean:
        candidate = name[:PHYLIP_NAME_WIDTH]
        k = 1
        while candidate in used:
            k += 1
            suffix = f"_{k}"
            candidate = name[:PHYLIP_NAME_WIDTH - len(suffix)] + suffix
        used.add(candidate)
        out.append(candidate)
    return out


def write_phylip(path: str | os.PathLike[str], distances: np.ndarray, names: Sequence[str], *,
                 variant: str = "strict", decimals: int = 10) -> list[str]:
    """Write an ``(n, n)`` distance matrix in PHYLIP's square layout (format and the
    ``strict``/``relaxed`` name variants in the module docstring); ``decimals`` digits after
    the point. Returns the n names written, in order."""
    d = _square(distances, names, "PHYLIP")
    written = phylip_names(names, variant)
    width = max(PHYLIP_NAME_WIDTH, *(len(name) for name in written))
    lines = [str(len(written))]
    for name, row in zip(written, d):
        # A strict name fills exactly 10 columns; the blank after it separates the numbers.
        field = name.ljust(PHYLIP_NAME_WIDTH if variant == "strict" else width)
        lines.append(field + " " + " ".join(_number(x, decimals) for x in row))
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return written


def _nexus_label(name: str) -> str:
    if not name:
        raise LanggeoError("NEXUS: a taxon name is empty; name every taxon")
    if _NEXUS_BARE.fullmatch(name):
        return name
    return "'" + name.replace("'", "''") + "'"


def write_nexus(path: str | os.PathLike[str], distances: np.ndarray, names: Sequence[str], *,
                decimals: int = 10, comment: str = "") -> None:
    """Write an ``(n, n)`` distance matrix as NEXUS: a TAXA and a DISTANCES block (format in
    the module docstring), ``decimals`` digits after the point; ``comment`` (optional) goes
    into a ``[...]`` comment under ``#NEXUS``."""
    d = _square(distances, names, "NEXUS")
    labels = [_nexus_label(str(name)) for name in names]
    width = max(len(label) for label in labels)
    n = len(labels)
    lines = ["#NEXUS"]
    if comment:
        lines.append("[" + comment.replace("[", "(").replace("]", ")") + "]")
    lines += ["", "BEGIN TAXA;", f"    DIMENSIONS NTAX={n};", "    TAXLABELS"]
    lines += [f"        {label}" for label in labels]
    lines += ["    ;", "END;", "", "BEGIN DISTANCES;", f"    DIMENSIONS NTAX={n};",
              "    FORMAT TRIANGLE=BOTH DIAGONAL LABELS=LEFT;", "    MATRIX"]
    lines += [f"        {label.ljust(width)} " + " ".join(_number(x, decimals) for x in row)
              for label, row in zip(labels, d)]
    lines += ["    ;", "END;", ""]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines), encoding="utf-8")


def distance_long_table(distances: np.ndarray, codes: Sequence[str], *, measure: str,
                        model: str = "", dataset: str = "", tokens: int | None = None,
                        commit: str = "") -> pd.DataFrame:
    """One row per unordered pair ``i < j`` of an ``(n, n)`` matrix (n(n-1)/2 rows), with the
    columns :data:`LONG_CSV_COLUMNS`; ``value`` is ``distances[i, j]`` (NaN kept: a pair that
    was not measured)."""
    codes = [str(code) for code in codes]
    d = np.asarray(distances, dtype=np.float64)
    if d.ndim != 2 or d.shape != (len(codes), len(codes)):
        raise LanggeoError(f"long CSV ({measure}): the matrix has shape {d.shape} but there are "
                           f"{len(codes)} language codes; pass one code per row")
    if not measure:
        raise LanggeoError("long CSV: name the measure (e.g. 'hamming', 'uriel_genetic')")
    i, j = np.triu_indices(len(codes), k=1)
    return pd.DataFrame({
        "language_a": pd.array([codes[k] for k in i], dtype="string"),
        "language_b": pd.array([codes[k] for k in j], dtype="string"),
        "value": d[i, j],
        "measure": measure, "model": model, "dataset": dataset,
        "tokens": pd.array([tokens] * len(i), dtype="Int64"),
        "commit": commit,
    }, columns=list(LONG_CSV_COLUMNS))


def write_distance_csv(path: str | os.PathLike[str], tables: Sequence[pd.DataFrame]) -> None:
    """Write tables from :func:`distance_long_table` one after the other as one long CSV
    (format in the module docstring)."""
    if not tables:
        raise LanggeoError(f"long CSV {path}: no table to write; pass at least one table from "
                           "distance_long_table")
    for table in tables:
        if list(table.columns) != list(LONG_CSV_COLUMNS):
            raise LanggeoError(f"long CSV {path}: a table has columns {list(table.columns)}, "
                               f"not {list(LONG_CSV_COLUMNS)}; build it with "
                               "distance_long_table")
    frame = pd.concat(list(tables), ignore_index=True)
    with atomic_path(path) as tmp:
        # repr-precision floats: the values read back exactly.
        frame.to_csv(tmp, index=False, float_format="%.17g", encoding="utf-8")
