"""The score sample file: raw scores of a seeded sample of weights, for continuous distances.

Optionally (``signatures.keep_scores`` > 0) kept beside a signature as
``<language>.scores.parquet`` (the binarization ablation): columns ``module_index`` (int32, row
of the signature file), ``position`` (int64, flat index over all weights in module order) and
``score`` (float32). The positions depend only on the seed and the model, so they are the same
for every language.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from langgeo import LanggeoError
from langgeo._util import as_numpy
from langgeo.formats.storage import read_whole

SCORES_METADATA_KEY = b"langgeo_scores"


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
