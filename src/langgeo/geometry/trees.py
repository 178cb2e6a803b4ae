"""Trees over a distance matrix: average linkage (UPGMA) and its leaf order, the minimum
spanning tree and its layout."""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.spatial.distance import squareform


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
