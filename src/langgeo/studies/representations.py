"""Hidden states of parallel text units, one pooled vector per unit and layer.

Units are aligned across languages by their place in the document (:func:`align_units`);
each unit is read alone, as ``[BOS] + its tokens``, by the decoder stack
(:func:`langgeo.method.anatomy.decoder_stack`, no LM head) with ``output_hidden_states=True``,
which gives the embedding output (layer 0) and the output of every block; the last one is
after the final norm, as transformers returns it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from tqdm import tqdm

from langgeo import LanggeoError
from langgeo.method.anatomy import decoder_stack
from langgeo.params import POOLINGS


class UnitLike(Protocol):
    article: int
    position: int
    text: str


@dataclass(frozen=True)
class Alignment:
    """Units shared by every language, in document order.

    ``keys``: ``(article, position)`` of each kept unit; ``texts``: language -> the texts of
    those units, in the same order; ``dropped_articles``: articles left out because the
    languages do not split them into the same number of units (a position there would not
    name the same text); ``available``: aligned units before ``max_units``.
    """

    keys: list[tuple[int, int]]
    texts: dict[str, list[str]]
    dropped_articles: list[int]
    available: int


def align_units(units: Mapping[str, Sequence[UnitLike]], max_units: int | None = None
                ) -> Alignment:
    """Align parallel units across languages.

    An article is kept when every language has it with the same number of units and none
    of them is blank; its units are then matched by position. The first ``max_units`` kept
    units in document order are used (all when ``None``).
    """
    if not units:
        raise LanggeoError("interlingua: no language has parallel text")
    per_language: dict[str, dict[int, list[str]]] = {}
    for language, items in units.items():
        articles: dict[int, list[tuple[int, str]]] = {}
        for unit in items:
            articles.setdefault(unit.article, []).append((unit.position, unit.text))
        if not articles:
            raise LanggeoError(f"interlingua: the text of language {language!r} has no units")
        per_language[language] = {a: [t for _, t in sorted(v)] for a, v in articles.items()}
    every = sorted(set.union(*(set(a) for a in per_language.values())))
    kept, dropped = [], []
    for article in every:
        lengths = {len(a.get(article, [])) for a in per_language.values()}
        blank = any(not t.strip() for a in per_language.values() for t in a.get(article, []))
        (kept if len(lengths) == 1 and 0 not in lengths and not blank else dropped).append(article)
    keys = [(a, p) for a in kept for p in range(len(next(iter(per_language.values()))[a]))]
    available = len(keys)
    keys = keys[:max_units] if max_units is not None else keys
    if not keys:
        raise LanggeoError(f"interlingua: the {len(units)} languages share no aligned unit "
                           f"(all {len(every)} articles differ in their number of units); "
                           "drop the languages whose text is incomplete")
    texts = {lang: [a[art][pos] for art, pos in keys] for lang, a in per_language.items()}
    return Alignment(keys, texts, dropped, available)


def _token_ids(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    bos = tokenizer.bos_token_id
    ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return [([bos] if bos is not None else []) + list(i) for i in ids]


@torch.no_grad()
def unit_states(model: torch.nn.Module, tokenizer, texts: Sequence[str], pooling: str = "mean",
                batch_size: int = 8, desc: str | None = None) -> np.ndarray:
    """Pooled hidden states of each text at every layer.

    Parameters
    ----------
    model : a causal LM (its decoder stack is run, not the LM head).
    texts : the units, each read on its own.
    pooling : ``mean`` over all tokens, BOS included (the ILO reference's choice), or
        ``mean_no_bos``, which leaves out the BOS (the same as ``mean`` for a tokenizer
        without one).
    batch_size : units per forward pass; units are grouped by length to limit padding and
        padded on the right, which a causal model never attends to.

    Returns
    -------
    (n_layers + 1, n_texts, hidden) float32: layer 0 the embedding output, layer ``i`` the
    output of block ``i``.
    """
    if pooling not in POOLINGS:
        raise LanggeoError(f"params: 'interlingua.pooling' is {pooling!r}; choose one of "
                           f"{list(POOLINGS)}")
    ids = _token_ids(tokenizer, texts)
    skip = 1 if pooling == "mean_no_bos" and tokenizer.bos_token_id is not None else 0
    empty = [i for i, row in enumerate(ids) if len(row) <= skip]
    if empty:
        raise LanggeoError(f"interlingua: unit(s) {empty[:5]} have no tokens to pool")
    stack = decoder_stack(model)
    device = next(model.parameters()).device
    order = np.argsort([len(row) for row in ids], kind="stable")
    out: np.ndarray | None = None
    for start in tqdm(range(0, len(order), batch_size), desc=desc or "hidden states",
                      unit="batch"):
        batch = order[start:start + batch_size]
        width = max(len(ids[i]) for i in batch)
        input_ids = torch.zeros((len(batch), width), dtype=torch.int64)
        mask = torch.zeros((len(batch), width), dtype=torch.int64)
        for row, i in enumerate(batch):
            input_ids[row, :len(ids[i])] = torch.tensor(ids[i])
            mask[row, :len(ids[i])] = 1
        hidden = stack(input_ids=input_ids.to(device), attention_mask=mask.to(device),
                       output_hidden_states=True).hidden_states
        weight = mask.to(device=device, dtype=torch.float32)
        weight[:, :skip] = 0
        weight /= weight.sum(dim=1, keepdim=True)
        pooled = torch.stack([torch.einsum("bt,btd->bd", weight, h.float()) for h in hidden])
        if out is None:
            out = np.empty((pooled.shape[0], len(ids), pooled.shape[2]), dtype=np.float32)
        out[:, batch] = pooled.cpu().numpy()
    return out


def language_states(model: torch.nn.Module, tokenizer, texts: Mapping[str, Sequence[str]],
                    pooling: str = "mean", batch_size: int = 8) -> np.ndarray:
    """:func:`unit_states` of every language's aligned units (equally many per language),
    batched together across languages, as ``(n_layers + 1, n_languages, n_units, hidden)``
    float32 in the order of ``texts``."""
    counts = {len(t) for t in texts.values()}
    if len(counts) != 1:
        raise LanggeoError(f"interlingua: languages have different numbers of units {counts}; "
                           "align them with align_units first")
    flat = [unit for t in texts.values() for unit in t]
    states = unit_states(model, tokenizer, flat, pooling, batch_size,
                         desc=f"hidden states ({len(texts)} languages)")
    return states.reshape(states.shape[0], len(texts), counts.pop(), states.shape[2])
