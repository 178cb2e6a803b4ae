"""Hidden states of parallel text units, one pooled vector per unit and layer.

Units are identified by their place in the document (:func:`pairwise_units`), and two languages
align on the units both hold;
each unit is read alone, as ``[BOS] + its tokens``, by the decoder stack
(:func:`langgeo.method.anatomy.decoder_stack`, no LM head) with ``output_hidden_states=True``,
which gives the embedding output (layer 0) and the output of every block; the last one is
after the final norm, as transformers returns it.
"""

from __future__ import annotations

from collections import Counter
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
class Units:
    """Each language's units, to be aligned per language pair (:func:`pairwise_units`).

    ``keys``: every unit id, ``(article, units in that article, position)``, in document
    order; ``ids``: language -> the indices into ``keys`` of its units, in document order;
    ``texts``: language -> their texts, in the same order.
    """

    keys: list[tuple[int, int, int]]
    ids: dict[str, list[int]]
    texts: dict[str, list[str]]

    def slots(self) -> np.ndarray:
        """int64 ``(n_languages, most units of a language)``: the key index of each language's
        unit in order, ``-1`` past its last (the layout of :func:`language_states`)."""
        out = np.full((len(self.ids), max(map(len, self.ids.values()))), -1, dtype=np.int64)
        for row, ids in enumerate(self.ids.values()):
            out[row, :len(ids)] = ids
        return out


def pairwise_units(units: Mapping[str, Sequence[UnitLike]], max_units: int | None = None
                   ) -> Units:
    """Each language's units, identified so that two languages align on the units both hold.

    The rule: unit ``(article, position)`` of language a names the same text as that of b
    when both split the article into the same number of units (a position in an article
    split differently would name other text); so a unit's key is ``(article, units in the
    article, position)``, and a pair of languages aligns on the keys both hold. Blank units
    are left out (their article keeps its count). Each language keeps ``max_units`` of its
    units (all when ``None``): those whose keys the most languages hold, ties in document
    order (so a language that splits the preamble its own way keeps articles it shares
    rather than its own preamble), then in document order. Every language has points for the
    ILO score whatever the others hold; the number aligned differs from pair to pair.
    """
    if not units:
        raise LanggeoError("interlingua: no language has parallel text")
    per_language: dict[str, list[tuple[tuple[int, int, int], str]]] = {}
    for language, items in units.items():
        articles: dict[int, list[tuple[int, str]]] = {}
        for unit in items:
            articles.setdefault(unit.article, []).append((unit.position, unit.text))
        kept = [((article, len(v), i), text) for article, v in sorted(articles.items())
                for i, (_, text) in enumerate(sorted(v)) if text.strip()]
        if not kept:
            raise LanggeoError(f"interlingua: the text of language {language!r} has no units")
        per_language[language] = kept
    if max_units is not None:
        held = Counter(key for kept in per_language.values() for key, _ in kept)
        for language, kept in per_language.items():
            best = sorted(range(len(kept)), key=lambda i, k=kept: (-held[k[i][0]], i))
            per_language[language] = [kept[i] for i in sorted(best[:max_units])]
    keys = sorted({key for kept in per_language.values() for key, _ in kept})
    index = {key: i for i, key in enumerate(keys)}
    return Units(keys, {lang: [index[key] for key, _ in kept]
                        for lang, kept in per_language.items()},
                 {lang: [text for _, text in kept] for lang, kept in per_language.items()})


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
    """:func:`unit_states` of every language's units, batched together across languages, as
    ``(n_layers + 1, n_languages, most units of a language, hidden)`` float32 in the order of
    ``texts``; a language with fewer units has zero vectors after its last (the ``-1`` of
    :meth:`Units.slots`)."""
    counts = [len(t) for t in texts.values()]
    flat = [unit for t in texts.values() for unit in t]
    states = unit_states(model, tokenizer, flat, pooling, batch_size,
                         desc=f"hidden states ({len(texts)} languages)")
    out = np.zeros((states.shape[0], len(counts), max(counts), states.shape[2]),
                   dtype=np.float32)
    for row, (start, count) in enumerate(zip(np.cumsum([0, *counts[:-1]]), counts)):
        out[:, row, :count] = states[:, start:start + count]
    return out
