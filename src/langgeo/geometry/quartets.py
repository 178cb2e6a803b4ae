"""How far a tree over languages is from a reference classification: the Generalized Quartet
Distance (GQD; Pompei, Loreto & Tria 2011, "On the accuracy of language trees", PLoS ONE), its
leaf-permutation null, and the share of families a tree recovers as clades.

A tree resolves the quartet {a, b, c, d} as ab|cd when, with d the path length between leaves,
``d(a,b) + d(c,d)`` is strictly smaller than both ``d(a,c) + d(b,d)`` and ``d(a,d) + d(b,c)``
(the four-point condition); when no sum is strictly smallest the quartet is a star
(unresolved), as in a multifurcating reference where a node does not split the four. The GQD is
the share of the quartets the *reference* resolves that the inferred tree does not resolve the
same way (differently, or not at all); quartets the reference leaves unresolved are not
counted. 0 is the reference's topology; a tree unrelated to it scores 2/3 on average (one of the
three resolutions agrees by chance).

Trees are :class:`langgeo.geometry.trees.LeafTree` or plain ``(n, n)`` matrices of path
lengths over the same languages in the same order. Up to ``exact_max`` languages every
quartet is enumerated (vectorized, C(n, 4): 3.2 million at n = 95); above, quartets are drawn
uniformly at random (distinct 4-subsets, i.i.d.) and the standard error of each share is
stated. Everything is deterministic given ``seed``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from langgeo import LanggeoError
from langgeo.geometry.trees import LeafTree

__all__ = [
    "CladeRecovery",
    "QuartetDistance",
    "QuartetNull",
    "clade_recovery",
    "gqd",
    "gqd_null",
    "quartet_topologies",
]

#: Default number of quartets drawn above ``exact_max`` languages: a standard error of about
#: 0.0005 on the overall GQD, in seconds.
DEFAULT_SAMPLES = 1_000_000

# Quartets handled at once: bounds the temporaries (about 100 bytes per quartet).
_CHUNK = 400_000

# Topology codes: ab|cd, ac|bd, ad|bc, star.
_AB, _AC, _AD, _STAR = 0, 1, 2, 3


@dataclass(frozen=True)
class QuartetDistance:
    """The GQD of an inferred tree against a reference.

    Attributes
    ----------
    gqd : share of the reference-resolved quartets the inferred tree resolves otherwise, in
        [0, 1]; NaN when the reference resolves none.
    within, across : the same over quartets whose four languages are all in one family, and
        over the others (NaN when there are none, or when no families were given).
    counted, counted_within, counted_across : reference-resolved quartets behind each share.
    examined : quartets looked at: C(n, 4) when exact, the number drawn when sampled.
    exact : whether every quartet was enumerated.
    stderr, stderr_within, stderr_across : standard errors of the three shares when sampled
        (``sqrt(p (1 - p) / counted)``, binomial), None when exact.
    """

    gqd: float
    within: float
    across: float
    counted: int
    counted_within: int
    counted_across: int
    examined: int
    exact: bool
    stderr: float | None = None
    stderr_within: float | None = None
    stderr_across: float | None = None


@dataclass(frozen=True)
class QuartetNull:
    """The leaf-permutation null of the GQD: the inferred tree's leaf labels permuted at
    random, the GQD recomputed on the same quartets.

    Attributes
    ----------
    observed : the GQD of the tree as inferred.
    null : float ``(permutations,)``: the GQD of each permuted tree.
    p_value : ``(1 + #{null <= observed}) / (1 + permutations)`` (a lower GQD is better).
    """

    observed: float
    null: np.ndarray
    p_value: float


@dataclass(frozen=True)
class CladeRecovery:
    """Families found as clades: a family is recovered when some edge of the inferred unrooted
    tree separates exactly its languages from the rest.

    Attributes
    ----------
    share : recovered families / families scored (NaN when none is scored).
    recovered : family -> whether it is recovered, for each family scored: those with at
        least 2 languages and fewer than all of them.
    """

    share: float
    recovered: dict[str, bool]


def _path_lengths(tree: LeafTree | np.ndarray, what: str) -> tuple[np.ndarray, tuple | None]:
    if isinstance(tree, LeafTree):
        matrix, codes = tree.path_lengths, tree.codes
    else:
        matrix, codes = tree, None
    p = np.asarray(matrix)
    if p.ndim != 2 or p.shape[0] != p.shape[1]:
        raise LanggeoError(f"GQD: the {what} tree's path lengths have shape {p.shape}; pass a "
                           "LeafTree or a square (n, n) matrix of path lengths")
    if not np.isfinite(p).all():
        raise LanggeoError(f"GQD: the {what} tree's path lengths hold NaN or infinite values; "
                           "pass the path lengths of a connected tree")
    return p, codes


def _pair(inferred: LeafTree | np.ndarray, reference: LeafTree | np.ndarray,
          families: Sequence[str] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Both path-length matrices (float64) and family ids ``(n,)`` (None: no families)."""
    p_inf, codes_inf = _path_lengths(inferred, "inferred")
    p_ref, codes_ref = _path_lengths(reference, "reference")
    if p_inf.shape != p_ref.shape:
        raise LanggeoError(f"GQD: the inferred tree has {len(p_inf)} leaves but the reference "
                           f"{len(p_ref)}; build both over the same languages")
    if codes_inf is not None and codes_ref is not None and codes_inf != codes_ref:
        raise LanggeoError("GQD: the inferred and reference trees list different languages or "
                           f"orders ({list(codes_inf)[:5]}... vs {list(codes_ref)[:5]}...); "
                           "build both over the same codes in the same order")
    n = len(p_ref)
    if n < 4:
        raise LanggeoError(f"GQD: {n} languages; a quartet needs at least 4")
    family_ids = None
    if families is not None:
        families = [str(f) for f in families]
        if len(families) != n:
            raise LanggeoError(f"GQD: {len(families)} family labels for {n} languages; pass "
                               "one label per language, in the trees' order")
        _, family_ids = np.unique(families, return_inverse=True)
    return p_inf.astype(np.float64), p_ref.astype(np.float64), family_ids


def quartet_topologies(path_lengths: np.ndarray, quartets: np.ndarray) -> np.ndarray:
    """The topology of each quartet in a tree: int8 ``(m,)``, 0 for ab|cd, 1 for ac|bd, 2 for
    ad|bc, 3 for a star (no strictly smallest sum), for the rows ``(a, b, c, d)`` of the int
    ``(m, 4)`` array ``quartets``; ``path_lengths`` is the tree's ``(n, n)`` matrix."""
    p = np.asarray(path_lengths, dtype=np.float64)
    q = np.asarray(quartets, dtype=np.int64)
    return _topology(p.ravel(), _flat_pairs(q, len(p)))


def _flat_pairs(q: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """Flat indices of the six pairs of each quartet, in the order ab, cd, ac, bd, ad, bc."""
    a, b, c, d = (q[:, k].astype(np.intp) for k in range(4))
    return a * n + b, c * n + d, a * n + c, b * n + d, a * n + d, b * n + c


def _topology(flat: np.ndarray, pairs: tuple[np.ndarray, ...]) -> np.ndarray:
    ab, cd, ac, bd, ad, bc = (flat[k] for k in pairs)
    s1, s2, s3 = ab + cd, ac + bd, ad + bc
    t = np.full(s1.shape, _STAR, dtype=np.int8)
    t[(s1 < s2) & (s1 < s3)] = _AB
    t[(s2 < s1) & (s2 < s3)] = _AC
    t[(s3 < s1) & (s3 < s2)] = _AD
    return t


def _all_quartets(n: int) -> Iterator[np.ndarray]:
    """Every quartet a < b < c < d of range(n), as int32 ``(m, 4)`` chunks."""
    # Triples b < c < d, sorted by b: those with b > a are a suffix, so for each a the
    # quartets (a, b, c, d) are one slice, with no Python loop over quartets.
    i, j = np.triu_indices(n, k=1)
    triples = np.concatenate([np.column_stack([np.full(int((i > b).sum()), b), i[i > b],
                                               j[i > b]]) for b in range(n)]).astype(np.int32)
    starts = np.searchsorted(triples[:, 0], np.arange(n + 1), side="left")
    for a in range(n - 3):
        block = triples[starts[a + 1]:]
        for lo in range(0, len(block), _CHUNK):
            part = block[lo:lo + _CHUNK]
            yield np.column_stack([np.full(len(part), a, dtype=np.int32), part])


def _sampled_quartets(n: int, samples: int, seed: int) -> Iterator[np.ndarray]:
    """``samples`` quartets drawn i.i.d. and uniformly among the C(n, 4) 4-subsets, sorted
    within each row, as int32 ``(m, 4)`` chunks."""
    rng = np.random.default_rng([seed, 0x9D])
    left = samples
    while left > 0:
        want = min(left, _CHUNK)
        # Ordered draws with replacement, kept when all four differ: uniform over ordered
        # 4-tuples of distinct languages, so uniform over 4-subsets.
        draw = np.sort(rng.integers(0, n, size=(int(want * 1.2) + 16, 4), dtype=np.int32),
                       axis=1)
        draw = draw[(draw[:, 0] < draw[:, 1]) & (draw[:, 1] < draw[:, 2])
                    & (draw[:, 2] < draw[:, 3])][:want]
        left -= len(draw)
        yield draw


def _tally(inferred: Sequence[np.ndarray], reference: np.ndarray,
           family_ids: np.ndarray | None, chunks: Iterator[np.ndarray]
           ) -> tuple[np.ndarray, np.ndarray, int]:
    """Counts over the quartets of ``chunks``: ``resolved`` int64 ``(2,)`` (reference-resolved
    quartets within a family, across families), ``differ`` int64 ``(len(inferred), 2)`` (of
    those, resolved otherwise by each inferred tree), and the number of quartets examined."""
    n = len(reference)
    ref_flat = reference.ravel()
    inf_flat = [p.ravel() for p in inferred]
    resolved = np.zeros(2, dtype=np.int64)
    differ = np.zeros((len(inferred), 2), dtype=np.int64)
    examined = 0
    for q in chunks:
        examined += len(q)
        pairs = _flat_pairs(q, n)
        t_ref = _topology(ref_flat, pairs)
        keep = t_ref != _STAR
        if family_ids is None:
            within = np.zeros(int(keep.sum()), dtype=bool)
        else:
            f = family_ids[q[keep]]
            within = (f[:, 0] == f[:, 1]) & (f[:, 1] == f[:, 2]) & (f[:, 2] == f[:, 3])
        t_ref = t_ref[keep]
        pairs = tuple(k[keep] for k in pairs)
        n_within = int(within.sum())
        resolved += (n_within, len(t_ref) - n_within)
        for row, flat in enumerate(inf_flat):
            wrong = _topology(flat, pairs) != t_ref
            w = int((wrong & within).sum())
            differ[row] += (w, int(wrong.sum()) - w)
    return resolved, differ, examined


def _chunks(n: int, exact: bool, samples: int, seed: int) -> Iterator[np.ndarray]:
    return _all_quartets(n) if exact else _sampled_quartets(n, samples, seed)


def _share(wrong: int, counted: int) -> float:
    return wrong / counted if counted else math.nan


def _stderr(wrong: int, counted: int) -> float:
    if not counted:
        return math.nan
    p = wrong / counted
    return math.sqrt(p * (1 - p) / counted)


def _check_sampling(exact_max: int, samples: int) -> None:
    if exact_max < 4:
        raise LanggeoError(f"GQD: exact_max is {exact_max}; it must be at least 4")
    if samples < 1:
        raise LanggeoError(f"GQD: samples is {samples}; draw at least 1 quartet (about a "
                           "million gives a standard error near 0.0005)")


def gqd(inferred: LeafTree | np.ndarray, reference: LeafTree | np.ndarray,
        families: Sequence[str] | None = None, exact_max: int = 120,
        samples: int = DEFAULT_SAMPLES, seed: int = 0) -> QuartetDistance:
    """The Generalized Quartet Distance of ``inferred`` from ``reference`` (definition in the
    module docstring).

    Parameters
    ----------
    inferred, reference : LeafTree or float/int ``(n, n)`` path lengths over the same n
        languages in the same order (n >= 4).
    families : n family labels (e.g. ``language_labels(codes)["family"]``), for the within-
        and across-family shares; None: only the overall share.
    exact_max : up to this many languages every quartet is counted; above, ``samples``
        quartets are drawn with ``seed``.

    Returns
    -------
    QuartetDistance
    """
    _check_sampling(exact_max, samples)
    p_inf, p_ref, family_ids = _pair(inferred, reference, families)
    n = len(p_ref)
    exact = n <= exact_max
    resolved, differ, examined = _tally([p_inf], p_ref, family_ids,
                                        _chunks(n, exact, samples, seed))
    counted = int(resolved.sum())
    wrong = int(differ[0].sum())
    has_families = families is not None
    return QuartetDistance(
        gqd=_share(wrong, counted),
        within=_share(int(differ[0, 0]), int(resolved[0])) if has_families else math.nan,
        across=_share(int(differ[0, 1]), int(resolved[1])) if has_families else math.nan,
        counted=counted, counted_within=int(resolved[0]), counted_across=int(resolved[1]),
        examined=examined, exact=exact,
        stderr=None if exact else _stderr(wrong, counted),
        stderr_within=None if exact else _stderr(int(differ[0, 0]), int(resolved[0])),
        stderr_across=None if exact else _stderr(int(differ[0, 1]), int(resolved[1])))


def gqd_null(inferred: LeafTree | np.ndarray, reference: LeafTree | np.ndarray,
             permutations: int = 99, exact_max: int = 120, samples: int = DEFAULT_SAMPLES,
             seed: int = 0) -> QuartetNull:
    """The GQD of ``inferred`` against ``reference`` and its leaf-permutation null: the leaf
    labels of ``inferred`` permuted ``permutations`` times (seeded), each permuted tree scored
    on the same quartets (all of them up to ``exact_max`` languages, else the same ``samples``
    drawn quartets). Tests whether the tree's topology matches the reference better than the
    same tree shape with the languages placed at random."""
    _check_sampling(exact_max, samples)
    if permutations < 1:
        raise LanggeoError(f"GQD null: permutations is {permutations}; use at least 1 (99 "
                           "gives p-values down to 0.01)")
    p_inf, p_ref, _ = _pair(inferred, reference, None)
    n = len(p_ref)
    rng = np.random.default_rng([seed, 0x4E])
    trees = [p_inf]
    for _ in range(permutations):
        perm = rng.permutation(n)
        trees.append(p_inf[np.ix_(perm, perm)])
    # All trees in one pass over the quartets: the reference topologies are computed once.
    resolved, differ, _ = _tally(trees, p_ref, None, _chunks(n, n <= exact_max, samples, seed))
    counted = int(resolved.sum())
    scores = differ.sum(axis=1) / counted if counted else np.full(len(trees), np.nan)
    observed, null = float(scores[0]), scores[1:].astype(np.float64)
    p_value = (1 + int((null <= observed).sum())) / (1 + permutations)
    return QuartetNull(observed=observed, null=null, p_value=p_value)


def clade_recovery(tree: LeafTree, families: Sequence[str]) -> CladeRecovery:
    """Which families ``tree`` recovers as clades (see :class:`CladeRecovery`); ``families``
    holds one label per leaf, in ``tree.codes`` order."""
    labels = np.asarray([str(f) for f in families])
    n = len(tree.codes)
    if len(labels) != n:
        raise LanggeoError(f"clade recovery: {len(labels)} family labels for {n} languages; "
                           "pass one label per language, in the tree's order")
    recovered = {}
    for family in sorted(set(labels)):
        members = labels == family
        if 2 <= members.sum() < n:
            recovered[str(family)] = tree.has_split(members)
    share = sum(recovered.values()) / len(recovered) if recovered else math.nan
    return CladeRecovery(share=share, recovered=recovered)
