"""A synthetic ground truth: "languages" made from one real language's text by controlled
transformations of known strength, whose recovered distances must be ordered as the
strengths are.

Transformations (each seeded, applied to the same documents):

- ``substitute``: exactly ``round(rate · N)`` of the N letters of the text (``str.isalpha``)
  are replaced, each by another letter drawn in proportion to the letter frequencies of the
  text itself, so the letter distribution stays about the same and only the words change;
  case is kept.
- ``scramble``: in every document of n whitespace-separated words, ``k = round(strength · n)``
  word positions are drawn and their words rotated along a random cycle, so exactly k words
  leave their position (none when k < 2) and every word is kept.

Each variant's signature is computed exactly as the ``signatures`` stage does (packing,
Hessians, scores, binarization); its distance to the untransformed text (the base) is the
normalized Hamming distance. A ``reference`` variant, other documents of the same language
untransformed, gives the distance that different text alone produces.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr
from tqdm import tqdm

from langgeo import LanggeoError
from langgeo.data.shards import select_documents
from langgeo.formats.signature_file import Signature
from langgeo.geometry.hamming import signature_distances
from langgeo.method.signature import compute
from langgeo.params import SYNTHETIC_TRANSFORMATIONS as TRANSFORMATIONS


def substitute_characters(text: str, rate: float, rng: np.random.Generator) -> str:
    """``text`` with exactly ``round(rate · N)`` of its N letters replaced by other letters.

    Replacements are drawn from the text's own letters, weighted by their frequency, and
    never equal the letter they replace (compared case-insensitively; the case of the
    original is kept).
    """
    if not 0 <= rate <= 1:
        raise LanggeoError(f"substitution rate must lie in [0, 1], got {rate}")
    chars = np.array(list(text), dtype=object)
    letters = np.flatnonzero([c.isalpha() for c in chars])
    k = int(round(rate * len(letters)))
    if k == 0:
        return text
    lower = np.array([_fold(c) for c in chars[letters]], dtype=object)
    alphabet, counts = np.unique(lower, return_counts=True)
    if len(alphabet) < 2:
        raise LanggeoError("substitution needs a text with at least two distinct letters")
    chosen = np.sort(rng.choice(len(letters), size=k, replace=False))
    original = lower[chosen]
    weights = counts / counts.sum()
    new = alphabet[rng.choice(len(alphabet), size=k, p=weights)]
    # Redraw collisions with the original letter until none is left (few rounds: a letter's
    # own share is small), which keeps the draw seeded and exact.
    clash = new == original
    while clash.any():
        new[clash] = alphabet[rng.choice(len(alphabet), size=int(clash.sum()), p=weights)]
        clash = new == original
    for position, letter in zip(letters[chosen], new):
        upper = letter.upper()
        chars[position] = upper if chars[position].isupper() and len(upper) == 1 else letter
    return "".join(chars)


def _fold(c: str) -> str:
    # One character in, one out: 'İ'.lower() is two code points, which would change lengths.
    lower = c.lower()
    return lower if len(lower) == 1 else c


def scramble_words(text: str, strength: float, rng: np.random.Generator) -> str:
    """``text`` (one document) with ``k = round(strength · n)`` of its n words moved: k
    positions are drawn and their words rotated one step along a random cycle, so each of
    them leaves its position; fewer than 2 positions leave the text unchanged. Words are
    rejoined with single spaces."""
    if not 0 <= strength <= 1:
        raise LanggeoError(f"scrambling strength must lie in [0, 1], got {strength}")
    words = text.split()
    k = int(round(strength * len(words)))
    if k < 2:
        return text
    cycle = rng.permutation(rng.choice(len(words), size=k, replace=False))
    moved = list(words)
    for src, dst in zip(cycle, np.roll(cycle, 1)):
        moved[dst] = words[src]
    return " ".join(moved)


@dataclass(frozen=True)
class Variant:
    """One synthetic language: ``transformation`` (``base``, ``reference`` or one of
    :data:`TRANSFORMATIONS`) at ``strength`` (0 for base, NaN for reference), its
    documents, and the share of letters (substitute) or words (scramble) actually changed."""

    transformation: str
    strength: float
    documents: tuple[str, ...]
    realized: float

    @property
    def name(self) -> str:
        if self.transformation in ("base", "reference"):
            return self.transformation
        return f"{self.transformation}@{self.strength:g}"


def _realized(transformation: str, before: Sequence[str], after: Sequence[str]) -> float:
    if transformation == "substitute":
        pairs = [(a, b) for x, y in zip(before, after) for a, b in zip(x, y) if a.isalpha()]
        return sum(a != b for a, b in pairs) / max(len(pairs), 1)
    # Moved words, counted by position; a word moved onto an identical word counts as kept.
    moved = total = 0
    for x, y in zip(before, after):
        words, new = x.split(), y.split()
        total += len(words)
        moved += sum(a != b for a, b in zip(words, new)) if len(new) == len(words) else 0
    return moved / max(total, 1)


#: The base text gets this much more than ``tokens``: a transformed variant may tokenize
#: into fewer tokens than its source (scrambling rejoins words with single spaces).
BASE_MARGIN = 1.25


def base_and_reference(documents: Iterable[str], tokenizers: Sequence, tokens: int,
                       seq_len: int, language: str, dataset: str
                       ) -> tuple[list[str], list[str]]:
    """Two disjoint runs of ``documents`` (read lazily, in their calibration order): the base,
    enough for ``BASE_MARGIN · tokens`` tokens with every tokenizer, and the reference,
    enough for ``tokens``, from the documents after it."""
    stream = iter(documents)
    margin = -(-int(tokens * BASE_MARGIN) // seq_len) * seq_len
    try:
        base = select_documents(stream, tokenizers, margin, seq_len, language, dataset)
        reference = select_documents(stream, tokenizers, tokens, seq_len, language, dataset)
    except LanggeoError as exc:
        raise LanggeoError(f"synthetic: {language!r} needs text for {margin} + {tokens} "
                           f"tokens (base and reference text): {exc}") from exc
    return base, reference


def make_variants(base: Sequence[str], reference: Sequence[str],
                  transformations: Mapping[str, Sequence[float]], seed: int) -> list[Variant]:
    """The base, every (transformation, strength) variant of it, and the reference.

    Every variant draws from its own generator, seeded by ``seed``, the transformation and
    the strength, so adding or removing one leaves the others unchanged. Substitution runs
    over the base documents joined by newlines (so the rate is exact over the whole text);
    scrambling runs per document (words stay in their sentence).
    """
    if not base or not reference:
        raise LanggeoError("synthetic variants need base and reference documents")
    base, reference = tuple(base), tuple(reference)
    variants = [Variant("base", 0.0, base, 0.0)]
    for transformation, strengths in transformations.items():
        if transformation not in TRANSFORMATIONS:
            raise LanggeoError(f"unknown transformation {transformation!r}; choose from "
                               f"{list(TRANSFORMATIONS)}")
        for strength in strengths:
            rng = np.random.default_rng(
                [seed, TRANSFORMATIONS.index(transformation), int(round(strength * 1e6))])
            if transformation == "substitute":
                joined = substitute_characters("\n".join(base), strength, rng)
                changed = tuple(joined.split("\n"))
                if len(changed) != len(base):
                    raise LanggeoError("base documents must not contain newlines")
            else:
                changed = tuple(scramble_words(d, strength, rng) for d in base)
            realized = _realized(transformation, base, changed)
            if transformation == "scramble" and realized < strength / 2:
                raise LanggeoError(
                    f"scramble@{strength:g} moved only {realized:.1%} of the words: the base "
                    "language's documents have too few space-separated words (choose a "
                    "language written with spaces between words)")
            variants.append(Variant(transformation, float(strength), changed, realized))
    variants.append(Variant("reference", float("nan"), reference, float("nan")))
    return variants


def signature(model: torch.nn.Module, tokenizer, documents: Sequence[str], tokens: int,
              seq_len: int, score: str, binarization: str, damping: float, batch_size: int,
              label: str = "variant", hessian_dtype: str = "float32") -> Signature:
    """The in-memory signature of ``documents`` (:func:`langgeo.method.signature.compute` on
    the shortest prefix giving ``tokens`` tokens), packed for Hamming distances."""
    chosen = select_documents(documents, [tokenizer], tokens, seq_len, label, "synthetic")
    bits = compute(model, tokenizer, chosen, tokens, seq_len, score, binarization, damping,
                   batch_size, hessian_dtype=hessian_dtype, name=label).bits
    return Signature(metadata={"language": label}, modules=list(bits),
                     shapes={m: tuple(b.shape) for m, b in bits.items()},
                     packed={m: np.packbits(b.reshape(-1)) for m, b in bits.items()})


def ordering_check(strengths: Sequence[float], distances: Sequence[float]) -> tuple[float, bool]:
    """Spearman correlation of distances with strengths, and whether every stronger
    transformation lies strictly farther from the base (the check passes only then, i.e.
    at ρ = 1 with no ties)."""
    order = np.argsort(strengths)
    d = np.asarray(distances, dtype=np.float64)[order]
    if len(d) < 2:
        raise LanggeoError("the ordering check needs at least two strengths")
    rho = float(spearmanr(np.asarray(strengths)[order], d)[0]) if np.ptp(d) > 0 else 0.0
    return rho, bool(np.all(np.diff(d) > 0))


def synthetic_distances(model: torch.nn.Module, tokenizer, variants: Sequence[Variant],
                        tokens: int, seq_len: int, score: str, binarization: str,
                        damping: float, batch_size: int, model_name: str = "model",
                        hessian_dtype: str = "float32") -> pd.DataFrame:
    """One row per variant but the base: ``model``, ``transformation``, ``strength``,
    ``realized`` (share changed), ``distance`` (normalized Hamming distance to the base),
    and per transformation ``spearman`` and ``passed`` (:func:`ordering_check`; empty for
    the reference)."""
    start = time.perf_counter()
    signatures = [signature(model, tokenizer, v.documents, tokens, seq_len, score,
                            binarization, damping, batch_size, v.name, hessian_dtype)
                  for v in tqdm(variants, desc=f"synthetic ({model_name})", unit="variant")]
    to_base = signature_distances(signatures)[0]
    rows = pd.DataFrame({"model": model_name,
                         "transformation": [v.transformation for v in variants],
                         "strength": [v.strength for v in variants],
                         "realized": [v.realized for v in variants],
                         "distance": to_base})
    rows = rows[rows["transformation"] != "base"].reset_index(drop=True)
    rows["spearman"], rows["passed"] = np.nan, pd.array([pd.NA] * len(rows), dtype="boolean")
    for transformation, group in rows.groupby("transformation", sort=False):
        if transformation == "reference":
            continue
        rho, passed = ordering_check(group["strength"].to_numpy(), group["distance"].to_numpy())
        rows.loc[group.index, "spearman"] = rho
        rows.loc[group.index, "passed"] = passed
    rows.attrs["seconds"] = time.perf_counter() - start
    return rows


def summary_line(table: pd.DataFrame) -> str:
    """``synthetic: <model> substitute rho 1.00 pass, ...; reference distance ...``."""
    parts = []
    for model, rows in table.groupby("model", sort=False):
        checks = rows[rows["transformation"] != "reference"].drop_duplicates("transformation")
        ref = rows.loc[rows["transformation"] == "reference", "distance"]
        parts.append(f"{model}: " + ", ".join(
            f"{r.transformation} rho {r.spearman:.2f} {'pass' if r.passed else 'FAIL'}"
            for r in checks.itertuples())
            + (f"; reference (other text) {ref.iloc[0]:.4f}" if len(ref) else ""))
    return "synthetic: " + " | ".join(parts)
