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

from langgeo import LanggeoError, usable_cores
from langgeo.signatures import METADATA_KEY, SCHEMA, Signature, binary_views
from langgeo.storage import check_parquet_files, write_parquet

if TYPE_CHECKING:
    from langgeo.factors import Factors

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


def _accumulate(matrices: Iterable[tuple[str, int, Sequence[np.ndarray]]], n: int,
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
            upper = sum(pool.map(lambda s: _span_counts(rows, s[0], s[1], block_bytes), spans))
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
    return _accumulate(stream, len(signatures), group_by, block_bytes, threads)


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
    return _accumulate(stream, len(paths), group_by, block_bytes, threads)


def hamming_from_factor_files(paths: Sequence[str | os.PathLike[str]], model_or_weights,
                              group_by: GroupBy | None = module_groups,
                              block_bytes: int = BLOCK_BYTES,
                              threads: int | None = None) -> HammingCounts:
    """:func:`hamming_from_files` for signatures stored as factor files alone
    (``signatures.store_bits: false``).

    Each language's bits are rebuilt exactly from its factor file and the model's weights
    (:func:`langgeo.signatures.bits_from_factors`, which refuses weights of another identity)
    and kept packed, ``n_bits / 8`` bytes per language (12.5 MB for Gemma 3 270M), so the
    cost is one scoring pass per language (seconds) instead of a file read.

    Parameters
    ----------
    paths : ``<language>.factors.parquet`` files of one (model, dataset).
    model_or_weights : the model the factors were computed with (loaded as the signature
        stage loads it), or a mapping module name -> weight ``(out, in)``.
    """
    from tqdm import tqdm

    from langgeo.signatures import bits_from_factors

    packed: list[dict[str, np.ndarray]] = []
    sizes: dict[str, int] = {}
    for path in tqdm(paths, desc="bits from factors", unit="lang"):
        bits = bits_from_factors(model_or_weights, path)
        sizes = {m: int(b.size) for m, b in bits.items()}
        packed.append({m: np.packbits(b.reshape(-1)) for m, b in bits.items()})
        del bits
    # pop: each matrix's packed bits are freed once counted.
    stream = ((m, n_bits, [p.pop(m) for p in packed]) for m, n_bits in sizes.items())
    return _accumulate(stream, len(paths), group_by, block_bytes, threads)


def distances_from_files(paths: Sequence[str | os.PathLike[str]]) -> np.ndarray:
    """Normalized Hamming distance matrix ``(n, n)`` between signature files, streamed."""
    return hamming_from_files(paths, group_by=None).distances()[TOTAL]


def _score_blocks(scores: np.ndarray | Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    blocks = [scores] if isinstance(scores, np.ndarray) else scores
    n = None
    for block in blocks:
        block = np.asarray(block, dtype=np.float64)
        if block.ndim != 2 or (n is not None and block.shape[0] != n):
            raise LanggeoError(f"score blocks must be (n_languages, n_values) with the same "
                               f"n_languages; got shape {block.shape}")
        if not np.isfinite(block).all():
            raise LanggeoError("scores contain NaN or infinity; drop or fix those values first")
        n = block.shape[0]
        yield block


def l2_distances(scores: np.ndarray | Iterable[np.ndarray]) -> np.ndarray:
    """Mean squared difference between per-language score vectors.

    Parameters
    ----------
    scores : float array ``(n_languages, n_values)``, or an iterable of column blocks
        ``(n_languages, m_k)`` (the same values split into pieces, streamed).

    Returns
    -------
    ``(n, n)`` float64, ``d(a, b) = ‖a − b‖² / n_values``. Dividing by the number of values
    makes it independent of how many weights were sampled, and on 0/1 vectors it *is* the
    normalized Hamming distance, so it is the continuous counterpart of the signature
    distance; like it, it is a squared Euclidean distance, which the ``sqrt`` transform of
    the embedding embeds exactly. It keeps the scores' units (squared): put them on a common
    scale first (e.g. log or per-matrix ranks) or use :func:`cosine_distances`.
    """
    gram, m = None, 0
    for block in _score_blocks(scores):
        # Distances do not change when the same vector is subtracted from every language;
        # centering each value across languages avoids cancellation in |a|² + |b|² − 2a·b.
        block = block - block.mean(axis=0)
        g = block @ block.T
        gram = g if gram is None else gram + g
        m += block.shape[1]
    if gram is None or m == 0:
        raise LanggeoError("no score values given")
    sq = np.diag(gram)
    d = np.maximum(sq[:, None] + sq[None, :] - 2 * gram, 0) / m
    np.fill_diagonal(d, 0)
    return d


def cosine_distances(scores: np.ndarray | Iterable[np.ndarray]) -> np.ndarray:
    """Cosine distance ``1 − a·b / (‖a‖ ‖b‖)`` between per-language score vectors.

    Parameters
    ----------
    scores : as for :func:`l2_distances`.

    Returns
    -------
    ``(n, n)`` float64 in ``[0, 2]`` (``[0, 1]`` for nonnegative scores such as importance).
    Invariant to rescaling any language's scores, so no normalization is needed for scale;
    on vectors centered per language it is ``1 − Pearson r``. Not a squared Euclidean
    distance in general: embed it with ``distance_transform: none`` or take ``2 · d``, which
    is the squared distance between the unit-normalized vectors.
    """
    gram = None
    for block in _score_blocks(scores):
        g = block @ block.T
        gram = g if gram is None else gram + g
    if gram is None:
        raise LanggeoError("no score values given")
    norms = np.sqrt(np.diag(gram))
    if (norms == 0).any():
        raise LanggeoError(f"score vectors of languages {np.flatnonzero(norms == 0).tolist()} "
                           "are all zero; cosine distance is undefined for them")
    d = np.clip(1 - gram / np.outer(norms, norms), 0, 2)
    np.fill_diagonal(d, 0)
    return d


def check_matrix(distances: np.ndarray, codes: Sequence[str] | None = None, *,
                 what: str = "distance matrix", min_languages: int = 1,
                 hint: str = "") -> np.ndarray:
    """``distances`` as a float64 ``(n, n)`` array, after checking that it is finite,
    symmetric and non-negative with a zero diagonal, has at least ``min_languages`` rows and,
    when ``codes`` are given, one row per code with distinct codes.

    Raises ``LanggeoError`` naming ``what``, followed by ``hint`` (what the caller should do).
    """
    d = np.asarray(distances, dtype=np.float64)
    advice = f"; {hint}" if hint else ""
    if codes is not None:
        if d.shape != (len(codes), len(codes)):
            raise LanggeoError(f"{what} has shape {d.shape} but there are {len(codes)} "
                               f"language codes{advice}")
        if len(set(codes)) != len(codes):
            raise LanggeoError(f"{what}: language codes are not distinct{advice}")
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise LanggeoError(f"{what} must be square, got shape {d.shape}{advice}")
    if d.shape[0] < min_languages:
        raise LanggeoError(f"{what} must cover at least {min_languages} languages, got "
                           f"{d.shape[0]}{advice}")
    if not np.isfinite(d).all() or not np.allclose(d, d.T) or (d < 0).any() \
            or np.diag(d).any():
        raise LanggeoError(f"{what} must be finite, symmetric and non-negative with a zero "
                           f"diagonal{advice}")
    return d


def _mean_off_diagonal(matrix: np.ndarray) -> float:
    n = len(matrix)
    return float(matrix[~np.eye(n, dtype=bool)].mean())


def ensemble(matrices: Sequence[tuple[Sequence[str], np.ndarray]],
             normalize: bool = True) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Average distance matrices of several (model, dataset) pairs over their languages.

    Parameters
    ----------
    matrices : ``(codes, matrix)`` per pair; ``matrix`` is ``(len(codes), len(codes))``,
        symmetric, zero diagonal. Pairs may cover different languages.
    normalize : divide each matrix by its mean off-diagonal distance ``s_k`` first, and
        multiply the mean by the mean of the ``s_k``. The level of signature distances
        differs between models, datasets and score formulas; without this the input with the
        largest distances would dominate the geometry. Dividing by a
        positive number keeps each matrix's shape, and a positive combination of squared
        Euclidean distances is still one, so the ``sqrt`` embedding stays exact. The final
        rescaling keeps values in the inputs' units: with one input, or inputs of equal
        level, the result is their plain mean. ``s_k`` is taken over each matrix's own
        language pairs, so an input covering only closely related languages has a small
        ``s_k`` and is scaled up; with ``False`` the matrices are averaged as they are.

    Returns
    -------
    codes : union of the languages, in order of first appearance.
    matrix : ``(n, n)`` float64, each entry the mean over the inputs that hold both
        languages.
    coverage : ``(n, n)`` int64, how many inputs hold both languages (diagonal: hold it).

    Raises ``LanggeoError`` when some pair of languages is covered by no input.
    """
    if not matrices:
        raise LanggeoError("no distance matrices to combine")
    codes: list[str] = []
    for k, (c, m) in enumerate(matrices):
        check_matrix(m, c, what=f"distance matrix {k}")
        codes += [x for x in c if x not in codes]
    index = {c: i for i, c in enumerate(codes)}
    n = len(codes)
    total = np.zeros((n, n))
    coverage = np.zeros((n, n), dtype=np.int64)
    scales = []
    for k, (c, m) in enumerate(matrices):
        scale = 1.0
        if normalize:
            scale = _mean_off_diagonal(np.asarray(m, dtype=np.float64)) if len(c) > 1 else 0.0
            if not scale > 0:
                raise LanggeoError(f"distance matrix {k} ({', '.join(c[:5])}…) has no positive "
                                   "off-diagonal mean to normalize by; drop it or pass "
                                   "normalize=False")
        scales.append(scale)
    # One factor per input, mean(scales) / scale: exactly 1.0 for a single input or equal
    # levels, so then the result is the plain mean, bit for bit.
    mean_scale = float(np.mean(scales))
    for (c, m), scale in zip(matrices, scales):
        at = np.array([index[x] for x in c])
        total[np.ix_(at, at)] += np.asarray(m, dtype=np.float64) * (mean_scale / scale)
        coverage[np.ix_(at, at)] += 1
    missing = np.argwhere(np.triu(coverage == 0, 1))
    if len(missing):
        pairs = ", ".join(f"{codes[i]}-{codes[j]}" for i, j in missing[:10])
        raise LanggeoError(f"{len(missing)} language pairs are in no (model, dataset) distance "
                           f"matrix (e.g. {pairs}); add a dataset covering both languages or "
                           "drop one of them")
    out = total / np.maximum(coverage, 1)
    return codes, out, coverage


def write_matrix(path: str | os.PathLike[str], codes: Sequence[str], matrix: np.ndarray) -> None:
    """A square matrix as Parquet: column ``language`` then one float column per language."""
    columns = {"language": pa.array(list(codes), pa.string())}
    columns.update({c: pa.array(matrix[:, j], pa.float64()) for j, c in enumerate(codes)})
    write_parquet(pa.table(columns), path)


def write_coverage_matrix(path: str | os.PathLike[str], codes: Sequence[str],
                          coverage: np.ndarray) -> None:
    """How many (model, dataset) pairs hold each pair of languages (diagonal: each language),
    as written by :func:`write_matrix` but int64."""
    columns = {"language": pa.array(list(codes), pa.string())}
    columns.update({c: pa.array(coverage[:, j], pa.int64()) for j, c in enumerate(codes)})
    write_parquet(pa.table(columns), path)


def read_matrix(path: str | os.PathLike[str],
                fix: str = "Restore it with `dvc checkout data/distances` or re-run its stage: "
                           "`dvc repro -f -s distances`") -> tuple[list[str], np.ndarray]:
    """The codes ``(n,)`` and float64 ``(n, n)`` matrix of a file from :func:`write_matrix`.

    A damaged file, or one without the column ``language`` and a column per code, raises a
    LanggeoError naming it, followed by ``fix`` (how to restore it)."""
    if not os.path.isfile(path):
        raise LanggeoError(f"distance matrix {path} not found; run `dvc repro` (stage "
                           "distances) first")
    check_parquet_files([path], fix)
    frame = pd.read_parquet(path)
    codes = frame["language"].astype(str).tolist() if "language" in frame else []
    if not codes or sorted(frame.columns) != sorted(["language", *codes]):
        raise LanggeoError(f"{path} is not a distance matrix (a column 'language', then one "
                           f"column per language it lists). {fix}")
    return codes, frame[codes].to_numpy(dtype=np.float64)


def score_quantiles_from_files(paths: Sequence[str | os.PathLike[str]]) -> np.ndarray:
    """Per-language vectors of sampled importance scores, each turned into its quantile within
    its weight matrix (``(rank - 0.5) / count`` over that matrix's sampled weights).

    Returns ``(n_languages, n_samples)`` float64 in (0, 1). Raw scores differ between layers
    by orders of magnitude; quantiles put every matrix on one scale and are the continuous
    counterpart of the median bits (bit = quantile > 0.5), which makes L2 or cosine distances
    on them the binarization ablation. Files are ``<lang>.scores.parquet`` (see
    :mod:`langgeo.signatures`); they must hold the same positions.
    """
    from scipy.stats import rankdata

    from langgeo.signatures import read_scores

    rows, reference = [], None
    for path in paths:
        meta, table = read_scores(path)
        key = (meta["modules"], table["position"].to_numpy())
        if reference is None:
            reference = key
        elif key[0] != reference[0] or not np.array_equal(key[1], reference[1]):
            raise LanggeoError(f"score sample {path} holds other weights than {paths[0]}; "
                               "recompute the signatures with the same model, seed and "
                               "keep_scores")
        module = table["module_index"].to_numpy()
        score = table["score"].to_numpy(dtype=np.float64)
        quantile = np.empty_like(score)
        for m in np.unique(module):
            take = module == m
            quantile[take] = (rankdata(score[take]) - 0.5) / take.sum()
        rows.append(quantile)
    if not rows:
        raise LanggeoError("no score samples given")
    return np.stack(rows)


#: Floor of a column factor relative to the largest of its Hessian, before the log: a dead
#: input feature (factor 0) then sits far below every live one, as its weights sit at the
#: bottom of the ranking, without an infinite log.
FACTOR_FLOOR = 1e-6


def factor_features(factors: Sequence[Factors]) -> np.ndarray:
    """Log column factors centred per Hessian, one row per language.

    Returns ``(n_languages, n_factors)`` float64: for each Hessian, ``log(max(c, floor))`` minus
    its mean over that Hessian's columns, Hessians in file order. Scaling a Hessian's factors
    by a constant leaves every per-matrix median bit unchanged, and centring removes exactly
    that scale. All inputs must come from the same model weights and score formula.
    """
    if not factors:
        raise LanggeoError("no factor files given")
    first = factors[0].metadata
    rows = []
    for f in factors:
        m = f.metadata
        for key in ("model_identity", "score"):
            if m.get(key) != first.get(key):
                raise LanggeoError(f"factors of {m.get('language')!r} have {key} {m.get(key)!r}, "
                                   f"those of {first.get('language')!r} {first.get(key)!r}; "
                                   "compare factors of one model and score formula only")
        if list(f.factors) != list(factors[0].factors):
            raise LanggeoError(f"factors of {m.get('language')!r} hold other Hessians than those "
                               f"of {first.get('language')!r}")
        parts = []
        for c in f.factors.values():
            c = c.astype(np.float64)
            logs = np.log(np.maximum(c, FACTOR_FLOOR * max(float(c.max()), 1e-300)))
            parts.append(logs - logs.mean())
        rows.append(np.concatenate(parts))
    return np.stack(rows)


def factor_distances(features: np.ndarray, others: np.ndarray | None = None) -> np.ndarray:
    """Mean squared difference of :func:`factor_features` rows: ``(n, n)`` between the rows of
    ``features``, or ``(n, m)`` against the rows of ``others``.

    A squared Euclidean distance (divided by the number of factors), so, like the normalized
    Hamming distance, its square root embeds exactly by classical MDS.
    """
    a = np.asarray(features, dtype=np.float64)
    b = a if others is None else np.asarray(others, dtype=np.float64)
    d = ((a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T) / a.shape[1]
    d = np.maximum(d, 0.0)  # rounding of the expanded square
    if others is None:
        d = (d + d.T) / 2
        np.fill_diagonal(d, 0.0)
    return d


def factor_distances_from_files(paths: Sequence[str | os.PathLike[str]]) -> np.ndarray:
    """``(n, n)`` :func:`factor_distances` between the languages of factor files."""
    from langgeo.factors import read_factors

    return factor_distances(factor_features([read_factors(p) for p in paths]))


def hamming_to_files(signatures: Sequence[Mapping[str, np.ndarray]],
                     paths: Sequence[str | os.PathLike[str]]) -> np.ndarray:
    """Normalized Hamming distances ``(len(signatures), len(paths))`` from signatures held in
    memory (module -> bool mask, e.g. placed texts') to the signature files ``paths``, which
    must hold the same modules and shapes. Each file is read once, one at a time."""
    from langgeo.signatures import read_signature

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
