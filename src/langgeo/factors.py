"""Column factors: the compact, exact form of a signature.

Every score formula factors as ``score[i, j] = f(W[i, j]) · c[j]`` (see
:mod:`langgeo.importance`): given the model's weights, the only language-dependent part of a
signature is one factor per input column of every Hessian, shared by the layers that read the
same input. The factors and the weights determine the bits exactly
(:func:`langgeo.signatures.bits_from_factors`), at a fraction of the size: 72 Hessians and
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

import hashlib
import json
import os
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from langgeo import LanggeoError
from langgeo.storage import read_whole

FACTORS_METADATA_KEY = b"langgeo_factors"
FACTORS_SCHEMA = pa.schema([("hessian", pa.string()), ("modules", pa.list_(pa.string())),
                            ("factors", pa.list_(pa.float32()))])


def factors_path(signature_path: str | os.PathLike[str]) -> Path:
    """``<folder>/<language>.factors.parquet`` beside ``<folder>/<language>.parquet``."""
    path = Path(signature_path)
    return path.with_name(f"{path.stem}.factors.parquet")


def iter_block_weights(model_or_weights: Any) -> Iterator[tuple[str, np.ndarray]]:
    """(module name, fp32 ``(out, in)`` numpy weight) of every block linear layer, in forward
    order, one at a time (a model's weights are converted as they are reached)."""
    from langgeo.signatures import as_numpy

    if hasattr(model_or_weights, "named_modules"):
        from langgeo.calibration import block_linears, linear_weight

        for name, m in block_linears(model_or_weights).items():
            yield name, as_numpy(linear_weight(m).detach().float())
    else:
        for name, w in model_or_weights.items():
            yield name, np.asarray(as_numpy(w), dtype=np.float32)


def block_weights(model_or_weights: Any) -> dict[str, np.ndarray]:
    """:func:`iter_block_weights` as a dict."""
    return dict(iter_block_weights(model_or_weights))


# A model's identity is costly (it reads every weight) and asked for once per language:
# remembered per module object for as long as its weights are neither replaced nor changed in
# place (torch bumps a tensor's _version on every in-place write).
_IDENTITIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _weight_state(model: Any) -> tuple:
    from langgeo.calibration import block_linears, linear_weight

    return tuple((name, linear_weight(m).data_ptr(), m.weight._version)
                 for name, m in block_linears(model).items())


def model_identity(model_or_weights: Any) -> str:
    """``sha256:<hex>`` of the weights a signature depends on: every block linear layer's
    name, shape and fp32 values (row-major, little-endian), in forward order.

    ``model_or_weights``: a transformers model, or a mapping module name -> weight
    ``(out, in)`` (numpy or torch). Loading the same weights in another dtype (bfloat16) gives
    another identity, as it gives other bits.
    """
    is_model = hasattr(model_or_weights, "named_modules")
    if is_model:
        cached = _IDENTITIES.get(model_or_weights)
        state = _weight_state(model_or_weights)
        if cached is not None and cached[0] == state:
            return cached[1]
    digest = hashlib.sha256()
    for name, w in iter_block_weights(model_or_weights):
        w = np.ascontiguousarray(w, dtype="<f4")
        digest.update(json.dumps([name, list(w.shape)]).encode())
        digest.update(memoryview(w).cast("B"))
    identity = f"sha256:{digest.hexdigest()}"
    if is_model:
        _IDENTITIES[model_or_weights] = (state, identity)
    return identity


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


def factors_of_layers(factors: Mapping[str, Any], leader_of: Mapping[str, str],
                      metadata: dict) -> Factors:
    """:class:`Factors` from a calibration pass. ``factors``: Hessian name -> ``(in,)``
    factors (numpy or torch), from :func:`langgeo.importance.layer_factors`; ``leader_of``:
    module name -> Hessian name, in forward order."""
    from langgeo.signatures import as_numpy

    modules: dict[str, list[str]] = {h: [] for h in factors}
    for module, leader in leader_of.items():
        if leader not in modules:
            raise LanggeoError(f"module {module} uses Hessian {leader}, which has no factors")
        modules[leader].append(module)
    meta = {**metadata, "n_modules": len(leader_of), "module_order": list(leader_of)}
    return Factors(meta, {h: np.asarray(as_numpy(c), dtype=np.float32) for h, c in factors.items()},
                   modules)


def factor_table(factors: Factors) -> pa.Table:
    """Arrow table of :class:`Factors` in the documented format."""
    table = pa.table({
        "hessian": list(factors.factors),
        "modules": [factors.modules[h] for h in factors.factors],
        "factors": [pa.array(c) for c in factors.factors.values()],
    }, schema=FACTORS_SCHEMA)
    return table.replace_schema_metadata(
        {FACTORS_METADATA_KEY: json.dumps(factors.metadata, sort_keys=True)})


def write_factors(path: str | os.PathLike[str], model: Any, hessians: Any, score: str,
                  damping: float, metadata: dict) -> None:
    """Write one language's factor file (format in the module docstring).

    ``hessians``: the :class:`langgeo.calibration.Hessians` of that language; the factors are
    the ones :func:`langgeo.importance.layer_scores` computed from it (cached on it, so this
    costs no second factorization). ``metadata``: the signature's metadata.
    """
    from langgeo.importance import layer_factors

    factors = factors_of_layers(layer_factors(model, hessians, score, damping),
                                hessians.leader_of,
                                {**metadata, "model_identity": model_identity(model)})
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
