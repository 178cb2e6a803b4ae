"""Matrix files: distances between languages and their latent vectors, readable with pyarrow alone.

One Parquet file, one row per language: column ``language`` (string) and one float column per
language, in the same order (``data/distances/<model>/<dataset>.parquet``,
``ensemble.parquet``; ``coverage.parquet`` holds int64 counts: how many (model, dataset)
pairs hold each pair of languages, the diagonal each language). Latent vectors (classical MDS,
the embed stage) are one row per language too: ``language``, then ``mds_1`` .. ``mds_k``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from langgeo import LanggeoError
from langgeo.formats.storage import atomic_path, check_parquet_files, write_parquet


def write_matrix(path: str | os.PathLike[str], codes: Sequence[str], matrix: np.ndarray,
                 dtype: pa.DataType = pa.float64()) -> None:
    """A square ``(n, n)`` matrix as Parquet: column ``language`` then one column of ``dtype``
    per language (float64 distances; int64 for the coverage counts)."""
    columns = {"language": pa.array(list(codes), pa.string())}
    columns.update({c: pa.array(matrix[:, j], dtype) for j, c in enumerate(codes)})
    write_parquet(pa.table(columns), path)


def read_matrix(path: str | os.PathLike[str],
                fix: str = "Restore it with `dvc checkout data/distances` or re-run its stage: "
                           "`dvc repro -f -s distances`") -> tuple[list[str], np.ndarray]:
    """The codes ``(n,)`` and float64 ``(n, n)`` matrix of a file from :func:`write_matrix`.

    A damaged file, or one without the column ``language`` and a column per code, raises a
    LanggeoError naming it, followed by ``fix`` (how to restore it)."""
    if not os.path.isfile(path):
        raise LanggeoError(f"distance matrix {path} not found; run `dvc repro` (stage "
                           "distances) first")
    check_parquet_files([path], fix)
    frame = pd.read_parquet(path)
    codes = frame["language"].astype(str).tolist() if "language" in frame else []
    if not codes or sorted(frame.columns) != sorted(["language", *codes]):
        raise LanggeoError(f"{path} is not a distance matrix (a column 'language', then one "
                           f"column per language it lists). {fix}")
    return codes, frame[codes].to_numpy(dtype=np.float64)


def write_latent(path: str | os.PathLike[str], codes: Sequence[str], coords: np.ndarray) -> None:
    """Latent vectors ``(n, k)`` as Parquet: column ``language``, then ``mds_1`` .. ``mds_k``."""
    latent = pd.DataFrame(coords, columns=[f"mds_{i + 1}" for i in range(coords.shape[1])])
    latent.insert(0, "language", list(codes))
    with atomic_path(path) as tmp:
        latent.to_parquet(tmp, index=False)


def read_latent(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray]:
    """The codes ``(n,)`` and float64 ``(n, k)`` coordinates of a file from :func:`write_latent`."""
    if not os.path.isfile(path):
        raise LanggeoError(f"latent vectors {path} not found; run `dvc repro` (stage embed) "
                           "first")
    check_parquet_files([path], "Restore it with `dvc checkout data/embedding` or re-run its "
                                "stage: `dvc repro -f -s embed`")
    frame = pd.read_parquet(path)
    return (frame["language"].astype(str).tolist(),
            frame.drop(columns="language").to_numpy(dtype=np.float64))
