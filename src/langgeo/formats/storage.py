"""Atomic writes: an output either appears whole or not at all."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from langgeo import LanggeoError


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling path; rename it onto ``final`` only if the block succeeds.

    Works for files and directories. The temporary lives in the same folder so the rename
    is atomic on POSIX; on failure it is removed and ``final`` is left untouched.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    target = tmp / final.name
    try:
        yield target
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        os.replace(target, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


#: Written into every folder a command creates at a path the user may choose (``langgeo
#: place --out``, ``langgeo prune --out``, a preset's reports): a later run replaces such a
#: folder, and no other, so a user's own folder is never emptied.
OUTPUT_MARKER = ".langgeo-output"


def check_output_folder(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` as a folder that a command may (re)write: absent, an empty folder, or a
    folder that holds :data:`OUTPUT_MARKER` (one langgeo wrote). Anything else raises, naming
    the folder, before any work is done. ``what``: the command, for the message."""
    path = Path(path)
    if path.is_symlink() or path.exists() and not path.is_dir():
        raise LanggeoError(f"{what}: output {path} exists and is not a folder; name a new "
                           "folder (it is created)")
    if path.is_dir() and any(path.iterdir()) and not (path / OUTPUT_MARKER).is_file():
        raise LanggeoError(f"{what}: output folder {path} already holds files that langgeo did "
                           "not write; name a new or empty folder (langgeo replaces only "
                           f"folders it wrote, marked by {OUTPUT_MARKER})")
    return path


@contextlib.contextmanager
def output_folder(final: str | os.PathLike[str], what: str) -> Iterator[Path]:
    """:func:`atomic_path` for a folder at a user-chosen path: refuses a folder that
    :func:`check_output_folder` refuses, and marks the folder it writes as its own."""
    final = check_output_folder(final, what)
    with atomic_path(final) as tmp:
        yield tmp
        (tmp / OUTPUT_MARKER).write_text("written by langgeo; a later run may replace this "
                                         "folder\n")


def write_parquet(table: pa.Table, path: str | os.PathLike[str]) -> None:
    """Write a table atomically."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def write_json(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write JSON atomically (sorted keys, so equal content gives equal bytes)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_whole(path: str | os.PathLike[str]) -> pa.Table:
    """Every column of one Parquet file, with its schema metadata. ``ParquetFile.read``
    skips the dataset layer of ``pq.read_table``: half the time on a signature file."""
    return pq.ParquetFile(path).read()


def parquet_problem(path: str | os.PathLike[str], full: bool = False) -> str | None:
    """Why ``path`` is not a readable Parquet file (missing, truncated, not Parquet), or None.

    ``full`` decodes every page (for small files: catches damage inside the data too);
    otherwise only the footer is read, which any truncation breaks.
    """
    path = Path(path)
    if not path.is_file():
        return "missing"
    try:
        file = pq.ParquetFile(path)
        if full:
            file.read()
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return f"not a readable Parquet file ({first})"
    return None


def check_parquet_files(paths: list[Path], fix: str, full: bool = False) -> None:
    """Raise one LanggeoError naming every unreadable file of ``paths`` and ``fix``."""
    bad = [(p, why) for p in paths if (why := parquet_problem(p, full))]
    if bad:
        listed = "; ".join(f"{p}: {why}" for p, why in bad)
        raise LanggeoError(f"{len(bad)} damaged or missing input file(s): {listed}. {fix}")
