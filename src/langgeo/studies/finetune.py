"""The transfer question by fine-tuning: does the distance d(a, b) between languages predict
what continued causal-LM training on language a's text does to language b?

For a panel of languages, ``L_a[b]`` is the held-out bits per UTF-8 byte on b of the model
fine-tuned on a's calibration text (:func:`fine_tune`, a fixed budget of AdamW steps), and
``L_base[b]`` that of the model before any fine-tuning. The transfer gain is

    G[a, b] = L_base[b] − L_a[b]      (bits per byte; negative: fine-tuning on a made b worse,
                                       i.e. forgetting)

and ``G[a, b] / G[b, b]`` the share of b's own gain that a's text gives b. Between sources
every parameter of the model is restored bit for bit (:func:`snapshot_parameters`,
:func:`restore_parameters`): fine-tuning moves every unfrozen weight, not only the block
linears that pruning touches.

Freezing follows the Interlingual Local Overlap reference (HLTCHKUST/interlingua,
``src/param_freeze.py``), which for Llama 3.1 8B freezes the token embeddings, decoder blocks
0–8 of 32 (about the first 28%), the final norm and the LM head: :func:`freeze_early` scales
the block count to the model's depth.

Precision (``dtype``): ``float32`` trains the model as it is. ``bfloat16`` runs the forward
and backward on a bf16 copy of the model and keeps the caller's fp32 parameters as master
weights (bf16 gradients cast to fp32, clipped, AdamW on the fp32 weights, cast back into the
copy): faster than autocast on this CPU (``benchmarks/finetune.py``, numbers in
benchmarks/README.md); the price is that a step's gradients accumulate in bf16.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from langgeo import LanggeoError
from langgeo.method.anatomy import decoder_stack, transformer_blocks
from langgeo.params import DTYPES
from langgeo.studies.perplexity import LOGIT_CHUNK, perplexity
from langgeo.studies.transfer import PanelText

#: Share of the transformer blocks the ILO reference freezes: blocks 0–8 of Llama 3.1 8B's 32.
ILO_FROZEN_FRACTION = 0.28

#: Learning rates outside (0, MAX_LR) are refused: AdamW moves each weight by up to about the
#: learning rate per step, and 0.1 is already several times a typical weight of these models.
MAX_LR = 0.1

# How "bfloat16" trains: "copy" (a bf16 copy of the model, fp32 master weights) or "autocast"
# (fp32 weights, products in bf16). Kept for benchmarks/finetune.py, which measures both.
_BF16_MODES = ("copy", "autocast")
_BF16_MODE = "copy"


@dataclass(frozen=True, eq=False)
class FineTuneResult:
    """What one :func:`fine_tune` run did.

    name : the source language (or any label of the text).
    losses : float64 ``(steps,)``, the mean causal-LM loss of each step's batch before its
        update, in nats per predicted token.
    seconds : wall time of the steps (forward, backward, clipping, optimizer), seconds.
    tokens : token positions processed, ``steps · batch_size · seq_len``.
    trained : number of weights updated (frozen ones and tied copies not counted).
    dtype : ``float32`` or ``bfloat16``.
    """

    name: str
    losses: np.ndarray
    seconds: float
    tokens: int
    trained: int
    dtype: str

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else math.inf


def frozen_block_count(n_blocks: int, fraction: float = ILO_FROZEN_FRACTION) -> int:
    """The first blocks :func:`freeze_early` freezes: ``round(fraction · n_blocks)`` half up
    (not Python's half-to-even, so that the count is what the docs say)."""
    if not 0.0 <= fraction <= 1.0:
        raise LanggeoError(f"freeze_early: fraction {fraction} of the blocks must lie in [0, 1]")
    return math.floor(fraction * n_blocks + 0.5)


def freeze_early(model: nn.Module, fraction: float = ILO_FROZEN_FRACTION, *,
                 blocks: int | None = None) -> list[str]:
    """Names of the parameters the ILO reference's freezing leaves untouched, for this model.

    Frozen: every parameter outside the list of transformer blocks (token embeddings, and
    position embeddings where the model has them; the final norm; the LM head) and those of
    the first ``k`` blocks, ``k = blocks`` if given, else ``round(fraction · n_blocks)``
    (half up): Llama 3.1 8B 9 of 32 (blocks 0–8, as the reference), SmolLM2-135M 8 of 30
    (0–7), Gemma 3 270M 5 of 18 (0–4).

    A tied LM head (Gemma, SmolLM2: ``lm_head.weight`` *is* the embedding matrix) is one
    parameter, listed once under the embedding's name; freezing it freezes both, which is
    what the reference does to the two. An untied head is listed under its own name.

    The model is not changed: pass the names to :func:`fine_tune` (``frozen=``).

    Returns
    -------
    Parameter names as ``model.named_parameters()`` gives them, in that order.
    """
    blocks_name, block_list = transformer_blocks(model)
    n_blocks = len(block_list)
    if blocks is None:
        blocks = frozen_block_count(n_blocks, fraction)
    if isinstance(blocks, bool) or not isinstance(blocks, int) or blocks < 0:
        raise LanggeoError(f"freeze_early: blocks must be a whole number >= 0, got {blocks!r}")
    if blocks > n_blocks:
        raise LanggeoError(f"freeze_early: cannot freeze {blocks} blocks of "
                           f"{type(model).__name__}, which has {n_blocks} ({blocks_name}); "
                           f"choose at most {n_blocks}")
    frozen_prefixes = tuple(f"{blocks_name}.{i}." for i in range(blocks))
    names = []
    for name, _ in model.named_parameters():
        inside = name.startswith(f"{blocks_name}.")
        if not inside or name.startswith(frozen_prefixes):
            names.append(name)
    return names


def snapshot_parameters(model: nn.Module) -> dict[str, torch.Tensor]:
    """Copies of every parameter of ``model`` (tied ones once), to undo a fine-tuning."""
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def restore_parameters(model: nn.Module, snapshot: Mapping[str, torch.Tensor]) -> None:
    """Write :func:`snapshot_parameters`' copies back, in place (tied parameters stay tied)."""
    params = dict(model.named_parameters())
    if params.keys() != snapshot.keys():
        raise LanggeoError("restore_parameters: the snapshot is of another model "
                           f"({len(snapshot)} parameters, this one has {len(params)})")
    with torch.no_grad():
        for n, p in params.items():
            p.copy_(snapshot[n])


def _resolve_frozen(model: nn.Module, frozen: Iterable[str]) -> set[int]:
    """ids of the parameters named in ``frozen`` (a tied alias such as ``lm_head.weight``
    names the same parameter as the embedding)."""
    by_name = dict(model.named_parameters(remove_duplicate=False))
    names = list(frozen)
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise LanggeoError(f"frozen parameter(s) {unknown[:5]} are not parameters of "
                           f"{type(model).__name__}; names look like {list(by_name)[:3]} "
                           "(freeze_early gives them)")
    return {id(by_name[n]) for n in names}


def _check_settings(lr: float, steps: int, batch_size: int, weight_decay: float,
                    dtype: str, max_grad_norm: float | None, name: str) -> None:
    where = f"fine-tuning on {name!r}"
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < MAX_LR:
        raise LanggeoError(f"{where}: learning rate {lr!r} must lie in (0, {MAX_LR}); "
                           "fine-tuning a pretrained model uses about 1e-5 to 1e-3")
    for what, value in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise LanggeoError(f"{where}: {what} must be a whole number >= 1, got {value!r}")
    if not (isinstance(weight_decay, (int, float)) and math.isfinite(weight_decay)
            and weight_decay >= 0):
        raise LanggeoError(f"{where}: weight_decay {weight_decay!r} must be finite and >= 0")
    if dtype not in DTYPES:
        raise LanggeoError(f"{where}: dtype {dtype!r}: choose one of {list(DTYPES)}")
    if max_grad_norm is not None and not (math.isfinite(max_grad_norm) and max_grad_norm > 0):
        raise LanggeoError(f"{where}: max_grad_norm {max_grad_norm!r} must be > 0 (or None: "
                           "no clipping)")


def _step_rows(n_rows: int, batch_size: int, step: int) -> list[int]:
    """Rows of the windows that step ``step`` (0-based) reads: the next ``batch_size`` rows
    in order, wrapping around at the end."""
    return [(step * batch_size + i) % n_rows for i in range(batch_size)]


def _loss_backward(model: nn.Module, ids: torch.Tensor, chunk: int) -> float:
    """Mean causal-LM loss of ``ids`` (nats per predicted token: every position after the
    first of each row), with its gradients accumulated into the parameters' ``.grad``.

    The LM head runs on ``chunk`` positions at a time, as :func:`perplexity` does, with the
    model's final logit soft-capping where it has one: full logits over Gemma 3's 262k
    vocabulary would take ~0.5 GB per 512-token row in fp32, twice with their gradient. The
    backward runs in two stages, which gives the gradients of the whole loss exactly: each
    chunk's loss is back-propagated into the head and into a leaf copy of the final hidden
    states, then the hidden states' summed gradient through the decoder stack once.

    Returns the loss without running the decoder stack's backward if it is not finite.
    """
    stack, head = decoder_stack(model), model.get_output_embeddings()
    cap = getattr(model.config, "final_logit_softcapping", None)
    hidden = stack(input_ids=ids, use_cache=False).last_hidden_state[:, :-1]
    hidden = hidden.reshape(-1, hidden.shape[-1])
    leaf = hidden.detach().requires_grad_(True)
    targets = ids[:, 1:].reshape(-1)
    n = targets.numel()
    total = 0.0
    for start in range(0, n, chunk):
        logits = head(leaf[start:start + chunk]).float()
        if cap:
            logits = torch.tanh(logits / cap) * cap
        loss = F.cross_entropy(logits, targets[start:start + chunk], reduction="sum") / n
        loss.backward()
        total += float(loss.detach())
    if math.isfinite(total) and hidden.requires_grad:
        hidden.backward(leaf.grad)
    return total


class _Bf16Copy:
    """A bf16 copy of a model whose gradients feed fp32 master weights (the model's own)."""

    def __init__(self, model: nn.Module, trained: list[tuple[str, nn.Parameter]]):
        self.model = copy.deepcopy(model).to(torch.bfloat16)
        copies = dict(self.model.named_parameters())
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.pairs = [(p, copies[n]) for n, p in trained]
        for _, c in self.pairs:
            c.requires_grad_(True)

    def gradients_to_master(self) -> None:
        for p, c in self.pairs:
            p.grad = None if c.grad is None else c.grad.float()
            c.grad = None

    @torch.no_grad()
    def weights_from_master(self) -> None:
        for p, c in self.pairs:
            c.copy_(p)


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """torch's global RNG seeded inside, and as it was outside."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def fine_tune(model: nn.Module, batches: torch.Tensor, *, lr: float, steps: int,
              batch_size: int = 1, weight_decay: float = 0.0, dtype: str = "float32",
              frozen: Iterable[str] = (), seed: int = 0, name: str = "text",
              max_grad_norm: float | None = 1.0, chunk: int = LOGIT_CHUNK,
              on_step: Callable[[int, float], None] | None = None,
              _bf16_mode: str = _BF16_MODE) -> FineTuneResult:
    """Continue causal-LM training of ``model`` (in place) on one language's windows.

    Step ``s`` (0-based) reads rows ``s · batch_size …`` of ``batches`` in order, wrapping
    around (a fixed budget of ``steps`` steps, whatever the number of windows), computes the
    mean next-token cross-entropy over every position after the first of each row (the BOS,
    context only, as in :func:`langgeo.studies.perplexity.perplexity`), clips the gradient's
    global L2 norm to ``max_grad_norm`` (None: no clipping; 1.0 is transformers' Trainer
    default) and takes one ``torch.optim.AdamW`` step (fused; betas 0.9/0.999, eps 1e-8,
    constant learning rate, no warm-up).

    Parameters
    ----------
    batches : int64 ``(rows, seq_len)``, e.g. :class:`~langgeo.studies.transfer.PanelText`'s
        ``calibration`` windows (``[BOS] + seq_len − 1`` text tokens per row).
    lr : learning rate, in (0, :data:`MAX_LR`); ``weight_decay``: AdamW's (0 by default).
    dtype : ``float32``, or ``bfloat16`` (a bf16 copy, fp32 master weights: module docstring).
    frozen : parameter names left unchanged (:func:`freeze_early`); the others are trained.
    seed : seeds torch's RNG for the run (the global RNG is left as it was): with dropout off
        and the windows in order the run is deterministic on one machine and thread count.
    name : the source language, named in errors; ``chunk``: positions per LM-head chunk.
    on_step : called after each update with the step (1-based) and its loss, the weights then
        those after that step (a pilot measures held-out loss there).

    Returns
    -------
    :class:`FineTuneResult`: the loss per step, the wall time, the tokens processed. Raises
    LanggeoError for bad settings, or a non-finite loss or gradient norm, naming ``name`` and
    the step: that step's update is not applied (:func:`transfer_gain_matrix` then restores
    the base weights).
    """
    _check_settings(lr, steps, batch_size, weight_decay, dtype, max_grad_norm, name)
    if _bf16_mode not in _BF16_MODES:
        raise LanggeoError(f"bf16 mode {_bf16_mode!r}: choose one of {list(_BF16_MODES)}")
    if batches.ndim != 2 or batches.shape[0] < 1 or batches.shape[1] < 2:
        raise LanggeoError(f"fine-tuning on {name!r}: windows must be (rows >= 1, seq_len >= 2)"
                           f" token ids, got shape {tuple(batches.shape)}")
    if batches.dtype != torch.int64:
        raise LanggeoError(f"fine-tuning on {name!r}: windows must be int64 token ids, got "
                           f"{batches.dtype}")
    params = list(model.parameters())
    if any(p.dtype != torch.float32 for p in params):
        raise LanggeoError(f"fine-tuning on {name!r}: the model must be loaded in float32 (its "
                           "weights are the master copy); pass dtype='bfloat16' here for "
                           "bf16 arithmetic")
    frozen_ids = _resolve_frozen(model, frozen)
    flags = [(p, p.requires_grad) for p in params]
    trained = [(n, p) for n, p in model.named_parameters() if id(p) not in frozen_ids]
    if not trained:
        raise LanggeoError(f"fine-tuning on {name!r}: every parameter is frozen")
    device = next(model.parameters()).device
    use_copy = dtype == "bfloat16" and _bf16_mode == "copy"
    use_autocast = dtype == "bfloat16" and _bf16_mode == "autocast"
    losses = np.zeros(steps)
    advice = (f"lower the learning rate ({lr})"
              + (" or fine-tune in float32" if dtype != "float32" else "")
              + "; this step's update was not applied")
    was_training = model.training
    runner = None
    try:
        for p in params:
            p.grad = None  # a caller's stale gradients would add to the first step's
            p.requires_grad_(id(p) not in frozen_ids)
        model.eval()  # dropout off: the run is deterministic
        master = [p for _, p in trained]
        # fused: one pass over each tensor instead of a dozen elementwise ops; on the
        # shared 2-core machine 1.0-1.4 s per step for SmolLM2-135M against 14-23 s for the
        # default single-tensor loop (the same update, deterministic too).
        optimizer = torch.optim.AdamW(master, lr=lr, betas=(0.9, 0.999), eps=1e-8,
                                      weight_decay=weight_decay, fused=True)
        runner = _Bf16Copy(model, trained) if use_copy else None
        forward_model = runner.model if runner is not None else model
        start = time.perf_counter()
        with _seeded(seed), torch.enable_grad():
            for step in range(steps):
                ids = batches[_step_rows(batches.shape[0], batch_size, step)].to(device)
                # Autocast (measured, not the default) covers the backward here too, so that
                # each weight is cast once per step: its cache lives for one context, and
                # the LM-head chunks alternate forward and backward.
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_autocast):
                    loss = _loss_backward(forward_model, ids, chunk)
                if not math.isfinite(loss):
                    raise LanggeoError(f"fine-tuning on {name!r}: the loss at step {step + 1} "
                                       f"of {steps} is {loss}; {advice}")
                if runner is not None:
                    runner.gradients_to_master()
                # foreach: the per-tensor default costs 2-3 s per step here, this 0.6-1.5 s.
                norm = float(torch.nn.utils.clip_grad_norm_(
                    master, max_grad_norm if max_grad_norm is not None else math.inf,
                    foreach=True))
                if not math.isfinite(norm):
                    raise LanggeoError(f"fine-tuning on {name!r}: the gradient norm at step "
                                       f"{step + 1} of {steps} is {norm}; {advice}")
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                if runner is not None:
                    runner.weights_from_master()
                losses[step] = loss
                if on_step is not None:
                    on_step(step + 1, loss)
        seconds = time.perf_counter() - start
    finally:
        for p, flag in flags:
            p.grad = None
            p.requires_grad_(flag)
        model.train(was_training)
        del runner
    return FineTuneResult(name, losses, seconds, steps * batch_size * batches.shape[1],
                          sum(p.numel() for _, p in trained), dtype)


@dataclass
class TransferGain:
    """Held-out perplexities of the base model and of the model fine-tuned on each source.

    languages : the panel, in order (rows = sources, columns = targets of every matrix).
    base : target -> :meth:`~langgeo.studies.perplexity.Perplexity.as_dict` of the base model.
    tuned : (source, target) -> the same, after fine-tuning on the source.
    runs : source -> its :class:`FineTuneResult` (loss curve, time).
    measure_seconds : time spent measuring perplexities, seconds.
    settings : the fine-tuning settings, for the record.
    """

    languages: list[str]
    base: dict[str, dict[str, float]]
    tuned: dict[tuple[str, str], dict[str, float]]
    runs: dict[str, FineTuneResult]
    measure_seconds: float = 0.0
    settings: dict = field(default_factory=dict)

    def bits(self) -> np.ndarray:
        """``L[a, b]``: bits per byte on b after fine-tuning on a, ``(n, n)``."""
        return np.array([[self.tuned[a, b]["bits_per_byte"] for b in self.languages]
                         for a in self.languages])

    def base_bits(self) -> np.ndarray:
        """``L_base[b]``, ``(n,)`` bits per byte."""
        return np.array([self.base[b]["bits_per_byte"] for b in self.languages])

    def gain(self) -> np.ndarray:
        """``G[a, b] = L_base[b] − L[a, b]``, ``(n, n)`` bits per byte; negative = forgetting."""
        return self.base_bits()[None, :] - self.bits()

    def relative_gain(self) -> np.ndarray:
        """``G[a, b] / G[b, b]``, ``(n, n)``, 1 on the diagonal; NaN in the columns of the
        targets whose own fine-tuning did not lower their loss (``G[b, b] <= 0``), where the
        ratio means nothing."""
        g = self.gain()
        own = np.diag(g)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(own[None, :] > 0, g / own[None, :], np.nan)

    def table(self) -> pd.DataFrame:
        """Long format, one row per (source, target), the base model as source ``base``:
        the perplexity values, ``gain`` and ``relative_gain`` (NaN for the base), and the
        source's training ``train_seconds``, ``loss_first`` and ``loss_last`` (nats/token)."""
        g, rel = self.gain(), self.relative_gain()
        index = {c: i for i, c in enumerate(self.languages)}
        rows = [{"source": "base", "target": b, **self.base[b], "gain": np.nan,
                 "relative_gain": np.nan, "train_seconds": 0.0, "loss_first": np.nan,
                 "loss_last": np.nan} for b in self.languages]
        for (a, b), p in self.tuned.items():
            run = self.runs[a]
            rows.append({"source": a, "target": b, **p, "gain": float(g[index[a], index[b]]),
                         "relative_gain": float(rel[index[a], index[b]]),
                         "train_seconds": run.seconds, "loss_first": float(run.losses[0]),
                         "loss_last": float(run.losses[-1])})
        return pd.DataFrame(rows)

    def curves(self) -> pd.DataFrame:
        """Long format of the training losses: ``source``, ``step`` (1-based), ``loss``."""
        return pd.DataFrame([{"source": a, "step": s + 1, "loss": float(v)}
                             for a, run in self.runs.items() for s, v in enumerate(run.losses)])


def transfer_gain_matrix(model: nn.Module, texts: Mapping[str, PanelText], *, lr: float,
                         steps: int, batch_size: int = 1, weight_decay: float = 0.0,
                         dtype: str = "float32", frozen: Sequence[str] = (), seed: int = 0,
                         eval_batch_size: int = 2, eval_dtype: str = "float32",
                         max_grad_norm: float | None = 1.0, progress: bool = True,
                         after_source: Callable[[str], None] | None = None) -> TransferGain:
    """Fine-tune ``model`` once per source language of ``texts`` (from the same base weights
    each time) and measure every target's held-out bits per byte; the base model's too.

    For each source a: every parameter is restored to the base, :func:`fine_tune` runs on
    a's ``calibration`` windows (the same ``seed``, steps and settings for every source),
    and :func:`~langgeo.studies.perplexity.perplexity` measures each target b's ``heldout``
    windows. ``eval_dtype`` ``bfloat16`` measures with a bf16 copy of the fine-tuned weights,
    as :func:`~langgeo.studies.transfer.cross_lingual_matrix` does. ``after_source(a)`` runs
    after a's measurements on the model still fine-tuned on a. The model holds its base
    weights again when this returns or raises.

    Returns
    -------
    :class:`TransferGain` (``gain()``, ``relative_gain()``, ``table()``, ``curves()``).
    """
    from tqdm import tqdm

    if eval_dtype not in DTYPES:
        raise LanggeoError(f"eval_dtype {eval_dtype!r}: choose one of {list(DTYPES)}")
    if len(texts) < 2:
        raise LanggeoError(f"the transfer gain needs at least 2 languages, got {list(texts)}")
    languages = list(texts)
    base = snapshot_parameters(model)
    measured = model if eval_dtype == "float32" else copy.deepcopy(model).to(torch.bfloat16)
    spent = 0.0
    bar = tqdm(total=len(languages) * (len(languages) + 1), desc="fine-tuning panel",
               unit="ppl", disable=not progress)

    def measure() -> dict[str, dict[str, float]]:
        nonlocal spent
        start = time.perf_counter()
        if measured is not model:
            with torch.no_grad():
                for p, q in zip(model.parameters(), measured.parameters()):
                    q.copy_(p)
        out = {}
        for b in languages:
            out[b] = perplexity(measured, texts[b].heldout, texts[b].heldout_bytes,
                                eval_batch_size).as_dict()
            bar.update()
        spent += time.perf_counter() - start
        return out

    tuned: dict[tuple[str, str], dict[str, float]] = {}
    runs: dict[str, FineTuneResult] = {}
    try:
        base_ppl = measure()
        for a in languages:
            restore_parameters(model, base)
            bar.set_postfix(fine_tuning=a)
            runs[a] = fine_tune(model, texts[a].calibration, lr=lr, steps=steps,
                                batch_size=batch_size, weight_decay=weight_decay, dtype=dtype,
                                frozen=frozen, seed=seed, name=a, max_grad_norm=max_grad_norm)
            tuned.update({(a, b): p for b, p in measure().items()})
            if after_source:
                after_source(a)
    finally:
        restore_parameters(model, base)
        bar.close()
    settings = {"lr": lr, "steps": steps, "batch_size": batch_size,
                "weight_decay": weight_decay, "dtype": dtype, "frozen": len(list(frozen)),
                "seed": seed, "eval_dtype": eval_dtype, "max_grad_norm": max_grad_norm}
    return TransferGain(languages, base_ppl, tuned, runs, spent, settings)
