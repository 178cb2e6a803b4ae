"""The signature file: one bit per weight of the blocks' linear layers, readable with pyarrow alone.

One Parquet file per (model, dataset, language), one row per weight matrix with columns
``module`` (string), ``shape`` (list<int64>), ``n_bits`` (int64) and ``bits`` (binary: the
row-major flattened mask, ``numpy.packbits`` big-endian, zero padded to whole bytes). The
schema metadata key ``langgeo`` holds JSON with model, dataset, language, tokens, score,
binarization, damping, seed, seq_len and version.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from langgeo import LanggeoError, __version__
from langgeo.formats.storage import parquet_problem, read_whole
from langgeo.params import Params


@dataclass(frozen=True)
class SignatureSettings:
    """The params that affect a signature's bits (``batch_size`` too: fp32 sums depend on
    how the tokens are batched)."""

    tokens_per_language: int
    seq_len: int
    score: str
    binarization: str
    damping: float
    batch_size: int
    device: str
    dtype: str
    keep_scores: int
    seed: int
    store_bits: bool = True
    hessian_dtype: str = "float32"

    @classmethod
    def from_params(cls, params: Params, dataset: str) -> SignatureSettings:
        """The settings of ``dataset``'s signatures (its own calibration tokens)."""
        sig, cal = params.signatures, params.calibration
        return cls(params.tokens(dataset), cal.seq_len, sig.score, sig.binarization,
                   sig.damping, sig.batch_size, sig.device, sig.dtype, sig.keep_scores,
                   params.seed, sig.store_bits, sig.hessian_dtype)

    def record(self) -> dict[str, Any]:
        """The settings as a job's fingerprint hashes them. A setting added after files were
        written enters only where it differs from what those files were computed with (its
        default), so that adding a setting does not recompute finished work."""
        record = asdict(self)
        for name, before in _ADDED_LATER.items():
            if record[name] == before:
                del record[name]
        return record


#: Settings added after signatures were first written, with the behaviour before them.
_ADDED_LATER = {"hessian_dtype": "float32"}


def signature_metadata(settings: SignatureSettings, model: str, dataset: str,
                       language: str) -> dict[str, Any]:
    """The settings a signature file records (the module docstring); a distance
    mixes only files whose records agree."""
    record = {"model": model, "dataset": dataset, "language": language,
              "tokens": settings.tokens_per_language, "seq_len": settings.seq_len,
              "score": settings.score, "binarization": settings.binarization,
              "damping": settings.damping, "seed": settings.seed,
              "langgeo_version": __version__}
    if settings.hessian_dtype != _ADDED_LATER["hessian_dtype"]:
        record["hessian_dtype"] = settings.hessian_dtype
    return record



METADATA_KEY = b"langgeo"


SCHEMA = pa.schema([("module", pa.string()), ("shape", pa.list_(pa.int64())),
                    ("n_bits", pa.int64()), ("bits", pa.binary())])


def signature_table(bits: dict[str, np.ndarray], metadata: dict) -> pa.Table:
    """Arrow table of a signature in the documented file format."""
    table = pa.table({
        "module": list(bits),
        "shape": [list(b.shape) for b in bits.values()],
        "n_bits": [int(b.size) for b in bits.values()],
        "bits": [np.packbits(b.reshape(-1)).tobytes() for b in bits.values()],
    }, schema=SCHEMA)
    return table.replace_schema_metadata({METADATA_KEY: json.dumps(metadata, sort_keys=True)})


def write_signature(path: str | os.PathLike[str], bits: dict[str, np.ndarray],
                    metadata: dict) -> None:
    # Packed bits are incompressible, so no compression. One row group per matrix and no
    # dictionary page let a reader stream one matrix at a time (bounded memory for
    # billion-bit signatures) instead of decoding the whole file.
    pq.write_table(signature_table(bits, metadata), path, compression="none",
                   row_group_size=1, use_dictionary=False)


@dataclass
class Signature:
    """A signature read back: ``packed[module]`` is uint8 of length ``ceil(n_bits / 8)``."""

    metadata: dict
    modules: list[str]
    shapes: dict[str, tuple[int, ...]]
    packed: dict[str, np.ndarray]

    @property
    def n_bits(self) -> int:
        return sum(int(np.prod(s)) for s in self.shapes.values())

    def bits(self, module: str) -> np.ndarray:
        """The bool mask of one module, in its weight's shape."""
        shape = self.shapes[module]
        n = int(np.prod(shape))
        return np.unpackbits(self.packed[module], count=n).astype(bool).reshape(shape)


def read_signature(path: str | os.PathLike[str]) -> Signature:
    """Load a signature file written by :func:`write_signature`."""
    if not Path(path).is_file():
        raise LanggeoError(f"signature file {path} not found; run `dvc repro` (stage "
                           "signatures) first")
    table = read_whole(path)
    if table.schema.remove_metadata() != SCHEMA or METADATA_KEY not in (table.schema.metadata
                                                                          or {}):
        raise LanggeoError(f"{path} is not a langgeo signature file (columns {table.schema.names})")
    metadata = json.loads(table.schema.metadata[METADATA_KEY])
    modules = table.column("module").to_pylist()
    shapes = {m: tuple(s) for m, s in zip(modules, table.column("shape").to_pylist())}
    packed = dict(zip(modules, binary_views(table.column("bits"))))
    return Signature(metadata, modules, shapes, packed)


def binary_views(column: pa.ChunkedArray) -> list[np.ndarray]:
    """Every value of a ``binary`` column (int32 offsets, as in :data:`SCHEMA`) as a
    read-only uint8 view of its Arrow buffer: a Python bytes copy of each (``to_pylist``) or
    a scalar's ``as_buffer()`` copies the value, which cost more than reading the file."""
    values = []
    for chunk in column.chunks:
        _, offsets, data = chunk.buffers()
        ends = np.frombuffer(offsets, dtype=np.int32)[chunk.offset:chunk.offset + len(chunk) + 1]
        data = np.frombuffer(data, dtype=np.uint8)
        values += [data[a:b] for a, b in zip(ends[:-1], ends[1:])]
    return values


def list_signatures(folder: str | os.PathLike[str]) -> pd.DataFrame:
    """One row per signature file below ``folder``: path plus its metadata fields."""
    rows = []
    for path in sorted(Path(folder).rglob("*.parquet")):
        meta = pq.read_schema(path).metadata or {}
        if METADATA_KEY in meta:
            rows.append({"path": str(path), **json.loads(meta[METADATA_KEY])})
    return pd.DataFrame(rows)


def check_signature_files(paths: list[Path], expected: list[Mapping[str, Any]], fix: str,
                          key: bytes | str = METADATA_KEY, what: str = "signature") -> None:
    """Check, before any distance is computed, that every file of ``paths`` is a readable
    langgeo file of kind ``what`` (signature, score sample, factors: its schema metadata
    holds ``key``) whose metadata agrees with ``expected`` (one mapping of field -> value
    per path). Raises one LanggeoError naming each bad file (and the differing fields),
    followed by ``fix``."""
    problems = []
    for path, want in zip(paths, expected):
        why = parquet_problem(path)
        if why is None:
            meta = pq.read_schema(path).metadata or {}
            if key not in meta:
                why = f"not a langgeo {what} file"
            else:
                got = json.loads(meta[key])
                differ = [f"{k} {got.get(k)!r} (expected {v!r})" for k, v in want.items()
                          if got.get(k) != v]
                if differ:
                    why = f"computed with other settings: {', '.join(differ)}"
        if why is not None:
            problems.append(f"{path}: {why}")
    if problems:
        raise LanggeoError(f"{len(problems)} {what} file(s) cannot be used: "
                           f"{'; '.join(problems)}. {fix}")
