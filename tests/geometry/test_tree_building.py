"""Neighbour joining and UPGMA through scikit-bio, and the reference tree of a classification."""

from __future__ import annotations

import numpy as np
import pytest

from langgeo import LanggeoError
from langgeo.geometry.quartets import gqd
from langgeo.geometry.trees import LeafTree, lineage_tree, nj_tree, upgma_tree

from .test_quartets import additive_tree, codes_of, random_distances


@pytest.mark.parametrize("build", [nj_tree, upgma_tree])
def test_bad_input_raises_one_message(build):
    d = random_distances(5, 0)
    codes = codes_of(5)
    with pytest.raises(LanggeoError, match="3 languages .* at least 4"):
        build(d[:3, :3], codes[:3])
    nan = d.copy()
    nan[1, 2] = nan[2, 1] = np.nan
    with pytest.raises(LanggeoError, match="between l1 and l2 is nan"):
        build(nan, codes)
    diagonal = d.copy()
    diagonal[3, 3] = 0.5
    with pytest.raises(LanggeoError, match="l3 to itself is 0.5"):
        build(diagonal, codes)
    asymmetric = d.copy()
    asymmetric[0, 4] += 0.3
    with pytest.raises(LanggeoError, match="not symmetric"):
        build(asymmetric, codes)
    with pytest.raises(LanggeoError, match="5 language codes"):
        build(d[:4, :4], codes)
    negative = d.copy()
    negative[0, 1] = negative[1, 0] = -0.1
    with pytest.raises(LanggeoError, match="non-negative"):
        build(negative, codes)


def test_nj_tree_shape():
    n = 9
    tree = nj_tree(random_distances(n, 4), codes_of(n))
    assert isinstance(tree, LeafTree) and tree.method == "nj"
    assert tree.codes == tuple(codes_of(n))
    p = tree.path_lengths
    assert p.shape == (n, n) and p.dtype == np.int64
    assert np.array_equal(p, p.T) and not np.diag(p).any() and (p[~np.eye(n, dtype=bool)] >= 2).all()
    # An unrooted binary tree on n leaves has n pendant and n - 3 internal edges.
    assert len(tree.splits) == 2 * n - 3
    assert not tree.splits[:, 0].any()
    leaves = []
    stack = [tree.newick]
    while stack:
        name, _, children = stack.pop()
        stack.extend(children)
        if not children:
            leaves.append(name)
    assert sorted(leaves) == sorted(codes_of(n))


def test_upgma_recovers_an_ultrametric_tree():
    # Ultrametric distances of ((a,b),(c,(d,e))): UPGMA finds the clusters.
    codes = list("abcde")
    height = {("a", "b"): 1, ("d", "e"): 1, ("c", "d"): 2, ("c", "e"): 2}
    d = np.full((5, 5), 3.0)
    for (x, y), h in height.items():
        d[codes.index(x), codes.index(y)] = d[codes.index(y), codes.index(x)] = h
    np.fill_diagonal(d, 0.0)
    tree = upgma_tree(d, codes)
    assert tree.method == "upgma"
    assert tree.has_split(np.array([1, 1, 0, 0, 0], dtype=bool))
    assert tree.has_split(np.array([0, 0, 0, 1, 1], dtype=bool))
    reference = lineage_tree([("L", "ab"), ("L", "ab"), ("R",), ("R", "de"), ("R", "de")],
                             codes)
    assert gqd(tree, reference).gqd == 0.0


def test_nj_recovers_additive_distances_and_collapse_merges_ties():
    n = 10
    d, p, _ = additive_tree(n, seed=3)
    tree = nj_tree(d, codes_of(n))
    assert gqd(tree, p).gqd == 0.0 and gqd(p, tree).gqd == 0.0
    # Two blocks of identical languages (distances 0/1): the binary resolution inside each
    # block is arbitrary; collapsing zero-length edges leaves two stars joined by one edge.
    blocks = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    ties = (blocks[:, None] != blocks[None, :]).astype(float)
    resolved = nj_tree(ties, codes_of(8))
    collapsed = nj_tree(ties, codes_of(8), collapse=1e-12)
    assert len(resolved.splits) == 2 * 8 - 3
    assert len(collapsed.splits) == 8 + 1
    assert collapsed.has_split(blocks.astype(bool))


def test_lineage_tree_path_lengths():
    # a, b under Romance; c under Germanic; all Indo-European; d a family of its own.
    paths = [("IE", "Romance", "a"), ("IE", "Romance", "b"), ("IE", "Germanic", "c"),
             ("Basque", "d")]
    tree = lineage_tree(paths, list("abcd"))
    # Each language hangs one edge below its path's last node; the families below one root.
    assert tree.path_lengths[0, 1] == 4  # 2 edges from each up to Romance
    assert tree.path_lengths[0, 2] == 6  # 3 edges from each up to IE
    assert tree.path_lengths[0, 3] == 7  # 4 edges from a, 3 from d up to the root
    assert tree.method == "lineages" and tree.newick is None
    assert tree.has_split(np.array([1, 1, 0, 0], dtype=bool))
    assert tree.has_split(np.array([1, 1, 1, 0], dtype=bool))
    # A language whose node is an ancestor of another's still is a leaf of its own.
    nested = lineage_tree([("F", "x"), ("F", "x", "y"), ("F",), ("G",)], list("abcd"))
    assert nested.path_lengths[0, 1] == 3
    with pytest.raises(LanggeoError, match="one path per language"):
        lineage_tree(paths[:3], list("abcd"))
    with pytest.raises(LanggeoError, match="empty lineage path"):
        lineage_tree([(), ("A",), ("B",), ("C",)], list("abcd"))


def test_language_lineages_give_the_reference_tree():
    pytest.importorskip("urielplus")
    from langgeo.data.labels import language_labels, language_lineages

    codes = ["es", "pt", "fr", "de", "en", "eu", "fi", "et"]
    paths = language_lineages(codes)
    labels = language_labels(codes)
    assert [path[0] for path in paths] == labels["family"].tolist()
    assert [path[-1] for path in paths] == labels["glottocode"].tolist()
    assert all("Classical Indo-European" not in path for path in paths)
    assert paths[codes.index("eu")] == ("Basque", labels.set_index("code").at["eu", "glottocode"])
    tree = lineage_tree(paths, codes)
    # Spanish and Portuguese share more of their lineage than Spanish and French.
    p = dict(zip(codes, tree.path_lengths))
    assert p["es"][codes.index("pt")] < p["es"][codes.index("fr")] < p["es"][codes.index("de")]
    assert tree.has_split(np.isin(codes, ["fi", "et"]))
