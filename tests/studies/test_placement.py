"""Placing new points in a space: neighbours, label guesses, leave-one-out on planted spaces."""

import numpy as np
import pandas as pd
import pytest

from langgeo import LanggeoError
from langgeo.geometry.embedding import classical_mds
from langgeo.studies.placement import Space, vote
from tests.helpers.planted import planted_languages


def planted_space(n=24, n_families=4, seed=0):
    family, branch, d = planted_languages(n, n_families, seed)
    codes = [f"l{i:02d}" for i in range(n)]
    labels = pd.DataFrame({"code": codes, "name": [f"Lang {i}" for i in range(n)],
                           "family": [f"F{f}" for f in family],
                           "branch": [f"B{b}" for b in branch]}).set_index("code")
    return Space(codes, labels, d, classical_mds(d)[0])


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
