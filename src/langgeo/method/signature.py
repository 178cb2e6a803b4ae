"""A language's signature, from text to bits: the method of *Deep Language Geometry* in one call.

:func:`compute` runs the four steps of the paper on one text (one language) and one model:

1. **Pack** the text into ``tokens // seq_len`` sequences of ``[BOS] + (seq_len - 1)`` tokens
   (:func:`langgeo.data.shards.pack_sequences`).
2. **Hessians**: one forward pass collects ``H = XᵀX / n`` for the input ``X`` of every
   linear layer inside the transformer blocks (:mod:`langgeo.method.hessians`; layers that
   read the same input share one).
3. **Importance** of every weight, SparseGPT's ``W²ᵢⱼ / [U]²ⱼⱼ`` with ``U`` the upper Cholesky
   factor of ``(H + λI)⁻¹`` (:mod:`langgeo.method.importance`). Every score is
   ``f(Wᵢⱼ) · cⱼ``: one *column factor* ``cⱼ`` per input feature carries all that depends on
   the language.
4. **Binarize** at the median: the highest-scoring half of each matrix's weights are 1
   (:mod:`langgeo.method.binarize`). The bits are the language's signature; distances between
   signatures are normalized Hamming distances (:mod:`langgeo.geometry.hamming`).

The signature stage, the synthetic check and placing a new text all call :func:`compute`, so
a text gets the same bits whichever of them computes it. The column factors and the weights
determine the bits exactly (:func:`bits_from_factors`), which is what the factor files store.
"""

from __future__ import annotations

import hashlib
import json
import os
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from langgeo import LanggeoError
from langgeo._util import as_numpy
from langgeo.data.shards import document_tokens, pack_sequences, text_tokens_needed
from langgeo.formats.factor_file import Factors, read_factors
from langgeo.geometry.hamming import (
    BLOCK_BYTES,
    GroupBy,
    HammingCounts,
    hamming_counts,
    module_groups,
)
from langgeo.method.anatomy import block_linears, block_weights, iter_block_weights, linear_weight
from langgeo.method.binarize import binarize
from langgeo.method.hessians import collect_hessians, gram_sums, hessians_from_sums
from langgeo.method.importance import importance, layer_factors, layer_scores


@dataclass
class TextSignature:
    """One text's signature for one model.

    ``factors``: the column factors (:class:`langgeo.formats.factor_file.Factors`, with the
    metadata given to :func:`compute`); ``bits``: module -> bool mask ``(out, in)``, or None
    when not asked for; ``scores``: module -> fp32 scores ``(out, in)``, or None when not asked
    for; ``tokens``: calibration tokens used (``sequences × seq_len``).
    """

    factors: Factors
    bits: dict[str, np.ndarray] | None
    tokens: int
    scores: dict[str, torch.Tensor] | None = None


def compute(model: Any, tokenizer: Any, documents: Sequence[str], tokens: int, seq_len: int,
            score: str = "sparsegpt", binarization: str = "per_matrix", damping: float = 0.01,
            batch_size: int = 2, *, hessian_dtype: str = "float32", bits: bool = True,
            scores: bool = False, metadata: Mapping[str, Any] | None = None,
            name: str = "text") -> TextSignature:
    """The signature of ``documents`` (one language's text, read in order) under ``model``.

    Parameters
    ----------
    model, tokenizer : from :func:`langgeo.method.models.load_model` / ``load_tokenizer``.
    documents : the text, each document followed by a newline when packed; the first ones
        that give ``tokens`` tokens are used.
    tokens : calibration tokens, a multiple of ``seq_len`` (``calibration.tokens_per_language``).
    score, binarization, damping, batch_size, hessian_dtype : as in ``params.yaml``
        ``signatures``; ``batch_size`` is part of the result's bits (fp32 sums follow the
        batching), ``hessian_dtype`` the dtype of each batch's XᵀX product.
    bits : also binarize (the bits follow from the factors; skip them when only factor
        distances are needed). ``scores``: also return the raw scores.
    metadata : recorded in the factors' metadata, with the settings and the model identity.
    name : what to call the text in error messages.
    """
    return compute_sizes(model, tokenizer, documents, [tokens], seq_len, score, binarization,
                         damping, batch_size, hessian_dtype=hessian_dtype, bits=bits,
                         scores=scores, metadata=metadata, name=name)[tokens]


def compute_sizes(model: Any, tokenizer: Any, documents: Sequence[str], tokens: Sequence[int],
                  seq_len: int, score: str = "sparsegpt", binarization: str = "per_matrix",
                  damping: float = 0.01, batch_size: int = 2, *, hessian_dtype: str = "float32",
                  bits: bool = True, scores: bool = False,
                  metadata: Mapping[str, Any] | None = None,
                  name: str = "text") -> dict[int, TextSignature]:
    """:func:`compute` at several calibration sizes (e.g. one per dataset), keyed by size,
    from one pass over the longest where that gives the same bits.

    A size's sequences are the first ones of the longest size's (sequences are packed in
    text order), and when their count is a multiple of ``batch_size`` so are its batches:
    its Hessians are then the running sums after those batches, bit for bit those of a pass
    of their own (:func:`langgeo.method.hessians.gram_sums`). A size whose batches would
    differ gets a pass of its own.
    """
    if not tokens:
        raise LanggeoError(f"{name}: no calibration size given (tokens is empty)")
    longest = max(tokens)
    need = text_tokens_needed(longest, seq_len, tokenizer.bos_token_id is not None)
    have = sum(len(ids) for ids in document_tokens(tokenizer, documents))
    if have < need:
        raise LanggeoError(f"{name}: {have} text tokens, fewer than the {need} needed for "
                           f"calibration.tokens_per_language={longest} (seq_len {seq_len}); "
                           "give more text")
    ids = pack_sequences(tokenizer, documents, longest, seq_len)
    identity = model_identity(model)
    gram = getattr(torch, hessian_dtype)
    result: dict[int, TextSignature] = {}
    sums, done = None, 0  # running sums over the first `done` sequences
    for size in sorted(set(tokens)):
        rows = size // seq_len
        try:
            if rows % batch_size and size != longest:
                hessians = collect_hessians(model, ids[:rows].split(batch_size), gram)
            else:
                sums = gram_sums(model, ids[done:rows].split(batch_size), start=sums,
                                 dtype=gram)
                done = rows
                hessians = hessians_from_sums(sums)
            factors = layer_factors(model, hessians, score, damping)
            raw = layer_scores(model, hessians, score, damping) if bits or scores else None
        except LanggeoError as exc:
            raise LanggeoError(f"{name}: {exc}") from exc
        meta = {**(metadata or {}), "tokens": rows * seq_len, "seq_len": seq_len,
                "score": score, "binarization": binarization, "damping": damping,
                "model_identity": identity}
        if hessian_dtype != "float32":  # recorded only where it differs from before it existed
            meta["hessian_dtype"] = hessian_dtype
        result[size] = TextSignature(factors_of_layers(factors, hessians.leader_of, meta),
                                     binarize(raw, binarization) if bits else None,
                                     rows * seq_len, raw if scores else None)
    return result


# A model's identity is costly (it reads every weight) and asked for once per language:
# remembered per module object for as long as its weights are neither replaced nor changed in
# place (torch bumps a tensor's _version on every in-place write).
_IDENTITIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _weight_state(model: Any) -> tuple:
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


def factors_of_layers(factors: Mapping[str, Any], leader_of: Mapping[str, str],
                      metadata: dict) -> Factors:
    """:class:`Factors` from a calibration pass. ``factors``: Hessian name -> ``(in,)``
    factors (numpy or torch), from :func:`langgeo.method.importance.layer_factors`; ``leader_of``:
    module name -> Hessian name, in forward order."""
    modules: dict[str, list[str]] = {h: [] for h in factors}
    for module, leader in leader_of.items():
        if leader not in modules:
            raise LanggeoError(f"module {module} uses Hessian {leader}, which has no factors")
        modules[leader].append(module)
    meta = {**metadata, "n_modules": len(leader_of), "module_order": list(leader_of)}
    return Factors(meta, {h: np.asarray(as_numpy(c), dtype=np.float32) for h, c in factors.items()},
                   modules)


def bits_from_factors(model_or_weights: Any, factors: Any,
                      binarization: str | None = None,
                      check_identity: bool = True) -> dict[str, np.ndarray]:
    """A signature's bits rebuilt from its column factors and the model's weights, exactly
    as the signature stage computed them (same scores, median rule and tie-breaking).

    Parameters
    ----------
    model_or_weights : the transformers model, or a mapping module name -> weight
        ``(out, in)`` (numpy or torch) of every block linear layer.
    factors : a :class:`langgeo.formats.factor_file.Factors` (``read_factors``) or a path to a
        factor file.
    binarization : ``per_matrix`` or ``global``; default: the one in the file's metadata.
    check_identity : refuse weights whose :func:`model_identity` differs from
        the one the factors were computed with (they would give other bits).

    Returns
    -------
    Module name -> bool mask of the weight's shape ``(out, in)``, in forward order.
    """
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


def hamming_from_factor_files(paths: Sequence[str | os.PathLike[str]], model_or_weights,
                              group_by: GroupBy | None = module_groups,
                              block_bytes: int = BLOCK_BYTES,
                              threads: int | None = None) -> HammingCounts:
    """:func:`langgeo.geometry.hamming.hamming_from_files` for signatures stored as factor files
    alone (``signatures.store_bits: false``).

    Each language's bits are rebuilt exactly from its factor file and the model's weights
    (:func:`bits_from_factors`, which refuses weights of another identity)
    and kept packed, ``n_bits / 8`` bytes per language (12.5 MB for Gemma 3 270M), so the
    cost is one scoring pass per language (seconds) instead of a file read.

    Parameters
    ----------
    paths : ``<language>.factors.parquet`` files of one (model, dataset).
    model_or_weights : the model the factors were computed with (loaded as the signature
        stage loads it), or a mapping module name -> weight ``(out, in)``.
    """
    from tqdm import tqdm

    packed: list[dict[str, np.ndarray]] = []
    sizes: dict[str, int] = {}
    for path in tqdm(paths, desc="bits from factors", unit="lang"):
        bits = bits_from_factors(model_or_weights, path)
        sizes = {m: int(b.size) for m, b in bits.items()}
        packed.append({m: np.packbits(b.reshape(-1)) for m, b in bits.items()})
        del bits
    # pop: each matrix's packed bits are freed once counted.
    stream = ((m, n_bits, [p.pop(m) for p in packed]) for m, n_bits in sizes.items())
    return hamming_counts(stream, len(paths), group_by, block_bytes, threads)
