"""Hamming distances between signatures, normalized by the number of bits (values in [0, 1])."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from langgeo import LanggeoError
from langgeo.signatures import Signature, read_signature
from langgeo.storage import write_parquet

BLOCK_BYTES = 1 << 20


def pairwise_hamming(rows: np.ndarray, block_bytes: int = BLOCK_BYTES) -> np.ndarray:
    """Bit differences between every pair of packed rows.

    ``rows``: uint8, shape ``(n, n_bytes)``. Returns int64 ``(n, n)``, symmetric, zero
    diagonal. Columns are processed in blocks of ``block_bytes`` so temporary memory stays
    ``O(n · block_bytes)`` whatever the signature length.
    """
    n, n_bytes = rows.shape
    out = np.zeros((n, n), dtype=np.int64)
    for start in range(0, n_bytes, block_bytes):
        block = rows[:, start:start + block_bytes]
        pad = (-block.shape[1]) % 8
        if pad:
            block = np.pad(block, ((0, 0), (0, pad)))
        # Counting bits in 64-bit words is several times faster than byte by byte.
        words = np.ascontiguousarray(block).view(np.uint64)
        for i in range(n - 1):
            diff = np.bitwise_count(np.bitwise_xor(words[i + 1:], words[i])).sum(axis=1,
                                                                                  dtype=np.int64)
            out[i, i + 1:] += diff
    return out + out.T


def signature_distances(signatures: Sequence[Signature]) -> np.ndarray:
    """Normalized Hamming distance matrix ``(n, n)`` (float64) between signatures of one
    (model, dataset), summed module by module so only one module's bits are stacked at once."""
    first = signatures[0]
    for sig in signatures[1:]:
        if sig.modules != first.modules or sig.shapes != first.shapes:
            raise LanggeoError(
                f"signatures of {first.metadata.get('language')} and "
                f"{sig.metadata.get('language')} cover different weight matrices; recompute "
                "them with the same model")
    total = np.zeros((len(signatures), len(signatures)), dtype=np.int64)
    for module in first.modules:
        total += pairwise_hamming(np.stack([s.packed[module] for s in signatures]))
    return total / first.n_bits


def distances_from_files(paths: Sequence[str | os.PathLike[str]]) -> np.ndarray:
    return signature_distances([read_signature(p) for p in paths])


def write_matrix(path: str | os.PathLike[str], codes: Sequence[str], matrix: np.ndarray) -> None:
    """A square matrix as Parquet: column ``language`` then one float column per language."""
    columns = {"language": pa.array(list(codes), pa.string())}
    columns.update({c: pa.array(matrix[:, j], pa.float64()) for j, c in enumerate(codes)})
    write_parquet(pa.table(columns), path)


def read_matrix(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray]:
    if not os.path.isfile(path):
        raise LanggeoError(f"distance matrix {path} not found; run `dvc repro` (stage "
                           "distances) first")
    frame = pd.read_parquet(path)
    codes = frame["language"].tolist()
    return codes, frame[codes].to_numpy(dtype=np.float64)
