"""Trees of a distance matrix: the minimum spanning tree, the dendrogram order, the drawn
layout."""

import numpy as np
from scipy.spatial.distance import pdist

from langgeo.geometry import trees


def test_minimum_spanning_tree_of_points_on_a_line():
    x = np.array([0.0, 1.0, 3.0, 6.0])
    d = np.full((5, 5), 10.0)
    d[:4, :4] = np.abs(x[:, None] - x[None])
    d[2, 4] = d[4, 2] = d[4, 4] = 0.0  # language 4 is at distance 0 from 2: still an edge
    edges, weights = trees.minimum_spanning_edges(d)
    assert edges.tolist() == [[0, 1], [1, 2], [2, 3], [2, 4]]
    assert weights.tolist() == [1.0, 2.0, 3.0, 0.0]


def test_dendrogram_order_keeps_planted_groups_together():
    # Two tight groups interleaved by index: {0, 2, 4} and {1, 3, 5}.
    x = np.array([0.0, 10.0, 0.1, 10.1, 0.2, 10.2])
    order = trees.dendrogram_order(np.abs(x[:, None] - x[None])).tolist()
    assert sorted(order) == list(range(6))
    assert {order[0] % 2} == {i % 2 for i in order[:3]} != {i % 2 for i in order[3:]}


def test_tree_layout_draws_unit_edges_without_overlaps():
    # A star of 6 leaves whose third leaf carries a path of 4 more nodes.
    edges = np.array([[0, i] for i in range(1, 7)] + [[3, 7], [7, 8], [8, 9], [9, 10]])
    xy = trees.tree_layout(11, edges)
    assert xy.shape == (11, 2)
    lengths = np.linalg.norm(xy[edges[:, 0]] - xy[edges[:, 1]], axis=1)
    np.testing.assert_allclose(lengths, 1.0, atol=0.35)
    assert pdist(xy).min() > 0.4  # leaves of the star do not pile onto each other
    np.testing.assert_array_equal(xy, trees.tree_layout(11, edges))
