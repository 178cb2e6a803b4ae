"""A language's signature: one bit per weight of the blocks' linear layers.

Binarization at the median keeps exactly half the bits of each matrix (``per_matrix``) or of
all matrices together (``global``) set to 1: the ``n // 2`` highest scores. Scores tied at the
threshold are broken by the lower row-major flat index, so the result is deterministic and
the count exact even when many scores are equal (e.g. zeros from dead input features).

File format (readable with pyarrow alone): one Parquet file per (model, dataset, language),
one row per weight matrix with columns ``module`` (string), ``shape`` (list<int64>),
``n_bits`` (int64) and ``bits`` (binary: the row-major flattened mask, ``numpy.packbits``
big-endian, zero padded to whole bytes). The schema metadata key ``langgeo`` holds JSON with
model, dataset, language, tokens, score, binarization, damping, seed, seq_len and version.

Optionally (``signatures.keep_scores`` > 0) the raw scores of a seeded sample of weights are
kept beside it as ``<language>.scores.parquet``, for distances on continuous scores (the
binarization ablation): columns ``module_index`` (int32, row of the signature file),
``position`` (int64, flat index over all weights in module order) and ``score`` (float32). The
positions depend only on the seed and the model, so they are the same for every language.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from langgeo import LanggeoError, usable_cores
from langgeo.storage import parquet_problem, read_whole

METADATA_KEY = b"langgeo"
SCORES_METADATA_KEY = b"langgeo_scores"
SCHEMA = pa.schema([("module", pa.string()), ("shape", pa.list_(pa.int64())),
                    ("n_bits", pa.int64()), ("bits", pa.binary())])


def as_numpy(scores: Any) -> np.ndarray:
    """A numpy view of a numpy array or a torch tensor on any device (copied to the host).

    Duck-typed so that this module, which readers of signature files import, does not pull
    in torch.
    """
    if hasattr(scores, "detach"):
        return scores.detach().cpu().numpy()
    return np.asarray(scores)


def top_half(scores: Any) -> np.ndarray:
    """Boolean mask of ``scores.shape`` with exactly ``size // 2`` ones: the highest scores,
    ties at the threshold going to the lower flat index. ``scores``: numpy array or torch
    tensor."""
    scores = as_numpy(scores)
    flat = scores.reshape(-1)
    n = flat.size
    k = n // 2
    if k == 0:
        return np.zeros(scores.shape, dtype=bool)
    # np.partition selects in linear time, several times faster than torch.kthvalue here.
    threshold = np.partition(flat, n - k)[n - k]
    mask = flat > threshold
    short = k - int(np.count_nonzero(mask))
    if short > 0:
        mask[np.flatnonzero(flat == threshold)[:short]] = True
    return mask.reshape(scores.shape)


def binarize(scores: Mapping[str, Any], binarization: str) -> dict[str, np.ndarray]:
    """Bit masks (bool numpy arrays, shapes of the scores) under the chosen median rule."""
    if binarization == "per_matrix":
        # np.partition is single-threaded but releases the GIL: one matrix per core halves
        # the time on two cores.
        with ThreadPoolExecutor(max_workers=usable_cores()) as pool:
            return dict(zip(scores, pool.map(top_half, scores.values())))
    if binarization == "global":
        arrays = {name: as_numpy(s) for name, s in scores.items()}
        mask = top_half(np.concatenate([a.reshape(-1) for a in arrays.values()]))
        out, start = {}, 0
        for name, a in arrays.items():
            out[name] = mask[start:start + a.size].reshape(a.shape)
            start += a.size
        return out
    raise LanggeoError(f"unknown binarization {binarization!r}")


def bits_from_factors(model_or_weights: Any, factors: Any,
                      binarization: str | None = None,
                      check_identity: bool = True) -> dict[str, np.ndarray]:
    """A signature's bits rebuilt from its column factors and the model's weights, exactly
    as the signature stage computed them (same scores, median rule and tie-breaking).

    Parameters
    ----------
    model_or_weights : the transformers model, or a mapping module name -> weight
        ``(out, in)`` (numpy or torch) of every block linear layer.
    factors : a :class:`langgeo.factors.Factors` (``read_factors``) or a path to a factor file.
    binarization : ``per_matrix`` or ``global``; default: the one in the file's metadata.
    check_identity : refuse weights whose :func:`langgeo.factors.model_identity` differs from
        the one the factors were computed with (they would give other bits).

    Returns
    -------
    Module name -> bool mask of the weight's shape ``(out, in)``, in forward order.
    """
    import torch

    from langgeo.factors import Factors, block_weights, model_identity, read_factors
    from langgeo.importance import importance

    if not isinstance(factors, Factors):
        factors = read_factors(factors)
    meta = factors.metadata
    if check_identity and model_identity(model_or_weights) != meta["model_identity"]:
        raise LanggeoError(f"these weights are not the ones the factors of "
                           f"{meta.get('model')!r}/{meta.get('language')!r} were computed with "
                           f"(identity {model_identity(model_or_weights)} against "
                           f"{meta['model_identity']}); load model {meta.get('model')!r} as the "
                           "signature stage did (same folder and dtype)")
    weights = block_weights(model_or_weights)
    leader_of = factors.leader_of
    missing = [m for m in factors.module_order if m not in weights]
    if missing or len(weights) != len(leader_of):
        raise LanggeoError(f"the weights hold modules {sorted(set(weights) - set(leader_of))[:3]} "
                           f"the factors lack, or lack {missing[:3]}")
    # importance() is the signature stage's own scoring code, so the scores match bit for bit.
    scores = {m: importance(torch.from_numpy(weights[m]),
                            torch.from_numpy(factors.factors[leader_of[m]]), meta["score"])
              for m in factors.module_order}
    return binarize(scores, binarization or meta["binarization"])


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


def sample_positions(sizes: list[int], n: int, seed: int) -> np.ndarray:
    """``min(n, sum(sizes))`` distinct flat weight indices, sorted, from ``seed`` alone."""
    total = int(sum(sizes))
    rng = np.random.default_rng([seed, 0x5C0E5])
    return np.sort(rng.choice(total, size=min(n, total), replace=False))


def write_scores(path: str | os.PathLike[str], scores: Mapping[str, Any], n: int,
                 seed: int, metadata: dict) -> None:
    """Keep the raw scores of ``n`` seeded weight positions (format in the module docstring)."""
    arrays = [as_numpy(s).reshape(-1) for s in scores.values()]
    sizes = [a.size for a in arrays]
    positions = sample_positions(sizes, n, seed)
    bounds = np.cumsum([0] + sizes)
    module_index = np.searchsorted(bounds, positions, side="right") - 1
    values = np.empty(len(positions), dtype=np.float32)
    for i, flat in enumerate(arrays):
        take = module_index == i
        values[take] = flat[positions[take] - bounds[i]]
    table = pa.table({"module_index": module_index.astype(np.int32), "position": positions,
                      "score": values})
    meta = {**metadata, "modules": list(scores)}
    pq.write_table(table.replace_schema_metadata(
        {SCORES_METADATA_KEY: json.dumps(meta, sort_keys=True)}), path)


def read_scores(path: str | os.PathLike[str]) -> tuple[dict, pd.DataFrame]:
    """Metadata (with the module names) and the table of a ``<language>.scores.parquet``."""
    if not Path(path).is_file():
        raise LanggeoError(f"score sample {path} not found; set signatures.keep_scores > 0 "
                           "and run `dvc repro`")
    table = read_whole(path)
    meta = table.schema.metadata or {}
    if SCORES_METADATA_KEY not in meta:
        raise LanggeoError(f"{path} is not a langgeo score sample")
    return json.loads(meta[SCORES_METADATA_KEY]), table.to_pandas()


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
