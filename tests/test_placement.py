"""Placing new points in a space: Gower's out-of-sample MDS, neighbours, label guesses."""

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist, pdist, squareform

from langgeo import LanggeoError
from langgeo.embedding import add_points, classical_mds
from langgeo.placement import Space, vote
from planted import planted_languages


def planted_space(n=24, n_families=4, seed=0):
    family, branch, d = planted_languages(n, n_families, seed)
    codes = [f"l{i:02d}" for i in range(n)]
    labels = pd.DataFrame({"code": codes, "name": [f"Lang {i}" for i in range(n)],
                           "family": [f"F{f}" for f in family],
                           "branch": [f"B{b}" for b in branch]}).set_index("code")
    return Space(codes, labels, d, classical_mds(d)[0])


def test_gower_puts_an_embedded_point_back_where_it_was():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(12, 3))
    new = rng.normal(size=(2, 3))
    # Squared Euclidean distances, embedded with the sqrt transform: exactly Euclidean.
    reference = squareform(pdist(points, "sqeuclidean"))
    coords, _ = classical_mds(reference)
    placed = add_points(coords, cdist(new, points, "sqeuclidean"))
    # The placed points' distances to the references are the true ones.
    np.testing.assert_allclose(cdist(placed, coords, "sqeuclidean"),
                               cdist(new, points, "sqeuclidean"), rtol=1e-9, atol=1e-9)
    # A reference point's own distances give back its own coordinates.
    np.testing.assert_allclose(add_points(coords, reference[[3]]), coords[[3]], atol=1e-9)
    same = add_points(coords, reference[[3]] ** 0.5, transform="none")
    np.testing.assert_allclose(same, coords[[3]], atol=1e-9)
    with pytest.raises(LanggeoError, match="do not match"):
        add_points(coords, reference[:, :5])


def test_vote_weights_by_inverse_distance():
    assert vote(["a", "b", "b"], [0.1, 0.5, 0.5]) == ("a", pytest.approx(10 / 14))
    assert vote(["a", "b"], [0.2, 0.2])[0] == "a"  # a tie goes to the nearer neighbour


@pytest.mark.parametrize("held_out", [0, 5, 13, 22])
def test_leave_one_out_lands_among_its_real_neighbours(held_out):
    full = planted_space()
    code = full.codes[held_out]
    reference = full.without(code)
    latent_before = reference.latent.copy()
    row = full.distances[held_out, [full.codes.index(c) for c in reference.codes]]
    placement = reference.place_distances(row[None, :], [code], k=3)

    assert np.array_equal(reference.latent, latent_before)  # the references do not move
    real = full.neighbours(code, 3)["code"].tolist()
    assert placement.neighbours[code]["code"].tolist() == real
    guess = placement.guesses.iloc[0]
    assert guess["family"] == full.labels.loc[code, "family"]
    assert guess["branch"] == full.labels.loc[code, "branch"]
    assert 0.5 < guess["family_confidence"] <= 1.0
    # Its latent position is close to where the full embedding would put it, relative to
    # the others: its nearest reference in the map is one of its real neighbours.
    nearest_in_map = np.argmin(((reference.latent - placement.coords[0]) ** 2).sum(1))
    assert reference.codes[nearest_in_map] in full.neighbours(code, 5)["code"].tolist()


def test_neighbours_and_unknown_codes():
    s = planted_space()
    table = s.neighbours("l00", 4)
    assert list(table.columns) == ["code", "name", "family", "branch", "distance"]
    assert table["distance"].is_monotonic_increasing and "l00" not in table["code"].tolist()
    with pytest.raises(LanggeoError, match="'xx' is not in this space"):
        s.neighbours("xx")
