"""The freezing comparison: G per mode with intervals, the sign-flip test, the alignment change
in the early and later layers, the alignment per layer of a tiny model."""

import numpy as np
import pandas as pd
import pytest

from langgeo import LanggeoError
from langgeo.studies.freezing import (
    alignment_change,
    alignment_per_layer,
    freezing_comparison,
    sign_flip_p,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_sign_flip_p_by_hand():
    # 3 differences, 8 sign patterns; |mean| of each: (1+2+3)/3 = 2 for the observed and its
    # mirror, (1+2-3) = 0, (1-2+3) = 2/3, (-1+2+3) = 4/3 and their mirrors.
    assert sign_flip_p([1.0, 2.0, 3.0]) == pytest.approx(2 / 8)
    assert sign_flip_p([1.0, -1.0]) == 1.0
    with pytest.raises(LanggeoError, match="too many"):
        sign_flip_p(np.ones(17))


def test_freezing_comparison_by_hand():
    full = np.array([[0.30, -0.10, 0.00], [0.05, 0.20, -0.05], [0.00, 0.10, 0.40]])
    frozen = full + np.array([[0.0, 0.1, 0.1], [0.1, 0.0, 0.1], [0.1, 0.1, 0.0]]) - 0.05
    table = freezing_comparison({"full": full, "frozen": frozen}, seed=0, n_bootstrap=200)
    rows = table.set_index(["mode", "on"])
    # On the source: the diagonal, 0.3, 0.2, 0.4; on the others: per target the mean of its
    # column without the diagonal: (0.05+0)/2, (-0.1+0.1)/2, (0-0.05)/2.
    assert rows.loc[("full", "source"), "mean"] == pytest.approx(0.3)
    assert rows.loc[("full", "others"), "mean"] == pytest.approx((0.025 + 0 - 0.025) / 3)
    # Frozen minus full: -0.05 on every source, +0.05 on every other target.
    assert rows.loc[("frozen - full", "source"), "mean"] == pytest.approx(-0.05)
    assert rows.loc[("frozen - full", "others"), "mean"] == pytest.approx(0.05)
    assert rows.loc[("frozen - full", "others"), "p"] == pytest.approx(2 / 8)
    assert rows.loc[("frozen - full", "others"), "ci_low"] == pytest.approx(0.05)
    assert np.isnan(rows.loc[("full", "source"), "p"])
    low, high = rows.loc[("full", "source"), ["ci_low", "ci_high"]]
    assert 0.2 - 1e-12 <= low < 0.3 < high <= 0.4 + 1e-12
    assert (table["n_targets"] == 3).all() and len(table) == 6
    again = freezing_comparison({"full": full, "frozen": frozen}, seed=0, n_bootstrap=200)
    pd.testing.assert_frame_equal(table, again)
    assert set(freezing_comparison({"full": full}, seed=0)["mode"]) == {"full"}


def test_alignment_change_early_and_later_layers():
    layers = np.arange(4)
    base = pd.DataFrame({"mode": "base", "source": "base", "layer": layers,
                         "ilo": [0.1, 0.5, 0.6, 0.4], "retrieval_p1": [0.0, 0.2, 0.4, 0.3]})
    full = base.assign(mode="full", source="en", ilo=[0.1, 0.3, 0.5, 0.5],
                       retrieval_p1=[0.0, 0.1, 0.4, 0.4])
    frozen = base.assign(mode="frozen", source="en", ilo=[0.1, 0.5, 0.7, 0.5])
    change = alignment_change(pd.concat([base, full, frozen]), early=1).set_index("mode")
    assert change.loc["full", "ilo_early"] == pytest.approx(-0.1)
    assert change.loc["full", "ilo_late"] == pytest.approx(0.0)
    assert change.loc["full", "retrieval_early"] == pytest.approx(-0.05)
    assert change.loc["full", "retrieval_late"] == pytest.approx(0.05)
    assert change.loc["frozen", "ilo_early"] == 0 and change.loc["frozen", "ilo_late"] == \
        pytest.approx(0.1)
    with pytest.raises(LanggeoError, match="base"):
        alignment_change(full, early=1)


def test_alignment_per_layer_of_a_tiny_model():
    from dataclasses import dataclass

    from langgeo.studies.representations import pairwise_units
    from tests.conftest import tiny_llama, tiny_tokenizer

    @dataclass(frozen=True)
    class Unit:
        article: int
        position: int
        text: str

    texts = {"fr": ["un chat noir", "deux chiens", "la maison", "le jardin vert"],
             "de": ["eine schwarze Katze", "zwei Hunde", "das Haus", "der Garten"],
             "ru": ["чёрная кошка", "две собаки", "дом", "зелёный сад"]}
    # de splits article 2 in two: fr-de align on 2 units, fr-ru on 4.
    units = {c: [Unit(a, 0, t) for a, t in enumerate(v)] for c, v in texts.items()}
    units["de"] = [Unit(0, 0, "eine schwarze Katze"), Unit(1, 0, "zwei Hunde"),
                   Unit(2, 0, "das"), Unit(2, 1, "Haus")]
    found = pairwise_units(units)
    model = tiny_llama()
    tokenizer = tiny_tokenizer([t for v in texts.values() for t in v] * 10)
    table = alignment_per_layer(model, tokenizer, found, k=3, t=1, seed=0, batch_size=3,
                                dtype="float32")
    assert list(table["layer"]) == list(range(model.config.num_hidden_layers + 1))
    assert table[["ilo", "retrieval_p1", "gaussian_ilo"]].notna().all().all()
    assert ((table["ilo"] >= 0) & (table["ilo"] <= 1)).all()
    bf16 = alignment_per_layer(model, tokenizer, found, k=3, t=1, seed=0, batch_size=3)
    assert next(model.parameters()).dtype.is_floating_point  # the model is not converted
    assert str(next(model.parameters()).dtype) == "torch.float32"
    assert bf16.shape == table.shape
