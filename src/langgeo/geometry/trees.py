"""Trees over a distance matrix: average linkage (UPGMA) and its leaf order, the minimum
spanning tree and its layout; neighbour-joining and UPGMA phylogenies and the reference tree of
a classification, as :class:`LeafTree` (path lengths and splits, for
:mod:`langgeo.geometry.quartets`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform

from langgeo import LanggeoError
from langgeo.geometry.matrices import check_matrix

if TYPE_CHECKING:  # the file format module imports pandas and pyarrow; trees need neither
    from langgeo.formats.phylo_file import NewickNode


def average_linkage(distances: np.ndarray) -> np.ndarray:
    """SciPy linkage matrix (shape ``(n - 1, 4)``) of the average-linkage (UPGMA) tree of an
    ``(n, n)`` distance matrix."""
    return linkage(squareform(distances, checks=False), method="average")


def dendrogram_order(distances: np.ndarray) -> np.ndarray:
    """Leaf order of the average-linkage (UPGMA) dendrogram of a ``(n, n)`` distance matrix
    (n >= 2): an index array of length n that puts similar languages next to each other."""
    return leaves_list(average_linkage(distances))


def minimum_spanning_edges(distances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges of the minimum spanning tree of a complete graph weighted by ``distances``.

    Returns ``edges`` int ``(n - 1, 2)`` with ``i < j``, sorted, and their ``weights``
    ``(n - 1,)``. Distinct languages at distance 0 stay connected (scipy would read a 0 as a
    missing edge).
    """
    from scipy.sparse import csr_array
    from scipy.sparse.csgraph import minimum_spanning_tree

    d = np.asarray(distances, dtype=np.float64)
    weights = np.where(d > 0, d, np.finfo(np.float64).tiny)
    np.fill_diagonal(weights, 0.0)
    # A sparse input keeps every stored weight; scipy's dense path drops near-zero ones.
    tree = minimum_spanning_tree(csr_array(weights)).tocoo()
    edges = np.sort(np.stack([tree.row, tree.col], axis=1), axis=1).astype(np.int64)
    edges = edges[np.lexsort((edges[:, 1], edges[:, 0]))]
    return edges, d[edges[:, 0], edges[:, 1]]


def tree_layout(n: int, edges: np.ndarray, iterations: int = 300) -> np.ndarray:
    """2-D positions ``(n, 2)`` for a tree, as Graphviz neato draws graphs: stress
    majorization of the number of edges between every two nodes, weighted by 1 / hops² so
    that near neighbours are placed most faithfully and leaves do not pile onto each other.
    Starts from classical MDS of the hop counts, so the result is deterministic."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import shortest_path

    from langgeo.geometry.embedding import classical_mds

    if n < 3:
        return np.column_stack([np.arange(n, dtype=np.float64), np.zeros(n)])
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    hops = shortest_path(graph, directed=False, unweighted=True)
    xy = classical_mds(hops, n_components=2, transform="none")[0]
    xy += np.random.default_rng(0).normal(scale=1e-3, size=xy.shape)  # split coincident nodes
    weights = np.zeros_like(hops)
    off = ~np.eye(n, dtype=bool)
    weights[off] = hops[off] ** -2.0
    for _ in range(iterations):
        delta = xy[:, None, :] - xy[None, :, :]
        norm = np.maximum(np.linalg.norm(delta, axis=2), 1e-9)
        pull = weights * hops / norm
        xy = ((weights @ xy) + (pull[:, :, None] * delta).sum(axis=1)) / weights.sum(axis=1,
                                                                                    keepdims=True)
    return xy - xy.mean(axis=0)


# --- Phylogenetic trees: neighbour joining, UPGMA and a reference tree from lineages ---------
#
# The comparison with a classification (langgeo.geometry.quartets) needs only the topology of
# a tree, so a tree is kept as the matrix of path lengths in edges between its leaves (any
# tree metric with the same topology resolves every quartet the same way) and its splits.


@dataclass(frozen=True, eq=False)
class LeafTree:
    """A tree over languages, reduced to what quartet and clade comparisons need.

    Attributes
    ----------
    codes : the n language codes, in the order of the rows below.
    path_lengths : int64 ``(n, n)``: the number of edges on the path between two leaves
        (0 on the diagonal). Only the topology counts: a node with a single child adds an
        edge, which changes no quartet.
    splits : bool ``(m, n)``: one row per edge of the unrooted tree, True for the leaves on
        the side that does not hold leaf 0 (pendant edges included), distinct rows.
    newick : the tree as built, for :func:`langgeo.formats.phylo_file.write_newick`
        (``(name, length, children)`` nodes, edge lengths in the units of the distances); None
        for a reference tree.
    method : ``"nj"``, ``"upgma"`` or ``"lineages"``.
    """

    codes: tuple[str, ...]
    path_lengths: np.ndarray
    splits: np.ndarray
    newick: NewickNode | None
    method: str

    def has_split(self, members: np.ndarray) -> bool:
        """Whether the bool ``(n,)`` leaf set ``members`` (or its complement) is one side of
        an edge of the unrooted tree."""
        side = np.asarray(members, dtype=bool)
        if side[0]:
            side = ~side
        return bool((self.splits == side).all(axis=1).any())


#: The fewest leaves a tree resolves anything on (one quartet).
MIN_LEAVES = 4


def _check_tree_input(distances: np.ndarray, codes: Sequence[str], method: str) -> np.ndarray:
    """The ``(n, n)`` float64 matrix, or one LanggeoError naming the first problem found."""
    what = f"{method} tree"
    hint = f"pass the full distance matrix of at least {MIN_LEAVES} languages, one code per row"
    d = np.asarray(distances, dtype=np.float64)
    codes = list(codes)
    if d.ndim == 2 and d.shape[0] == d.shape[1] and d.shape[0] < MIN_LEAVES:
        raise LanggeoError(f"{what}: {d.shape[0]} languages ({', '.join(map(str, codes))}); a "
                           f"tree needs at least {MIN_LEAVES} languages to resolve anything; "
                           "add languages")
    if d.ndim == 2 and d.shape[0] == d.shape[1] and d.shape == (len(codes), len(codes)):
        bad = ~np.isfinite(d)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise LanggeoError(f"{what}: the distance between {codes[i]} and {codes[j]} is "
                               f"{d[i, j]} ({int(bad.sum())} entries not finite); drop the "
                               "languages without a measured distance or fill them in")
        diagonal = np.flatnonzero(np.diag(d) != 0)
        if diagonal.size:
            k = diagonal[0]
            raise LanggeoError(f"{what}: the distance of {codes[k]} to itself is {d[k, k]}, "
                               "not 0; pass a distance matrix (zero diagonal)")
        if not np.allclose(d, d.T):
            i, j = np.unravel_index(np.argmax(np.abs(d - d.T)), d.shape)
            raise LanggeoError(f"{what}: the matrix is not symmetric: d({codes[i]}, "
                               f"{codes[j]}) = {d[i, j]} but d({codes[j]}, {codes[i]}) = "
                               f"{d[j, i]}; symmetrize it, e.g. (d + d.T) / 2")
    d = check_matrix(d, codes, what=what, min_languages=4, hint=hint)
    return (d + d.T) / 2  # exactly symmetric, as scikit-bio requires


def _skbio_tree(distances: np.ndarray, codes: Sequence[str], method: str):
    try:
        from skbio import DistanceMatrix
        from skbio.tree import nj, upgma
    except ModuleNotFoundError as error:
        raise LanggeoError(f"{method} trees need scikit-bio; install it with "
                           "'pip install scikit-bio==0.7.2'") from error
    d = _check_tree_input(distances, codes, method)
    # Row indices as ids: the codes may hold characters scikit-bio's ids or Newick refuse.
    matrix = DistanceMatrix(d, ids=[str(k) for k in range(len(d))])
    return nj(matrix) if method == "nj" else upgma(matrix)


def _leaf_tree(root, codes: Sequence[str], method: str, collapse: float | None) -> LeafTree:
    """A :class:`LeafTree` from a scikit-bio TreeNode whose leaves are named by row index."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import shortest_path

    nodes = list(root.postorder(include_self=True))
    index = {id(node): k for k, node in enumerate(nodes)}
    n, n_nodes = len(codes), len(nodes)
    parent = np.full(n_nodes, -1)
    length = np.zeros(n_nodes)
    leaf_node = np.full(n, -1)
    below = np.zeros((n_nodes, n), dtype=bool)  # leaves under each node (root at the top)
    newick: dict[int, NewickNode] = {}
    for k, node in enumerate(nodes):
        if node.parent is not None:
            parent[k] = index[id(node.parent)]
            length[k] = node.length if node.length is not None else 0.0
        if node.is_tip():
            leaf = int(node.name)
            leaf_node[leaf] = k
            below[k, leaf] = True
            newick[k] = (str(codes[leaf]), node.length, ())
        else:
            children = [index[id(child)] for child in node.children]
            below[k] = below[children].any(axis=0)
            newick[k] = (None, node.length, tuple(newick.pop(c) for c in children))
    # A collapsed internal edge (no longer than `collapse`) merges its two ends into one node:
    # the tree then leaves unresolved what the distances did not separate.
    group = np.arange(n_nodes)
    kept = parent >= 0
    if collapse is not None:
        tip = np.zeros(n_nodes, dtype=bool)
        tip[leaf_node] = True
        merged = kept & ~tip & (length <= collapse)
        # Walk from the root down (reverse postorder) so a chain of collapsed edges merges.
        for k in range(n_nodes - 1, -1, -1):
            if merged[k]:
                group[k] = group[parent[k]]
        kept &= ~merged
    edges = np.flatnonzero(kept)
    graph = coo_matrix((np.ones(len(edges)), (group[edges], group[parent[edges]])),
                       shape=(n_nodes, n_nodes))
    hops = shortest_path(graph, directed=False, unweighted=True, indices=group[leaf_node])
    path_lengths = np.rint(hops[:, group[leaf_node]]).astype(np.int64)
    splits = below[edges]
    splits[splits[:, 0]] = ~splits[splits[:, 0]]
    splits = np.unique(splits[splits.any(axis=1)], axis=0)
    return LeafTree(codes=tuple(map(str, codes)), path_lengths=path_lengths, splits=splits,
                    newick=newick[n_nodes - 1], method=method)


def nj_tree(distances: np.ndarray, codes: Sequence[str], *,
            collapse: float | None = None) -> LeafTree:
    """The neighbour-joining tree (Saitou & Nei 1987; scikit-bio's ``skbio.tree.nj``) of an
    ``(n, n)`` distance matrix over ``codes`` (n >= 4), unrooted; negative edge lengths are set
    to 0.

    ``collapse``: internal edges of at most this length (in the units of the distances) are
    contracted before quartets are read, so that a resolution the distances do not support
    (ties) is not counted; None (default) keeps the binary tree as built.

    Raises LanggeoError naming the problem: fewer than 4 languages, a NaN or infinite entry, a
    non-zero diagonal, an asymmetric matrix, a negative entry or a code count that does not
    match."""
    return _leaf_tree(_skbio_tree(distances, codes, "nj"), codes, "nj", collapse)


def upgma_tree(distances: np.ndarray, codes: Sequence[str], *,
               collapse: float | None = None) -> LeafTree:
    """The average-linkage (UPGMA) tree (scikit-bio's ``skbio.tree.upgma``, which calls
    SciPy's average linkage) of an ``(n, n)`` distance matrix over ``codes`` (n >= 4), read as
    an unrooted tree for quartets and splits. ``collapse`` and the errors as in
    :func:`nj_tree`."""
    return _leaf_tree(_skbio_tree(distances, codes, "upgma"), codes, "upgma", collapse)


def lineage_tree(paths: Sequence[Sequence[str]], codes: Sequence[str]) -> LeafTree:
    """The reference tree of a classification: one path per language, top node first (the
    family), e.g. ``("Indo-European", "Italic", ..., "stan1288")`` from
    :func:`langgeo.data.labels.language_lineages`.

    Two languages share a node when their paths agree up to it (position by position); each
    language hangs below the last node of its path; the families hang below one root. Every
    node-to-child link is one edge, so a node with many children is a multifurcation and a
    quartet it does not split is unresolved (a star): four languages of four families, or of
    four branches of one node. Path lengths are ``(len(p_i) + 1) + (len(p_j) + 1) - 2 *
    (length of the common prefix)`` edges."""
    codes = [str(code) for code in codes]
    paths = [tuple(str(node) for node in path) for path in paths]
    if len(paths) != len(codes):
        raise LanggeoError(f"lineage tree: {len(paths)} lineage paths but {len(codes)} "
                           "language codes; pass one path per language")
    if len(set(codes)) != len(codes):
        raise LanggeoError("lineage tree: language codes are not distinct; pass each once")
    empty = [code for code, path in zip(codes, paths) if not path or not all(path)]
    if empty:
        raise LanggeoError(f"lineage tree: empty lineage path (or an empty node) for {empty}; "
                           "give an isolate a path of its own name")
    n = len(paths)
    depth = np.array([len(path) + 1 for path in paths], dtype=np.int64)
    common = np.zeros((n, n), dtype=np.int64)
    for i in range(n):
        for j in range(i + 1, n):
            k = 0
            for a, b in zip(paths[i], paths[j]):
                if a != b:
                    break
                k += 1
            common[i, j] = common[j, i] = k
    path_lengths = depth[:, None] + depth[None, :] - 2 * common
    np.fill_diagonal(path_lengths, 0)
    # Splits: the leaves below each node of the classification, and each leaf alone.
    clades = {}
    for path in set(paths):
        for k in range(1, len(path) + 1):
            clades.setdefault(path[:k], np.array([p[:k] == path[:k] for p in paths]))
    rows = list(clades.values()) + list(np.eye(n, dtype=bool))
    splits = np.array(rows, dtype=bool).reshape(-1, n)
    splits[splits[:, 0]] = ~splits[splits[:, 0]]
    splits = np.unique(splits[splits.any(axis=1)], axis=0)
    return LeafTree(codes=tuple(codes), path_lengths=path_lengths, splits=splits, newick=None,
                    method="lineages")
