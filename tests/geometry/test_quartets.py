"""The Generalized Quartet Distance: hand-counted cases, a brute-force count, sampling, the
null and clade recovery."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from langgeo import LanggeoError
from langgeo.geometry.quartets import clade_recovery, gqd, gqd_null, quartet_topologies
from langgeo.geometry.trees import lineage_tree, nj_tree


def random_distances(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    d = rng.uniform(0.5, 1.0, size=(n, n))
    d = (d + d.T) / 2
    np.fill_diagonal(d, 0.0)
    return d


def codes_of(n: int) -> list[str]:
    return [f"l{k}" for k in range(n)]


# The hand-counted reference: a, b, c in family X (a and b under its subgroup P, c directly
# under X), d, e, f each a family of its own. Of the 15 quartets, the 3 made of one X language
# and d, e, f are stars (four families hang from one root): unresolved, not counted.
HAND_CODES = ["a", "b", "c", "d", "e", "f"]
HAND_PATHS = [("X", "P"), ("X", "P"), ("X",), ("Y",), ("Z",), ("W",)]
# The inferred tree, as path lengths in edges: three cherries (a,d), (b,c), (e,f) joined at
# one central node.
HAND_INFERRED = np.array([
    [0, 4, 4, 2, 4, 4],
    [4, 0, 2, 4, 4, 4],
    [4, 2, 0, 4, 4, 4],
    [2, 4, 4, 0, 4, 4],
    [4, 4, 4, 4, 0, 2],
    [4, 4, 4, 4, 2, 0],
])


def test_hand_counted_quartets():
    reference = lineage_tree(HAND_PATHS, HAND_CODES)
    result = gqd(HAND_INFERRED, reference, families=["X", "X", "X", "Y", "Z", "W"])
    # Counted by hand: of the 9 quartets of two X and two of d/e/f, the inferred tree gets
    # ab|de, ab|df, ac|de, ac|df wrong (it pairs a with d); of the 3 quartets abc+x it gets
    # all wrong (it pairs b with c): 7 of 12.
    assert result.examined == 15
    assert result.counted == 12
    assert result.gqd == pytest.approx(7 / 12)
    assert result.exact and result.stderr is None
    # No family has four languages: no within-family quartet.
    assert result.counted_within == 0 and math.isnan(result.within)
    assert result.across == pytest.approx(7 / 12)


def test_unresolved_reference_quartet_is_not_counted():
    # Four families under the root: the reference quartet is a star.
    star = lineage_tree([("A",), ("B",), ("C",), ("D",)], list("abcd"))
    assert quartet_topologies(star.path_lengths, np.array([[0, 1, 2, 3]])).tolist() == [3]
    result = gqd(HAND_INFERRED[:4, :4], star)
    assert result.counted == 0 and result.examined == 1 and math.isnan(result.gqd)
    # One cherry in the reference resolves it: then it is counted.
    cherry = lineage_tree([("A", "x"), ("A", "x"), ("C",), ("D",)], list("abcd"))
    assert gqd(cherry, cherry).counted == 1
    assert gqd(cherry, cherry).gqd == 0.0


def test_topologies_of_one_quartet():
    # ab|cd in a tree with a central edge: both pairings across it are longer.
    p = np.array([[0, 2, 3, 3], [2, 0, 3, 3], [3, 3, 0, 2], [3, 3, 2, 0]])
    q = np.array([[0, 1, 2, 3], [0, 2, 1, 3], [0, 2, 3, 1]])
    assert quartet_topologies(p, q).tolist() == [0, 1, 2]


def brute_force(inferred: np.ndarray, reference: np.ndarray, families: list[str]):
    """Plain loops over every quartet: (wrong, counted) overall, within, across."""
    def topology(p, a, b, c, d):
        sums = [p[a][b] + p[c][d], p[a][c] + p[b][d], p[a][d] + p[b][c]]
        best = min(sums)
        return sums.index(best) if sums.count(best) == 1 else None

    tally = {"all": [0, 0], "within": [0, 0], "across": [0, 0]}
    for a, b, c, d in itertools.combinations(range(len(reference)), 4):
        ref = topology(reference, a, b, c, d)
        if ref is None:
            continue
        wrong = topology(inferred, a, b, c, d) != ref
        kind = "within" if len({families[k] for k in (a, b, c, d)}) == 1 else "across"
        for key in ("all", kind):
            tally[key][0] += wrong
            tally[key][1] += 1
    return tally


def random_paths(n: int, rng: np.random.Generator) -> list[tuple[str, ...]]:
    """A random multifurcating classification: 2-3 families, subgroups of 1-3 levels."""
    return [tuple(str(x) for x in rng.integers(0, 3, size=rng.integers(1, 4))) for _ in range(n)]


@pytest.mark.parametrize("n", [6, 7, 8, 9])
def test_vectorized_count_equals_brute_force(n):
    rng = np.random.default_rng(n)
    for trial in range(4):
        codes = codes_of(n)
        inferred = nj_tree(random_distances(n, 100 * n + trial), codes)
        reference = lineage_tree(random_paths(n, rng), codes)
        families = [f"F{int(k)}" for k in rng.integers(0, 2, size=n)]
        result = gqd(inferred, reference, families)
        expected = brute_force(inferred.path_lengths.tolist(),
                               reference.path_lengths.tolist(), families)
        assert (result.counted, result.counted_within, result.counted_across) == \
            (expected["all"][1], expected["within"][1], expected["across"][1])
        for value, key in ((result.gqd, "all"), (result.within, "within"),
                           (result.across, "across")):
            wrong, counted = expected[key]
            if counted:
                assert value == pytest.approx(wrong / counted)
            else:
                assert math.isnan(value)


def test_sampled_within_three_standard_errors_of_exact():
    n = 40
    codes = codes_of(n)
    rng = np.random.default_rng(7)
    # A reference with structure (and stars), an inferred tree that partly follows it.
    paths = [(f"F{k % 4}", f"G{k % 8}", f"H{k % 16}") for k in range(n)]
    reference = lineage_tree(paths, codes)
    noisy = reference.path_lengths + rng.uniform(0, 20, size=(n, n))
    noisy = (noisy + noisy.T) / 2
    np.fill_diagonal(noisy, 0)
    inferred = nj_tree(noisy, codes)
    families = [path[0] for path in paths]
    exact = gqd(inferred, reference, families)
    sampled = gqd(inferred, reference, families, exact_max=10, samples=200_000, seed=3)
    assert exact.exact and not sampled.exact and sampled.examined == 200_000
    assert 0.1 < exact.gqd < 0.6  # neither trivial nor random
    for value, truth, se in ((sampled.gqd, exact.gqd, sampled.stderr),
                             (sampled.within, exact.within, sampled.stderr_within),
                             (sampled.across, exact.across, sampled.stderr_across)):
        assert 0 < se < 0.02
        assert abs(value - truth) < 3 * se
    # Seeded: the same draw twice.
    again = gqd(inferred, reference, families, exact_max=10, samples=200_000, seed=3)
    assert again == sampled


def test_random_trees_score_near_two_thirds():
    n = 30
    codes = codes_of(n)
    scores = [gqd(nj_tree(random_distances(n, 2 * k), codes),
                  nj_tree(random_distances(n, 2 * k + 1), codes)).gqd for k in range(5)]
    assert abs(np.mean(scores) - 2 / 3) < 0.03


def additive_tree(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[frozenset]]:
    """A random rooted binary tree on n leaves, edge lengths in [0.1, 1]: its additive (tree)
    distances ``(n, n)``, its path lengths in edges ``(n, n)``, and the leaf set of each
    internal node."""
    rng = np.random.default_rng(seed)
    d = np.zeros((n, n))
    p = np.zeros((n, n), dtype=int)
    # A cluster: its leaves, and each leaf's distance and edge count to the cluster's root.
    clusters = [(frozenset([k]), {k: 0.0}, {k: 0}) for k in range(n)]
    clades = []
    while len(clusters) > 1:
        i, j = sorted(rng.choice(len(clusters), size=2, replace=False))
        sides = []
        for leaves, length, hops in (clusters[i], clusters[j]):
            edge = rng.uniform(0.1, 1.0)
            sides.append((leaves, {k: v + edge for k, v in length.items()},
                          {k: v + 1 for k, v in hops.items()}))
        (la, da, ha), (lb, db, hb) = sides
        for x in la:
            for y in lb:
                d[x, y] = d[y, x] = da[x] + db[y]
                p[x, y] = p[y, x] = ha[x] + hb[y]
        clusters = [c for k, c in enumerate(clusters) if k not in (i, j)]
        clusters.append((la | lb, {**da, **db}, {**ha, **hb}))
        clades.append(la | lb)
    return d, p, clades


def test_nj_on_an_additive_metric_recovers_the_tree():
    n = 25
    codes = codes_of(n)
    d, p, clades = additive_tree(n, seed=11)
    tree = nj_tree(d, codes)
    assert gqd(tree, p).gqd == 0.0
    for clade in clades:
        if 2 <= len(clade) <= n - 2:
            assert tree.has_split(np.isin(np.arange(n), list(clade)))


def test_null_p_value_and_determinism():
    n = 12
    codes = codes_of(n)
    d, p, _ = additive_tree(n, seed=5)
    tree = nj_tree(d, codes)
    null = gqd_null(tree, p, permutations=49, seed=1)
    assert null.observed == 0.0
    assert null.null.shape == (49,)
    assert null.p_value == pytest.approx((1 + int((null.null <= 0.0).sum())) / 50)
    assert null.p_value < 0.1
    again = gqd_null(tree, p, permutations=49, seed=1)
    assert np.array_equal(again.null, null.null) and again.p_value == null.p_value
    # A tree unrelated to the reference is not better than its own permutations.
    unrelated = gqd_null(nj_tree(random_distances(n, 3), codes), p, permutations=49, seed=1)
    assert unrelated.p_value > 0.05


def test_clade_recovery():
    families = ["X", "X", "X", "Y", "Z", "W"]
    # In the reference, X = {a, b, c} is a clade; in the cherries (a,d), (b,c), (e,f) it is
    # not, but {a, d} is.
    reference = lineage_tree(HAND_PATHS, HAND_CODES)
    assert clade_recovery(reference, families).recovered == {"X": True}
    cherries = nj_tree(HAND_INFERRED.astype(float), HAND_CODES)
    assert clade_recovery(cherries, families).recovered == {"X": False}
    recovery = clade_recovery(cherries, ["P", "Q", "Q", "P", "R", "S"])
    assert recovery.recovered == {"P": True, "Q": True}
    assert recovery.share == 1.0
    # A family of one, or of every language, splits nothing: not scored.
    assert math.isnan(clade_recovery(cherries, ["R"] * 6).share)
    assert clade_recovery(cherries, list("uvwxyz")).recovered == {}


def test_mismatched_inputs_raise():
    reference = lineage_tree(HAND_PATHS, HAND_CODES)
    with pytest.raises(LanggeoError, match="same languages"):
        gqd(HAND_INFERRED[:5, :5], reference)
    with pytest.raises(LanggeoError, match="family labels"):
        gqd(HAND_INFERRED, reference, families=["X"])
    with pytest.raises(LanggeoError, match="at least 4"):
        gqd(np.zeros((3, 3)), np.zeros((3, 3)))
    other = lineage_tree(HAND_PATHS, list("uvwxyz"))
    with pytest.raises(LanggeoError, match="different languages"):
        gqd(other, reference)
