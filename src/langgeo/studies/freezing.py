"""Freezing under fine-tuning, the ILO experiment: does fine-tuning on one language disrupt the
alignment of the early layers, and does freezing them keep it and transfer better?

The reference (*High-Dimensional Interlingual Representations*, HLTCHKUST/interlingua) reports
that full fine-tuning on a single language lowers the Interlingual Local Overlap of the early
layers and that freezing them (:func:`langgeo.studies.finetune.freeze_early`) keeps it and
improves cross-lingual generalization. Here:

- :func:`alignment_per_layer` measures ILO, its controls and translation retrieval at every
  layer on the UDHR units of the panel (pairwise alignment,
  :func:`langgeo.studies.representations.pairwise_units`), for the base model and for the
  model fine-tuned on each alignment source, before its base weights are restored;
- :func:`alignment_change` is the change from the base, averaged over the early layers
  (the embedding output and the outputs of the blocks that freezing leaves untouched, whose
  hidden states are the base's exactly in the frozen mode) and over the later ones;
- :func:`freezing_comparison` compares the gains ``G`` of the modes per target language, on
  the source itself and on the other languages, with bootstrap intervals over targets and a
  paired sign-flip test of frozen against full.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch

from langgeo import LanggeoError
from langgeo.studies.interlingua import overlap_tables
from langgeo.studies.representations import Units, language_states

#: Columns of an alignment table row besides its labels.
ALIGNMENT_COLUMNS = ("ilo", "bridge", "reach", "shuffled_ilo", "gaussian_ilo", "retrieval_p1",
                     "gaussian_retrieval_p1")

N_BOOTSTRAP = 1000
CONFIDENCE = 0.95


def alignment_per_layer(model: torch.nn.Module, tokenizer, units: Units, *, k: int, t: int,
                        seed: int, pooling: str = "mean", batch_size: int = 8,
                        dtype: str = "bfloat16") -> pd.DataFrame:
    """ILO, its shuffled-label and Gaussian controls and retrieval P@1 of every layer of
    ``model`` as it is now, on ``units`` (each language's own; retrieval per pair on the
    units both hold).

    ``dtype`` ``bfloat16`` runs the forward on a bf16 copy (the model is not changed).

    Returns
    -------
    One row per layer (0: the embedding output): ``layer`` and :data:`ALIGNMENT_COLUMNS`,
    means over languages (retrieval: over ordered pairs).
    """
    forward = model if dtype == "float32" else copy.deepcopy(model).to(torch.bfloat16)
    states = language_states(forward, tokenizer, units.texts, pooling, batch_size)
    del forward
    _, per_layer = overlap_tables(states, list(units.texts), k=k, t=t, seed=seed,
                                  keys=units.slots())
    return per_layer[["layer", *ALIGNMENT_COLUMNS]]


def alignment_change(alignment: pd.DataFrame, early: int) -> pd.DataFrame:
    """The change of ILO and retrieval from the base model, per (mode, source).

    Parameters
    ----------
    alignment : rows of ``mode``, ``source``, ``layer`` and :data:`ALIGNMENT_COLUMNS`, the
        base model as mode and source ``base``.
    early : the last early layer: hidden states ``0 … early`` (the embedding output and the
        outputs of the frozen blocks) are early, the others later.

    Returns
    -------
    One row per (mode, source): ``ilo_early``, ``ilo_late``, ``retrieval_early``,
    ``retrieval_late``: the tuned minus the base value, averaged over those layers.
    """
    base = alignment[alignment["mode"] == "base"].set_index("layer")
    if base.empty:
        raise LanggeoError("the alignment table has no row of the base model")
    rows = []
    for (mode, source), group in alignment[alignment["mode"] != "base"].groupby(
            ["mode", "source"], sort=False):
        delta = group.set_index("layer")[["ilo", "retrieval_p1"]] - base[["ilo",
                                                                         "retrieval_p1"]]
        is_early = delta.index <= early
        rows.append({"mode": mode, "source": source,
                     "ilo_early": delta.loc[is_early, "ilo"].mean(),
                     "ilo_late": delta.loc[~is_early, "ilo"].mean(),
                     "retrieval_early": delta.loc[is_early, "retrieval_p1"].mean(),
                     "retrieval_late": delta.loc[~is_early, "retrieval_p1"].mean()})
    return pd.DataFrame(rows)


def _per_target(gain: np.ndarray) -> dict[str, np.ndarray]:
    """Per target b: ``G[b, b]`` (its own text) and the mean of ``G[a, b]`` over a != b."""
    n = len(gain)
    off = ~np.eye(n, dtype=bool)
    return {"source": np.diag(gain).copy(),
            "others": np.array([gain[off[:, b], b].mean() for b in range(n)])}


def sign_flip_p(differences: np.ndarray) -> float:
    """Two-sided p-value of a paired sign-flip test that the mean difference is 0: the share
    of the ``2^n`` sign patterns whose mean is at least as far from 0 (exact; a pattern
    whose mean equals the observed counts)."""
    x = np.asarray(differences, dtype=np.float64)
    if len(x) > 16:
        raise LanggeoError(f"the exact sign-flip test enumerates 2^n patterns; {len(x)} "
                           "differences are too many")
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(x))))
    null = np.abs(signs @ x) / len(x)
    return float((null >= abs(x.mean()) - 1e-12).mean())


def freezing_comparison(gains: Mapping[str, np.ndarray], *, seed: int,
                        n_bootstrap: int = N_BOOTSTRAP,
                        confidence: float = CONFIDENCE) -> pd.DataFrame:
    """G on the source and on the other languages per mode, and frozen minus full.

    Parameters
    ----------
    gains : mode -> ``G`` ``(n, n)``, sources as rows and targets as columns, the same panel.

    Returns
    -------
    One row per (``mode``, ``on``): ``on`` ``source`` (``G[b, b]``) or ``others`` (per
    target, the mean over the other sources), ``mean`` over the n targets in bits per byte,
    ``ci_low``/``ci_high`` (percentile bootstrap over targets, seeded), ``n_targets``; with
    both modes, rows of mode ``frozen - full``: the paired difference per target, with its
    interval and ``p`` (:func:`sign_flip_p`).
    """
    per_mode = {mode: _per_target(np.asarray(g, dtype=np.float64)) for mode, g in gains.items()}
    if "full" in per_mode and "frozen" in per_mode:
        per_mode["frozen - full"] = {on: per_mode["frozen"][on] - per_mode["full"][on]
                                     for on in ("source", "others")}
    n = len(next(iter(gains.values())))
    samples = np.random.default_rng(seed).integers(0, n, (n_bootstrap, n))
    tail = 100 * (1 - confidence) / 2
    rows = []
    for mode, values in per_mode.items():
        for on, x in values.items():
            low, high = np.percentile(x[samples].mean(axis=1), [tail, 100 - tail])
            rows.append({"mode": mode, "on": on, "mean": float(x.mean()), "ci_low": float(low),
                         "ci_high": float(high), "n_targets": n,
                         "p": sign_flip_p(x) if mode == "frozen - full" else np.nan})
    return pd.DataFrame(rows)
