"""Column factors: the compact, exact form of a signature.

Every score formula factors as ``score[i, j] = f(W[i, j]) · c[j]`` (see
:mod:`langgeo.method.importance`): given the model's weights, the only language-dependent part of a
signature is one factor per input column of every Hessian, shared by the layers that read the
same input. The factors and the weights determine the bits exactly
(:func:`langgeo.method.signature.bits_from_factors`), at a fraction of the size: 72 Hessians and
78,336 factors (313 KB of fp32) against 100,270,080 bits for Gemma 3 270M.

File format (readable with pyarrow alone): one Parquet file per (model, dataset, language),
``<language>.factors.parquet`` beside the signature, one row per Hessian in forward order:

- ``hessian`` (string): the module whose input the Hessian was collected at (the first of
  the modules sharing it to run);
- ``modules`` (list<string>): every module whose scores use these factors, in forward order;
- ``factors`` (list<float32>): ``c``, one per input feature (``in_features`` values).

The schema metadata key ``langgeo_factors`` holds JSON: the signature's metadata (model,
dataset, language, tokens, seq_len, score, binarization, damping, seed, langgeo_version) plus
``model_identity``, the :func:`model_identity` of the weights the bits depend on, and
``n_modules``. ``magnitude`` scores have no language-dependent factor: its files hold ones.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from langgeo import LanggeoError
from langgeo.formats.storage import read_whole

FACTORS_METADATA_KEY = b"langgeo_factors"


FACTORS_SCHEMA = pa.schema([("hessian", pa.string()), ("modules", pa.list_(pa.string())),
                            ("factors", pa.list_(pa.float32()))])


def factors_path(signature_path: str | os.PathLike[str]) -> Path:
    """``<folder>/<language>.factors.parquet`` beside ``<folder>/<language>.parquet``."""
    path = Path(signature_path)
    return path.with_name(f"{path.stem}.factors.parquet")


@dataclass
class Factors:
    """Column factors of one language read back.

    ``factors[hessian]`` is fp32 of shape ``(in_features,)``; ``modules[hessian]`` lists the
    modules that use it; ``leader_of[module]`` is the inverse map.
    """

    metadata: dict
    factors: dict[str, np.ndarray]
    modules: dict[str, list[str]]

    @property
    def leader_of(self) -> dict[str, str]:
        return {m: h for h, ms in self.modules.items() for m in ms}

    @property
    def module_order(self) -> list[str]:
        """Every module in forward order (the order of the signature file's rows)."""
        return list(self.metadata["module_order"])

    @property
    def n_factors(self) -> int:
        return sum(int(c.size) for c in self.factors.values())


def factor_table(factors: Factors) -> pa.Table:
    """Arrow table of :class:`Factors` in the documented format."""
    table = pa.table({
        "hessian": list(factors.factors),
        "modules": [factors.modules[h] for h in factors.factors],
        "factors": [pa.array(c) for c in factors.factors.values()],
    }, schema=FACTORS_SCHEMA)
    return table.replace_schema_metadata(
        {FACTORS_METADATA_KEY: json.dumps(factors.metadata, sort_keys=True)})


def write_factors(path: str | os.PathLike[str], factors: Factors) -> None:
    """Write one language's factor file (format in the module docstring)."""
    # Factors are floats of full entropy: compression would save little and cost time.
    pq.write_table(factor_table(factors), path, compression="none", use_dictionary=False)


def read_factors(path: str | os.PathLike[str]) -> Factors:
    """Load a factor file written by :func:`write_factors`."""
    if not Path(path).is_file():
        raise LanggeoError(f"factor file {path} not found; run `dvc pull` (or `dvc repro`, "
                           "stage signatures) first")
    table = read_whole(path)
    meta = table.schema.metadata or {}
    if table.schema.remove_metadata() != FACTORS_SCHEMA or FACTORS_METADATA_KEY not in meta:
        raise LanggeoError(f"{path} is not a langgeo factor file (columns {table.schema.names})")
    hessian = table.column("hessian").to_pylist()
    column = table.column("factors").combine_chunks()
    values = np.array(column.values.to_numpy(zero_copy_only=False), dtype=np.float32)
    offsets = column.offsets.to_numpy()
    return Factors(json.loads(meta[FACTORS_METADATA_KEY]),
                   {h: values[offsets[i]:offsets[i + 1]] for i, h in enumerate(hessian)},
                   dict(zip(hessian, table.column("modules").to_pylist())))
