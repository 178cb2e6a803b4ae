"""The transfer question: does the distance d(a, b) between languages predict what pruning a
model with language a's text costs language b?

For a panel of languages, ``P[a, b]`` is the per-token perplexity on b's held-out text of the
model pruned with a's calibration text, and ``R[a, b] = log P[a, b] − log P[b, b]`` (what
calibrating on a instead of b costs b, in nats per token; ``R[b, b] = 0``). The transfer test
is the Spearman correlation of ``d(a, b)`` with ``R[a, b]``, per target b (over the sources
a ≠ b) and over all ordered pairs, each with a permutation p-value: the null relabels the
languages of ``d`` (rows and columns jointly), which keeps the dependence between pairs that
share a language. One-sided: the alternative is that closer languages cost less.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata

from langgeo import LanggeoError
from langgeo.layout import Layout
from langgeo.params import Pattern
from langgeo.studies.perplexity import perplexity
from langgeo.studies.pruning import (
    PruneResult,
    block_weights,
    prune_model,
    restore_weights,
)


@dataclass(frozen=True)
class PanelText:
    """One language's calibration windows ``(rows, seq_len)`` and held-out windows with the
    UTF-8 bytes their predictions cover."""

    calibration: torch.Tensor
    heldout: torch.Tensor
    heldout_bytes: int


@dataclass
class CrossLingual:
    """``ppl[(source, target)]``: :meth:`Perplexity.as_dict` of each measurement, source
    ``"dense"`` for the unpruned model; ``sparsity[source]``: the share of the block linear
    weights that pruning with the source's text removed."""

    languages: list[str]
    ppl: dict[tuple[str, str], dict[str, float]]
    sparsity: dict[str, float]

    def matrix(self, value: str = "ppl") -> np.ndarray:
        """``(n, n)`` array of ``value`` (a key of :meth:`Perplexity.as_dict`), rows = source."""
        return np.array([[self.ppl[a, b][value] for b in self.languages]
                         for a in self.languages])

    def cost(self) -> np.ndarray:
        """``R[a, b] = log P[a, b] − log P[b, b]``, shape ``(n, n)``, zero diagonal."""
        log_p = np.log(self.matrix("ppl"))
        return log_p - np.diag(log_p)[None, :]

    def table(self) -> pd.DataFrame:
        """Long format: one row per (source, target), the dense model as source ``dense``."""
        r = self.cost()
        index = {c: i for i, c in enumerate(self.languages)}
        rows = []
        for (a, b), p in self.ppl.items():
            rows.append({"source": a, "target": b, **p,
                         "R": float(r[index[a], index[b]]) if a != "dense" else np.nan,
                         "sparsity": self.sparsity[a] if a != "dense" else 0.0})
        return pd.DataFrame(rows)

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> CrossLingual:
        """The matrix again from its :meth:`table` (as the pruning_matrix stage wrote it)."""
        values = ["ppl", "bits_per_byte", "nll_per_token", "tokens", "bytes"]
        missing = [c for c in ["source", "target", "sparsity", *values] if c not in table]
        if missing:
            raise LanggeoError(f"the pruning matrix lacks column(s) {missing}; re-run its "
                               "stage: `dvc repro -f -s pruning_matrix`")
        languages = list(dict.fromkeys(table.loc[table["source"] == "dense", "target"]))
        counts = ("tokens", "bytes")  # Python numbers again, as Perplexity.as_dict gives them
        ppl = {(r.source, r.target): {v: (int if v in counts else float)(getattr(r, v))
                                      for v in values}
               for r in table.itertuples(index=False)}
        sparsity = {r.source: float(r.sparsity) for r in table.itertuples(index=False)
                    if r.source != "dense"}
        return cls(languages, ppl, sparsity)


def cross_lingual_matrix(model: torch.nn.Module, texts: Mapping[str, PanelText], method: str,
                         pattern: Pattern, damping: float, batch_size: int,
                         progress: bool = True, dtype: str = "float32"
                         ) -> tuple[CrossLingual, dict[str, PruneResult], float]:
    """Prune ``model`` once per source language (restoring the dense weights in between) and
    measure every target's held-out perplexity; the dense model's too.

    Pruning runs on the model's own (fp32) weights; the perplexities are measured with a
    forward in ``dtype``: in bf16, by a copy of the model whose block weights follow the
    pruned ones. Returns the matrix, each source's :class:`PruneResult` (masks, time) and
    the seconds spent measuring perplexity.
    """
    from tqdm import tqdm

    languages = list(texts)
    dense = block_weights(model)
    measured = model if dtype == "float32" else copy.deepcopy(model).to(getattr(torch, dtype))
    ppl: dict[tuple[str, str], dict[str, float]] = {}
    pruned: dict[str, PruneResult] = {}
    spent = 0.0
    bar = tqdm(total=len(languages) * (len(languages) + 1), desc="perplexity panel",
               unit="ppl", disable=not progress)

    def measure(source: str) -> None:
        nonlocal spent
        start = time.perf_counter()
        if measured is not model:
            restore_weights(measured, block_weights(model))
        for b in languages:
            ppl[source, b] = perplexity(measured, texts[b].heldout, texts[b].heldout_bytes,
                                        batch_size).as_dict()
            bar.update()
        spent += time.perf_counter() - start

    try:
        measure("dense")
        for a in languages:
            restore_weights(model, dense)
            bar.set_postfix(pruning=a)
            pruned[a] = prune_model(model, list(texts[a].calibration.split(batch_size)),
                                    method, pattern, damping)
            measure(a)
    finally:
        restore_weights(model, dense)
        bar.close()
    return (CrossLingual(languages, ppl, {a: r.sparsity for a, r in pruned.items()}), pruned,
            spent)


def _rank_rows(x: np.ndarray) -> np.ndarray:
    """Ranks along the last axis, centred and scaled to unit norm (Spearman = dot product)."""
    r = rankdata(x, axis=-1)
    r = r - r.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(r, axis=-1, keepdims=True)
    return np.divide(r, norm, out=np.zeros_like(r), where=norm > 0)


def transfer_test(distances: np.ndarray, cost: np.ndarray, n_permutations: int = 9999,
                  seed: int = 0, chunk: int = 1000) -> dict:
    """Spearman of ``distances`` (symmetric ``(n, n)``) against ``cost`` (``R``, rows =
    source) with permutation p-values.

    Returns
    -------
    ``{"rho": over all n (n − 1) ordered pairs, "p": its p-value, "mean_target_rho": the
    mean of the per-target correlations, "mean_target_p", "per_target": {index: {"rho",
    "p"}}}``; p-values are ``(1 + #{null >= observed}) / (1 + n_permutations)``, the null
    relabelling the languages of ``distances`` jointly (per target: of its column).
    """
    d, r = np.asarray(distances, float), np.asarray(cost, float)
    n = d.shape[0]
    if d.shape != (n, n) or r.shape != (n, n) or n < 4:
        raise LanggeoError(f"the transfer test needs two (n, n) matrices with n >= 4, got "
                           f"{d.shape} and {r.shape}")
    off = ~np.eye(n, dtype=bool)
    cost_ranks = _rank_rows(r[off])
    # Per target b: its column without the diagonal (sources a != b).
    cost_cols = _rank_rows(np.stack([np.delete(r[:, b], b) for b in range(n)]))

    def stats(orders: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        permuted = d[orders[:, :, None], orders[:, None, :]]
        overall = _rank_rows(permuted[:, off]) @ cost_ranks
        cols = np.stack([np.delete(permuted[:, :, b], b, axis=1) for b in range(n)], axis=1)
        per_target = (_rank_rows(cols) * cost_cols[None]).sum(-1)
        return overall, per_target

    rho, per_target = (s[0] for s in stats(np.arange(n)[None]))
    rng = np.random.default_rng(seed)
    count = 0
    count_mean = 0
    count_target = np.zeros(n, dtype=np.int64)
    for start in range(0, n_permutations, chunk):
        size = min(chunk, n_permutations - start)
        orders = rng.permuted(np.tile(np.arange(n), (size, 1)), axis=1)
        overall, targets = stats(orders)
        count += int((overall >= rho - 1e-12).sum())
        count_mean += int((targets.mean(1) >= per_target.mean() - 1e-12).sum())
        count_target += (targets >= per_target[None] - 1e-12).sum(0)
    p = lambda c: float((1 + c) / (1 + n_permutations))  # noqa: E731
    return {"rho": float(rho), "p": p(count), "mean_target_rho": float(per_target.mean()),
            "mean_target_p": p(count_mean),
            "per_target": {b: {"rho": float(per_target[b]), "p": p(count_target[b])}
                           for b in range(n)}}


def transfer_tests(codes: Sequence[str], cost: np.ndarray,
                   geometries: Mapping[str, np.ndarray], n_permutations: int, seed: int
                   ) -> dict[str, dict]:
    """:func:`transfer_test` for each named distance matrix (ours, baselines), per-target
    results keyed by language code."""
    out = {}
    for name, d in geometries.items():
        result = transfer_test(d, cost, n_permutations, seed)
        result["per_target"] = {codes[b]: v for b, v in result["per_target"].items()}
        out[name] = result
    return out


def lsp_summary(crosslingual: CrossLingual, reference: str = "en") -> dict:
    """Language-specific pruning's claim, ``P[b, b] < P[reference, b]``: for how many b."""
    langs = crosslingual.languages
    if reference not in langs:
        return {}
    others = [b for b in langs if b != reference]
    wins = [b for b in others
            if crosslingual.ppl[b, b]["ppl"] < crosslingual.ppl[reference, b]["ppl"]]
    best_self = [b for b in langs if min(langs, key=lambda a: crosslingual.ppl[a, b]["ppl"])
                 == b]
    return {"reference": reference, "targets": len(others), "own_beats_reference": len(wins),
            "own_is_best": len(best_self)}


def panel_texts(params, tokenizer, languages: Sequence[str] | None = None
                ) -> dict[str, PanelText]:
    """Calibration and held-out windows of every panel language (``params.pruning``), split
    by :func:`langgeo.studies.perplexity.split_documents` from the seeded document order."""
    from langgeo.data.shards import pack_sequences
    from langgeo.data.sources import calibration_documents, check_dataset
    from langgeo.studies.perplexity import heldout_windows, split_documents

    pr = params.pruning
    spec = params.dataset(pr.dataset)
    if spec.source == "hub":
        raise LanggeoError(f"pruning.dataset {spec.name!r} streams from the Hub; held-out text "
                           "is taken from the end of a language's documents, so use an eld or "
                           "local dataset")
    languages = list(languages or pr.panel)
    check_dataset(spec, languages)
    texts = {}
    for lang in languages:
        documents = list(calibration_documents(spec, lang, params.seed))
        calibration, heldout = split_documents(documents, tokenizer, pr.calibration_tokens,
                                               pr.heldout_tokens, pr.seq_len, lang, spec.name)
        texts[lang] = PanelText(
            pack_sequences(tokenizer, calibration, pr.calibration_tokens, pr.seq_len),
            *heldout_windows(tokenizer, heldout, pr.heldout_tokens, pr.seq_len))
    return texts


def pruning_model(params) -> str:
    """``params.pruning.model``, checked to be one of the pipeline's prepared models (and
    the panel to be among the pipeline's languages)."""
    if params.pruning is None:
        raise LanggeoError("params: no 'pruning' section; see params.yaml in the repository")
    # Checked by the stage, not when params are read: a panel that does not fit another
    # configuration's languages must not stop that configuration's other stages.
    missing = [c for c in params.pruning.panel if c not in params.languages]
    if missing:
        raise LanggeoError(f"params: 'pruning.panel' has {missing}, which are not in 'languages' "
                           "(the transfer test needs their signature distances)")
    name = params.pruning.model
    if name not in [m.name for m in params.models]:
        raise LanggeoError(f"params: 'pruning.model' {name!r} is not in 'models' "
                           f"{[m.name for m in params.models]}; add it there so that the "
                           "prepare_model stage provides it")
    return name


def panel_distances(params, layout: Layout) -> tuple[str, np.ndarray]:
    """Our distances between the panel languages: the ensemble or one (model, dataset)."""
    from langgeo.formats.matrix_file import read_matrix

    choice = params.pruning.distances
    if choice == "ensemble":
        path = layout.ensemble_distances()
    else:
        model, _, dataset = choice.partition("/")
        pairs = [f"{m}/{d}" for m, d in params.pairs()]
        if choice not in pairs:
            raise LanggeoError(f"params: 'pruning.distances' {choice!r}: use 'ensemble' or one "
                               f"of the pipeline's pairs {pairs}")
        path = layout.pair_distances(model, dataset)
    codes, matrix = read_matrix(path)
    index = [codes.index(c) for c in params.pruning.panel]
    return choice, matrix[np.ix_(index, index)]
