"""Calibration shards: the documents a language's signature is computed from, and their tokens.

A shard is one Parquet file per language (``position``, ``text``; for parallel corpora also
``article`` and ``unit``) holding the documents in the order used, the shortest prefix that
gives every model's tokenizer enough tokens. Each model packs them into
``tokens_per_language // seq_len`` sequences, each ``[BOS] + (seq_len - 1)`` text tokens.
``coverage.json`` beside the shards lists which of the params' languages the dataset holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from itertools import islice
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from langgeo import LanggeoError

# Documents tokenized at a time while selecting; streamed ones are read no further ahead.
SELECT_CHUNK = 64


def document_tokens(tokenizer, documents: Sequence[str]) -> list[list[int]]:
    """Token ids of each document followed by a newline, without special tokens."""
    if not documents:
        return []
    return tokenizer([d + "\n" for d in documents], add_special_tokens=False)["input_ids"]


def text_tokens_needed(tokens_per_language: int, seq_len: int, has_bos: bool) -> int:
    n_seq = tokens_per_language // seq_len
    return n_seq * (seq_len - 1 if has_bos else seq_len)


def select_documents(documents: Iterable[str], tokenizers: Sequence, tokens_per_language: int,
                     seq_len: int, language: str, dataset: str) -> list[str]:
    """The shortest prefix of ``documents`` that gives every tokenizer enough tokens.

    ``documents`` may be a lazy stream: it is read ``SELECT_CHUNK`` documents at a time and
    no further than the chunk holding the last document needed.
    """
    needed = [text_tokens_needed(tokens_per_language, seq_len, t.bos_token_id is not None)
              for t in tokenizers]
    counts = np.zeros(len(tokenizers), dtype=np.int64)
    chosen: list[str] = []
    stream = iter(documents)
    while batch := list(islice(stream, SELECT_CHUNK)):
        per_doc = np.array([[len(ids) for ids in document_tokens(t, batch)] for t in tokenizers])
        cum = counts[:, None] + np.cumsum(per_doc, axis=1)
        # First document index at which every tokenizer has reached its need.
        done = (cum >= np.array(needed)[:, None]).all(axis=0)
        if done.any():
            return chosen + batch[:int(np.argmax(done)) + 1]
        chosen += batch
        counts = cum[:, -1]
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


def write_shard(path: Path, documents: Sequence[str], metadata: dict[str, str],
                units: Sequence[tuple[int, int]] | None = None) -> None:
    """A shard: one row per document, in the order used.

    ``units`` adds each document's ``article`` and ``unit`` (position within the article) for
    parallel corpora, so that later stages can align documents across languages.
    """
    columns = {"position": pa.array(range(len(documents)), pa.int64()),
               "text": pa.array(list(documents), pa.string())}
    if units is not None:
        columns["article"] = pa.array([a for a, _ in units], pa.int64())
        columns["unit"] = pa.array([u for _, u in units], pa.int64())
    pq.write_table(pa.table(columns).replace_schema_metadata(metadata), path)


def read_shard(path: str | Path) -> list[str]:
    if not Path(path).is_file():
        raise LanggeoError(f"calibration shard {path} not found; run `dvc repro` (stage "
                           "calibrate) first")
    return pq.read_table(path, columns=["text"]).column("text").to_pylist()


COVERAGE_FILE = "coverage.json"


def write_coverage(folder: Path, dataset: str, present: Sequence[str],
                   absent: Sequence[str]) -> None:
    """Which of the params' languages a dataset holds, beside its shards."""
    (folder / COVERAGE_FILE).write_text(json.dumps(
        {"dataset": dataset, "languages": list(present), "absent": list(absent)}, indent=1))


def shard_languages(folder: Path, languages: Sequence[str]) -> list[str]:
    """The languages of ``languages`` that a calibration folder holds, in order.

    Raises :class:`LanggeoError` when the folder is missing or was written for other
    languages (a stale output: re-run the calibrate stage).
    """
    path = Path(folder) / COVERAGE_FILE
    if not path.is_file():
        raise LanggeoError(f"{path} not found; run `dvc repro` (stage calibrate) first")
    coverage = json.loads(path.read_text())
    known = set(coverage["languages"]) | set(coverage["absent"])
    stale = [lang for lang in languages if lang not in known]
    if stale:
        raise LanggeoError(f"calibration text in {folder} was made without language(s) "
                           f"{stale}; run `dvc repro` to bring it up to date")
    held = set(coverage["languages"])
    return [lang for lang in languages if lang in held]
