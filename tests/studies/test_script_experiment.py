"""The script experiment's tables on hand-made Hamming counts: each number checked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from langgeo import LanggeoError
from langgeo.geometry.hamming import TOTAL, HammingCounts
from langgeo.studies.script_experiment import Text, experiment_tables, select_layers

TEXTS = [Text("a_latn", False, "aaa", "Latn", "F", "B1"),
         Text("a_cyrl", False, "aaa", "Cyrl", "F", "B1"),
         Text("r1", True, "bbb", "Latn", "F", "B1"),   # related, Latin
         Text("r2", True, "ccc", "Cyrl", "F", "B1"),   # related, Cyrillic
         Text("r3", True, "ddd", "Latn", "G", "B2"),   # another family
         Text("r4", True, "aaa", "Latn", "F", "B1")]   # the same language: never "nearest other"


def counts() -> HammingCounts:
    """Two blocks of 100 bits; differing bits 50 everywhere but the pairs set here."""
    n = len(TEXTS)
    per_layer = {"0": {(0, 1): 10, (0, 2): 30, (1, 3): 40, (0, 5): 5},
                 "1": {(0, 1): 60, (0, 2): 20, (1, 3): 20, (0, 5): 5}}
    result = HammingCounts({TOTAL: np.zeros((n, n), dtype=np.int64)}, {TOTAL: 0}, {TOTAL: 0})
    for layer, special in per_layer.items():
        c = np.full((n, n), 50, dtype=np.int64)
        for (i, j), v in special.items():
            c[i, j] = c[j, i] = v
        np.fill_diagonal(c, 0)
        result.add(TOTAL, c, 100)
        result.add(("layer", layer), c, 100)
    return result


SETS = {"script": [["a_latn", "a_cyrl"]]}


def test_pairs_ladder_and_criterion_by_hand():
    pairs, ladder, layers = experiment_tables(TEXTS, counts(), SETS)
    (row,) = pairs.to_dict("records")
    # Total distances: (10 + 60) / 200 between the scripts; r4 is the same language, so the
    # nearest other Latin-script language is r1 ((30 + 20) / 200), the Cyrillic one r2.
    assert row["distance"] == pytest.approx(0.35)
    assert (row["nearest_a"], row["nearest_a_distance"]) == ("r1", pytest.approx(0.25))
    assert (row["nearest_b"], row["nearest_b_distance"]) == ("r2", pytest.approx(0.30))
    assert row["ratio"] == pytest.approx(0.35 / 0.25)
    steps = ladder.set_index("rung")
    assert steps.loc["script", "mean"] == pytest.approx(0.35)
    assert steps.loc["related language", "n"] == 2
    assert steps.loc["related language", "mean"] == pytest.approx((0.25 + 0.30) / 2)
    assert steps.loc["unrelated language", "mean"] == pytest.approx(0.5)
    assert steps.loc["orthography", "n"] == 0 and np.isnan(steps.loc["orthography", "mean"])
    # Block 0: scripts 0.10 apart, nearest languages 0.30 and 0.40; block 1: 0.60 vs 0.20.
    assert layers["layer"].tolist() == [0, 1]
    assert layers["ratio"].tolist() == pytest.approx([0.10 / 0.35, 0.60 / 0.20])
    assert layers["bits"].tolist() == [100, 100]
    assert select_layers(layers, 0.5) == [0]
    assert select_layers(layers, 0.01) == [0]  # at least one block
    assert select_layers(layers, 1.0) == [0, 1]


def test_bad_sets_are_refused():
    with pytest.raises(LanggeoError, match=r"no signature for \['zzz'\]"):
        experiment_tables(TEXTS, counts(), {"script": [["a_latn", "zzz"]]})
    with pytest.raises(LanggeoError, match="no pair of one language in two scripts"):
        experiment_tables(TEXTS, counts(), {"orthography": [["a_latn", "a_cyrl"]]})
    with pytest.raises(LanggeoError, match=r"in \(0, 1\]"):
        select_layers(experiment_tables(TEXTS, counts(), SETS)[2], 0)
