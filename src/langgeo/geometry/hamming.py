"""Distances between languages: Hamming between signatures (normalized by the number of bits,
values in [0, 1]), per group of weight matrices, on continuous scores, and their ensemble.

Memory of the streamed Hamming pass (:func:`hamming_from_files`): each file is read one
Parquet row group at a time, so with ``n`` files, ``t`` threads and blocks of ``b`` bytes
the peak is about ``n × (largest row group's bits) + t × 2.2 × n × b + (groups + t + 1) × 8n²``
bytes, plus one row group being decoded. Files written with one row group per weight matrix
(``row_group_size=1``) hold one matrix per file; a file written as one row group (the
``write_table`` default) is held whole, because its ``bits`` column is then a single
dictionary page that pyarrow decodes in full on first read.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from langgeo import LanggeoError
from langgeo._util import usable_cores
from langgeo.formats.signature_file import METADATA_KEY, SCHEMA, Signature, binary_views

if TYPE_CHECKING:
    pass


# 1023 words per block: the 64-bit popcounts of a row then sum to at most 64 · 1023 < 2**16,
# so the per-pair sum can run in uint16, several times faster than widening to int64. 8 KiB
# per language keeps the block and its temporaries in L2 for ~100 languages.
BLOCK_BYTES = 1023 * 8


_NARROW_SUM_WORDS = 1023


TOTAL = ("all", "all")


ATTENTION_NAMES = frozenset({"self_attn", "attn", "attention", "self_attention"})


MLP_NAMES = frozenset({"mlp", "feed_forward", "ffn", "block_sparse_moe"})


GroupBy = Callable[[str], Mapping[str, str]]


def _span_counts(rows: Sequence[np.ndarray], lo: int, hi: int, block_bytes: int) -> np.ndarray:
    """Differing bits between every pair of ``rows`` over their bytes ``[lo, hi)``.

    Returns int64 ``(n, n)``, upper triangle only. Each block of ``block_bytes`` is copied
    into one zero-padded uint64 buffer (popcounts on 64-bit words are several times faster
    than on bytes), then row ``i`` is compared with all later rows at once in three
    vectorised passes (XOR, popcount, sum) that reuse preallocated buffers.
    """
    n = len(rows)
    out = np.zeros((n, n), dtype=np.int64)
    if n < 2 or hi <= lo:
        return out
    n_words = -(-min(block_bytes, hi - lo) // 8)
    block = np.zeros((n, n_words), dtype=np.uint64)
    block_bytes_view = block.view(np.uint8)
    xor = np.empty((n - 1, n_words), dtype=np.uint64)
    ones = np.empty((n - 1, n_words), dtype=np.uint8)
    for start in range(lo, hi, block_bytes):
        width = min(start + block_bytes, hi) - start
        words = -(-width // 8)
        for j, row in enumerate(rows):
            block_bytes_view[j, :width] = row[start:start + width]
        block_bytes_view[:, width:words * 8] = 0
        sum_dtype = np.uint16 if words <= _NARROW_SUM_WORDS else np.int64
        # XOR through uint8 views: numpy's broadcast XOR is ~1.5× faster on bytes than on
        # uint64 here; the popcount then reads the same buffer as uint64.
        current = block_bytes_view[:, :words * 8]
        for i in range(n - 1):
            x = xor[:n - 1 - i, :words]
            c = ones[:n - 1 - i, :words]
            np.bitwise_xor(current[i + 1:], current[i], out=x.view(np.uint8))
            np.bitwise_count(x, out=c)
            out[i, i + 1:] += c.sum(axis=1, dtype=sum_dtype)
    return out


def pairwise_hamming(rows: np.ndarray, block_bytes: int = BLOCK_BYTES) -> np.ndarray:
    """Bit differences between every pair of packed rows.

    ``rows``: uint8, shape ``(n, n_bytes)``. Returns int64 ``(n, n)``, symmetric, zero
    diagonal. Columns are processed in blocks of ``block_bytes`` so temporary memory stays
    ``O(n · block_bytes)`` whatever the signature length.
    """
    upper = _span_counts(list(rows), 0, rows.shape[1], block_bytes)
    return upper + upper.T


def module_groups(module: str) -> dict[str, str]:
    """Group keys of one weight matrix, by family: ``layer``, ``part`` and ``module``.

    Rule, on the dot-separated components of the name (block linears are named
    ``<list of blocks>.<index>.<path inside the block>``): the first all-digit component is
    the block index, ``layer`` (``"none"`` if there is none); the components after it form
    ``module`` (e.g. ``self_attn.q_proj``, ``mlp.down_proj``; the whole name without an
    index); ``part`` is ``attention`` if one of those components is in
    :data:`ATTENTION_NAMES`, else ``mlp`` if one is in :data:`MLP_NAMES`, else ``other``.
    Every matrix gets one value per family, so each family partitions the signature.

    >>> module_groups("model.layers.3.self_attn.q_proj")
    {'layer': '3', 'part': 'attention', 'module': 'self_attn.q_proj'}
    """
    parts = module.split(".")
    index = next((k for k, p in enumerate(parts) if p.isdigit()), None)
    inner = parts if index is None else parts[index + 1:]
    part = ("attention" if ATTENTION_NAMES.intersection(inner) else
            "mlp" if MLP_NAMES.intersection(inner) else "other")
    return {"layer": "none" if index is None else parts[index], "part": part,
            "module": ".".join(inner)}


@dataclass
class HammingCounts:
    """Differing bits between every pair of signatures, in total and per group of matrices.

    Keys are ``(family, group)``, e.g. ``("layer", "3")``, ``("part", "mlp")``,
    ``("module", "self_attn.q_proj")``; :data:`TOTAL` is ``("all", "all")``. Groups appear in
    the order of the signature's matrices (forward order).

    Attributes
    ----------
    counts : key -> int64 ``(n, n)``, symmetric, zero diagonal: bits that differ.
    bits : key -> number of bits (weights) in the group.
    matrices : key -> number of weight matrices in the group.
    """

    counts: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    bits: dict[tuple[str, str], int] = field(default_factory=dict)
    matrices: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, key: tuple[str, str], counts: np.ndarray, n_bits: int) -> None:
        """Add one weight matrix's ``counts`` ``(n, n)`` and its ``n_bits`` to group ``key``."""
        if key in self.counts:
            self.counts[key] += counts
        else:
            self.counts[key] = counts.copy()
        self.bits[key] = self.bits.get(key, 0) + n_bits
        self.matrices[key] = self.matrices.get(key, 0) + 1

    def distances(self) -> dict[tuple[str, str], np.ndarray]:
        """key -> normalized Hamming distance ``(n, n)`` (float64, differing bits / group bits).

        Within a family, ``Σ_g bits[g] · d_g = bits[TOTAL] · d_total`` exactly."""
        return {key: c / self.bits[key] for key, c in self.counts.items()}

    def summary(self) -> pd.DataFrame:
        """One row per group: ``family``, ``group``, ``matrices``, ``bits``, ``share`` (of all
        bits), ``mean`` and ``std`` of the off-diagonal distances, and ``corr_total``, the
        Pearson correlation of its off-diagonal distances with the total's (how much the
        group alone reproduces the geometry)."""
        distances = self.distances()
        upper = np.triu_indices(len(distances[TOTAL]), 1)
        total = distances[TOTAL][upper]
        rows = []
        for (family, group), d in distances.items():
            pairs = d[upper]
            corr = (float(np.corrcoef(pairs, total)[0, 1])
                    if len(pairs) > 1 and pairs.std() > 0 and total.std() > 0 else float("nan"))
            rows.append({"family": family, "group": group, "matrices": self.matrices[family, group],
                         "bits": self.bits[family, group],
                         "share": self.bits[family, group] / self.bits[TOTAL],
                         "mean": float(pairs.mean()) if len(pairs) else float("nan"),
                         "std": float(pairs.std()) if len(pairs) else float("nan"),
                         "corr_total": corr})
        # Family by family (all, layer, part, module), groups in forward order within each.
        families = list(dict.fromkeys(family for family, _ in self.counts))
        return pd.DataFrame(sorted(rows, key=lambda r: families.index(r["family"])))


def _spans(n_bytes: int, block_bytes: int, threads: int) -> list[tuple[int, int]]:
    """``threads`` contiguous byte ranges, cut at block boundaries, covering ``n_bytes``."""
    blocks = -(-n_bytes // block_bytes)
    per = max(-(-blocks // max(threads, 1)), 1) * block_bytes
    return [(lo, min(lo + per, n_bytes)) for lo in range(0, n_bytes, per)] or [(0, 0)]


def hamming_counts(matrices: Iterable[tuple[str, int, Sequence[np.ndarray]]], n: int,
                group_by: GroupBy | None, block_bytes: int, threads: int | None) -> HammingCounts:
    """Sum per-matrix Hamming counts into the total and each group of ``group_by``.

    ``matrices`` yields ``(name, n_bits, rows)``, ``rows`` the ``n`` packed uint8 arrays of
    one weight matrix. A matrix's byte range is split across ``threads`` workers (numpy
    releases the GIL inside its loops).
    """
    if block_bytes < 1:
        raise LanggeoError(f"block_bytes must be >= 1, got {block_bytes}")
    if not threads:
        threads = usable_cores()
    result = HammingCounts({TOTAL: np.zeros((n, n), dtype=np.int64)}, {TOTAL: 0}, {TOTAL: 0})
    with ThreadPoolExecutor(threads) as pool:
        for name, n_bits, rows in matrices:
            spans = _spans(len(rows[0]), block_bytes, threads)
            upper = sum(pool.map(
                lambda s, rows=rows: _span_counts(rows, s[0], s[1], block_bytes), spans))
            counts = upper + upper.T
            result.add(TOTAL, counts, n_bits)
            if group_by is not None:
                for family, group in group_by(name).items():
                    result.add((family, group), counts, n_bits)
            del rows  # free this matrix's bits before the next one is read
    return result


def _check_same_layout(layouts: Sequence[tuple[str, list[str], list[tuple[int, ...]]]]) -> None:
    if not layouts:
        raise LanggeoError("no signatures given; list at least one signature file")
    first_name, modules, shapes = layouts[0]
    for name, other_modules, other_shapes in layouts[1:]:
        if other_modules != modules or other_shapes != shapes:
            raise LanggeoError(
                f"signatures of {first_name} and {name} cover different weight matrices; "
                "recompute them with the same model")


def hamming_from_signatures(signatures: Sequence[Signature],
                            group_by: GroupBy | None = module_groups,
                            block_bytes: int = BLOCK_BYTES,
                            threads: int | None = None) -> HammingCounts:
    """Hamming counts, total and per group, between signatures already in memory.

    ``group_by`` maps a module name to ``{family: group}`` (default :func:`module_groups`);
    ``None`` computes the total only. ``threads`` defaults to the usable CPUs.
    """
    _check_same_layout([(s.metadata.get("language"), s.modules,
                         [tuple(s.shapes[m]) for m in s.modules]) for s in signatures])
    first = signatures[0]
    stream = ((m, int(np.prod(first.shapes[m])), [s.packed[m] for s in signatures])
              for m in first.modules)
    return hamming_counts(stream, len(signatures), group_by, block_bytes, threads)


def signature_distances(signatures: Sequence[Signature]) -> np.ndarray:
    """Normalized Hamming distance matrix ``(n, n)`` (float64) between signatures of one
    (model, dataset); see :func:`hamming_from_signatures`."""
    result = hamming_from_signatures(signatures, group_by=None)
    return result.distances()[TOTAL]


def _signature_layout(path: str | os.PathLike[str]) -> tuple[pa.Table, pq.FileMetaData]:
    """The small columns of a signature file (module, shape, n_bits) and its Parquet
    metadata, after format checks."""
    if not os.path.isfile(path):
        raise LanggeoError(f"signature file {path} not found; run `dvc repro` (stage "
                           "signatures) first")
    file = pq.ParquetFile(path)
    schema = file.schema_arrow
    if schema.remove_metadata() != SCHEMA or METADATA_KEY not in (schema.metadata or {}):
        raise LanggeoError(f"{path} is not a langgeo signature file (columns {schema.names})")
    return file.read(columns=["module", "shape", "n_bits"]), file.metadata


def _row_group_bits(path: str | os.PathLike[str], metadata: pq.FileMetaData,
                    group: int) -> list[np.ndarray]:
    """The ``bits`` of one row group's rows, as uint8 views into the decoded column."""
    # A fresh reader per row group (the parsed footer is reused, so this costs nothing): an
    # open reader keeps the last page it decoded, for a one-row-group file a copy of all bits.
    column = pq.ParquetFile(path, metadata=metadata).read_row_group(group, columns=["bits"])
    return binary_views(column.column("bits"))


def _packed_rows(path: str | os.PathLike[str], metadata: pq.FileMetaData,
                 n_bytes: Sequence[int]) -> Iterator[np.ndarray]:
    """The ``bits`` of every row in file order, one row group in memory at once."""
    k = 0
    for group in range(metadata.num_row_groups):
        views = _row_group_bits(path, metadata, group)
        bad = next((k + i for i, v in enumerate(views) if len(v) != n_bytes[k + i]), None)
        if bad is not None:
            raise LanggeoError(f"{path}: row {bad} holds {len(views[bad - k])} bytes of bits, "
                               f"expected {n_bytes[bad]}; the file is damaged, recompute it")
        k += len(views)
        yield from views
        del views  # or it would keep this row group alive while the next one is read


def hamming_from_files(paths: Sequence[str | os.PathLike[str]],
                       group_by: GroupBy | None = module_groups,
                       block_bytes: int = BLOCK_BYTES,
                       threads: int | None = None) -> HammingCounts:
    """Hamming counts, total and per group, streamed from signature files.

    All files are first checked to hold the same matrices (names, shapes); then they are read
    in lockstep, one weight matrix of every file at a time, so memory is bounded as stated in
    the module docstring rather than by the size of all signatures.
    """
    layouts = [_signature_layout(p) for p in paths]
    _check_same_layout([(str(p), t.column("module").to_pylist(),
                         [tuple(s) for s in t.column("shape").to_pylist()])
                        for p, (t, _) in zip(paths, layouts)])
    modules = layouts[0][0].column("module").to_pylist()
    n_bits = layouts[0][0].column("n_bits").to_pylist()
    n_bytes = [-(-b // 8) for b in n_bits]
    readers = [_packed_rows(p, metadata, n_bytes) for p, (_, metadata) in zip(paths, layouts)]
    stream = ((m, b, [next(r) for r in readers]) for m, b in zip(modules, n_bits))
    return hamming_counts(stream, len(paths), group_by, block_bytes, threads)


def distances_from_files(paths: Sequence[str | os.PathLike[str]]) -> np.ndarray:
    """Normalized Hamming distance matrix ``(n, n)`` between signature files, streamed."""
    return hamming_from_files(paths, group_by=None).distances()[TOTAL]


def hamming_to_files(signatures: Sequence[Mapping[str, np.ndarray]],
                     paths: Sequence[str | os.PathLike[str]]) -> np.ndarray:
    """Normalized Hamming distances ``(len(signatures), len(paths))`` from signatures held in
    memory (module -> bool mask, e.g. placed texts') to the signature files ``paths``, which
    must hold the same modules and shapes. Each file is read once, one at a time."""
    from langgeo.formats.signature_file import read_signature

    if not signatures:
        raise LanggeoError("hamming_to_files: no signature to compare")
    modules = list(signatures[0])
    shapes = [np.shape(signatures[0][m]) for m in modules]
    if any(list(s) != modules or [np.shape(s[m]) for m in modules] != shapes
           for s in signatures):
        raise LanggeoError("hamming_to_files: the signatures hold different weight matrices")
    n_bits = sum(int(np.prod(shape)) for shape in shapes)
    # Each signature as one zero-padded buffer, compared as uint64 words: a popcount per
    # module on bytes costs several times more than the reading of the file.
    n_bytes = sum(-(-int(np.prod(shape)) // 8) for shape in shapes)
    words = -(-n_bytes // 8)
    mine = np.zeros((len(signatures), words * 8), dtype=np.uint8)
    for row, bits in zip(mine, signatures):
        np.concatenate([np.packbits(np.asarray(bits[m]).reshape(-1)) for m in modules],
                       out=row[:n_bytes])
    theirs = np.zeros(words * 8, dtype=np.uint8)
    xor = np.empty(words, dtype=np.uint64)
    ones = np.empty(words, dtype=np.uint8)
    out = np.empty((len(signatures), len(paths)))
    for i, path in enumerate(paths):
        other = read_signature(path)
        if other.modules != modules or any(other.shapes[m] != shape
                                           for m, shape in zip(modules, shapes)):
            raise LanggeoError(f"signature {path} holds other weight matrices than the text's; "
                               "compute both with the same model")
        np.concatenate([other.packed[m] for m in modules], out=theirs[:n_bytes])
        for row, packed in enumerate(mine):
            np.bitwise_xor(packed.view(np.uint64), theirs.view(np.uint64), out=xor)
            np.bitwise_count(xor, out=ones)
            out[row, i] = int(ones.sum(dtype=np.int64)) / n_bits
    return out
