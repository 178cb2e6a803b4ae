"""Calibration text per language: sources, deterministic sampling, and token packing.

A calibration shard is the list of documents (in sampled order) that a language's signature
is computed from. Every model tokenizes the same shard and packs the tokens into
``tokens_per_language // seq_len`` sequences, each ``[BOS] + (seq_len - 1)`` text tokens.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import zlib
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from langgeo import LanggeoError

ELD_FILE = ("tests", "data", "big-test.txt")
ELD_SHA256 = "ee31be9a610048a521f0912ab7735c3fb96e8633b997066989026286a7800efa"
# Lao lines in eld 1.0.6 are broken fragments, not sentences.
ELD_EXCLUDED = frozenset({"lo"})


@lru_cache(maxsize=1)
def eld_documents() -> dict[str, tuple[str, ...]]:
    """Sentences of the ``eld`` test corpus, by ISO 639-1 code (59 languages, 1000 each).

    The file is another project's test data: its checksum is verified so that a silent
    upstream change cannot alter our results.
    """
    try:
        path = importlib.resources.files("eld").joinpath(*ELD_FILE)
        raw = path.read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        raise LanggeoError("the embedded corpus needs the package eld==1.0.6; run "
                           "`make install`") from exc
    digest = hashlib.sha256(raw).hexdigest()
    if digest != ELD_SHA256:
        raise LanggeoError(f"eld corpus {path} has sha256 {digest}, expected {ELD_SHA256}; "
                           "install eld==1.0.6 as pinned in requirements.txt")
    docs: dict[str, list[str]] = {}
    for line in raw.decode("utf-8").splitlines():
        code, _, text = line.partition("\t")
        text = text.strip()
        if code and text and code not in ELD_EXCLUDED:
            docs.setdefault(code, []).append(text)
    return {code: tuple(texts) for code, texts in sorted(docs.items())}


def source_documents(source: str) -> dict[str, tuple[str, ...]]:
    """All documents of a dataset source, by language code."""
    if source == "eld":
        return eld_documents()
    raise LanggeoError(f"unknown dataset source {source!r}")


def check_languages(languages: Sequence[str], available: Sequence[str], dataset: str) -> None:
    unknown = [c for c in languages if c not in available]
    if unknown:
        raise LanggeoError(f"language code(s) {unknown} not in dataset {dataset!r}; known codes: "
                           f"{' '.join(sorted(available))}")


def shuffled(documents: Sequence[str], language: str, seed: int) -> list[str]:
    """Documents in a seeded order that differs per language but not per run."""
    rng = np.random.default_rng([seed, zlib.crc32(language.encode())])
    return [documents[i] for i in rng.permutation(len(documents))]


def document_tokens(tokenizer, documents: Sequence[str]) -> list[list[int]]:
    """Token ids of each document followed by a newline, without special tokens."""
    if not documents:
        return []
    return tokenizer([d + "\n" for d in documents], add_special_tokens=False)["input_ids"]


def text_tokens_needed(tokens_per_language: int, seq_len: int, has_bos: bool) -> int:
    n_seq = tokens_per_language // seq_len
    return n_seq * (seq_len - 1 if has_bos else seq_len)


def select_documents(documents: Sequence[str], tokenizers: Sequence, tokens_per_language: int,
                     seq_len: int, language: str, dataset: str) -> list[str]:
    """The shortest prefix of ``documents`` that gives every tokenizer enough tokens."""
    needed = [text_tokens_needed(tokens_per_language, seq_len, t.bos_token_id is not None)
              for t in tokenizers]
    counts = np.zeros(len(tokenizers), dtype=np.int64)
    chunk, taken = 64, 0
    while taken < len(documents) and (counts < needed).any():
        batch = documents[taken:taken + chunk]
        per_doc = np.array([[len(ids) for ids in document_tokens(t, batch)] for t in tokenizers])
        cum = counts[:, None] + np.cumsum(per_doc, axis=1)
        # First document index at which every tokenizer has reached its need.
        done = (cum >= np.array(needed)[:, None]).all(axis=0)
        if done.any():
            stop = int(np.argmax(done)) + 1
            return list(documents[:taken + stop])
        counts = cum[:, -1]
        taken += len(batch)
    short = int(np.argmin(counts - np.array(needed)))
    raise LanggeoError(
        f"language {language!r} in dataset {dataset!r} has {int(counts[short])} text tokens, "
        f"fewer than the {needed[short]} needed for calibration.tokens_per_language="
        f"{tokens_per_language}; lower it or add text")


def pack_sequences(tokenizer, documents: Sequence[str], tokens_per_language: int,
                   seq_len: int) -> torch.Tensor:
    """Token ids of shape ``(tokens_per_language // seq_len, seq_len)``, int64.

    Each row is ``[BOS]`` (when the tokenizer has one) followed by the next text tokens of
    the concatenated documents, so that no row starts mid-context without a BOS.
    """
    bos = tokenizer.bos_token_id
    need = text_tokens_needed(tokens_per_language, seq_len, bos is not None)
    stream = [i for ids in document_tokens(tokenizer, documents) for i in ids]
    if len(stream) < need:
        raise LanggeoError(f"calibration text has {len(stream)} tokens, fewer than the {need} "
                           "needed; re-run the calibrate stage")
    text = torch.tensor(stream[:need], dtype=torch.int64).view(tokens_per_language // seq_len, -1)
    if bos is None:
        return text
    return torch.cat([torch.full((text.shape[0], 1), bos, dtype=torch.int64), text], dim=1)


def write_shard(path: Path, documents: Sequence[str], metadata: dict[str, str]) -> None:
    """A shard: one row per document, in the order used."""
    table = pa.table({"position": pa.array(range(len(documents)), pa.int64()),
                      "text": pa.array(list(documents), pa.string())})
    pq.write_table(table.replace_schema_metadata(metadata), path)


def read_shard(path: str | Path) -> list[str]:
    if not Path(path).is_file():
        raise LanggeoError(f"calibration shard {path} not found; run `dvc repro` (stage "
                           "calibrate) first")
    return pq.read_table(path, columns=["text"]).column("text").to_pylist()
