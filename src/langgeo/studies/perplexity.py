"""Perplexity per language on held-out text, per token and in bits per UTF-8 byte.

Held-out text is disjoint from calibration text by construction. Both come from one seeded
order of a language's documents (:func:`langgeo.data.sources.calibration_documents`): calibration
is the shortest *prefix* that gives the calibration tokens (:func:`langgeo.data.sources.
select_documents`), held-out text the shortest *suffix* (read from the last document
backwards) that gives the held-out tokens. They never share a document; if the language has
too little text for both, :func:`split_documents` says so, with both counts. Because the
suffix does not depend on the calibration size, held-out perplexities stay comparable when
only the calibration tokens change.

Windows do not overlap: the held-out tokens are packed as the calibration tokens are
(:func:`langgeo.data.shards.pack_sequences`: ``[BOS] + seq_len − 1`` text tokens per row). Every
text token after the first position of a row is predicted once, so a row of ``seq_len``
tokens contributes exactly ``seq_len − 1`` predictions, and the perplexity is
``exp(Σ NLL / (rows · (seq_len − 1)))``. Bits per byte divide the same summed NLL (in bits)
by the UTF-8 bytes of the predicted text, which, unlike per-token perplexity, is comparable
across languages that tokenize differently.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from langgeo import LanggeoError
from langgeo.data.shards import pack_sequences, select_documents, text_tokens_needed
from langgeo.method.anatomy import decoder_stack

#: Positions per LM-head chunk: logits over Gemma 3's 262k vocabulary for a whole 512-token
#: window would be ~0.5 GB of fp32; 128 positions keep it near 130 MB.
LOGIT_CHUNK = 128


@dataclass(frozen=True)
class Perplexity:
    """Summed negative log-likelihood ``nll`` (nats) over ``tokens`` predictions that cover
    ``bytes`` bytes of UTF-8 text."""

    nll: float
    tokens: int
    bytes: int

    @property
    def per_token(self) -> float:
        return math.exp(self.nll / self.tokens)

    @property
    def bits_per_byte(self) -> float:
        return self.nll / math.log(2) / self.bytes

    def as_dict(self) -> dict[str, float]:
        return {"ppl": self.per_token, "bits_per_byte": self.bits_per_byte,
                "nll_per_token": self.nll / self.tokens, "tokens": self.tokens,
                "bytes": self.bytes}


def split_documents(documents: Sequence[str], tokenizer, calibration_tokens: int,
                    heldout_tokens: int, seq_len: int, language: str, dataset: str
                    ) -> tuple[list[str], list[str]]:
    """Calibration prefix and held-out suffix of ``documents`` (one seeded order).

    Returns
    -------
    calibration : the shortest prefix with enough tokens for ``calibration_tokens``.
    heldout : the shortest suffix with enough for ``heldout_tokens``, last document first.

    Raises :class:`LanggeoError` naming the language and both counts when the two would
    overlap.
    """
    has_bos = tokenizer.bos_token_id is not None
    need_cal = text_tokens_needed(calibration_tokens, seq_len, has_bos)
    need_held = text_tokens_needed(heldout_tokens, seq_len, has_bos)
    counts = np.array([len(ids) for ids in tokenizer([d + "\n" for d in documents],
                                                     add_special_tokens=False)["input_ids"]]
                      if documents else [], dtype=np.int64)
    if counts.sum() < need_cal + need_held:
        raise LanggeoError(
            f"language {language!r} in dataset {dataset!r} has {int(counts.sum())} text tokens "
            f"({len(documents)} documents), fewer than the {need_cal} calibration + {need_held} "
            "held-out tokens needed, which may not share a document; lower "
            "pruning.calibration_tokens or pruning.heldout_tokens, or add text")
    calibration = select_documents(documents, [tokenizer], calibration_tokens, seq_len,
                                   language, dataset)
    from_end = np.cumsum(counts[::-1])
    n_held = int(np.searchsorted(from_end, need_held)) + 1
    if len(calibration) + n_held > len(documents):
        have = int(counts[len(calibration):].sum())
        raise LanggeoError(
            f"language {language!r} in dataset {dataset!r}: the {len(calibration)} calibration "
            f"documents take {int(counts[:len(calibration)].sum())} text tokens (need "
            f"{need_cal}); the {len(documents) - len(calibration)} left hold {have}, fewer than "
            f"the {need_held} held-out tokens needed without sharing a document; lower "
            "pruning.calibration_tokens or pruning.heldout_tokens")
    return list(calibration), list(documents[::-1][:n_held])


def _utf8_lengths(text: str) -> np.ndarray:
    """UTF-8 bytes of each character of ``text``."""
    points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    return 1 + (points >= 0x80) + (points >= 0x800) + (points >= 0x10000)


def token_bytes(tokenizer, documents: Sequence[str]) -> list[np.ndarray]:
    """UTF-8 bytes each token of each document (+ newline, as packed) covers: the bytes up to
    its end offset minus those up to the previous token's, so they add up to the document's
    bytes exactly (pieces of one character split by byte fallback: all on the last piece)."""
    if not getattr(tokenizer, "is_fast", False):
        raise LanggeoError("bits per byte need a fast tokenizer (with offsets); this one is "
                           f"{type(tokenizer).__name__}")
    texts = [d + "\n" for d in documents]
    offsets = tokenizer(texts, add_special_tokens=False,
                        return_offsets_mapping=True)["offset_mapping"]
    out = []
    for text, spans in zip(texts, offsets):
        prefix = np.concatenate([[0], np.cumsum(_utf8_lengths(text))])
        ends = np.maximum.accumulate(np.array([e for _, e in spans], dtype=np.int64))
        ends[-1:] = len(text)
        out.append(np.diff(np.concatenate([[0], prefix[ends]])))
    return out


def heldout_windows(tokenizer, documents: Sequence[str], tokens: int, seq_len: int
                    ) -> tuple[torch.Tensor, int]:
    """Non-overlapping windows of ``documents`` and the UTF-8 bytes their predictions cover.

    Returns
    -------
    ids : int64 ``(tokens // seq_len, seq_len)`` from :func:`langgeo.data.shards.pack_sequences`.
    n_bytes : bytes of the text tokens that are predicted (every position but the first of
        each row: with a BOS that is all text tokens, without one the first of each row is
        context only).
    """
    ids = pack_sequences(tokenizer, documents, tokens, seq_len)
    has_bos = tokenizer.bos_token_id is not None
    per_token = np.concatenate(token_bytes(tokenizer, documents))
    text_per_row = seq_len - 1 if has_bos else seq_len
    used = per_token[:ids.shape[0] * text_per_row].reshape(ids.shape[0], text_per_row)
    return ids, int(used.sum() if has_bos else used[:, 1:].sum())


@torch.no_grad()
def perplexity(model: torch.nn.Module, ids: torch.Tensor, n_bytes: int, batch_size: int = 1,
               chunk: int = LOGIT_CHUNK) -> Perplexity:
    """Perplexity of a causal LM on windows ``ids`` (int64 ``(rows, seq_len)``).

    The LM head runs on ``chunk`` positions at a time (full logits of a large vocabulary do
    not fit comfortably), with the model's final logit soft-capping where it has one.
    """
    if ids.ndim != 2 or ids.shape[1] < 2:
        raise LanggeoError(f"perplexity needs windows of at least 2 tokens, got {tuple(ids.shape)}")
    device = next(model.parameters()).device
    stack, head = decoder_stack(model), model.get_output_embeddings()
    cap = getattr(model.config, "final_logit_softcapping", None)
    nll = 0.0
    for batch in ids.split(batch_size):
        batch = batch.to(device)
        hidden = stack(input_ids=batch, use_cache=False).last_hidden_state[:, :-1]
        hidden = hidden.reshape(-1, hidden.shape[-1])
        targets = batch[:, 1:].reshape(-1)
        for start in range(0, targets.numel(), chunk):
            logits = head(hidden[start:start + chunk]).float()
            if cap:
                logits = torch.tanh(logits / cap) * cap
            nll += float(F.cross_entropy(logits, targets[start:start + chunk],
                                         reduction="sum"))
    return Perplexity(nll, ids.shape[0] * (ids.shape[1] - 1), n_bytes)
