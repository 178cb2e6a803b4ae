"""The script-robust geometry: block variants from the script criterion, and distances over
the chosen blocks exactly the Hamming distances over their bits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from langgeo import LanggeoError
from langgeo.formats.signature_file import Signature
from langgeo.geometry.hamming import TOTAL, hamming_from_signatures, signature_distances
from langgeo.studies.robust_geometry import (
    FULL,
    WEIGHTED,
    block_weights,
    share_name,
    variant_table,
    weighted_distances,
)

# Four blocks of unequal size, and a matrix outside any block.
SHAPES = {f"model.layers.{b}.mlp.up_proj": (3, 2 + b) for b in range(4)} | {"lm_head": (5,)}


def signatures(n: int, seed: int = 0) -> list[Signature]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        masks = {m: rng.integers(0, 2, size=s).astype(bool) for m, s in SHAPES.items()}
        out.append(Signature({"language": f"l{i}"}, list(masks),
                             {m: b.shape for m, b in masks.items()},
                             {m: np.packbits(b.reshape(-1)) for m, b in masks.items()}))
    return out


def only(signature: Signature, blocks: list[int]) -> Signature:
    keep = [m for m in signature.modules if m.startswith("model.layers.")
            and int(m.split(".")[2]) in blocks]
    return Signature(signature.metadata, keep, {m: signature.shapes[m] for m in keep},
                     {m: signature.packed[m] for m in keep})


CRITERION = pd.DataFrame({"layer": [0, 1, 2, 3], "ratio": [1.4, 0.8, 1.1, 0.9]})


def test_variants_keep_the_blocks_of_lowest_ratio():
    weights = block_weights(CRITERION, 0.5)
    assert list(weights) == [FULL, share_name(0.25), share_name(0.5), share_name(0.75), WEIGHTED]
    assert weights[FULL] == {}
    assert weights[share_name(0.25)] == {"1": 1.0}
    assert weights[share_name(0.5)] == {"1": 1.0, "3": 1.0}
    assert weights[share_name(0.75)] == {"1": 1.0, "2": 1.0, "3": 1.0}
    assert weights[WEIGHTED] == pytest.approx({"0": 1 / 1.4, "1": 1 / 0.8, "2": 1 / 1.1,
                                               "3": 1 / 0.9})
    # An a-priori share outside the fixed ones is one more variant.
    assert share_name(0.3) in block_weights(CRITERION, 0.3)


@pytest.mark.parametrize("ratio", [0.0, -1.0, np.nan, np.inf])
def test_a_criterion_without_a_positive_ratio_is_refused(ratio):
    bad = CRITERION.assign(ratio=[1.0, ratio, 1.0, 1.0])
    with pytest.raises(LanggeoError, match="positive, finite ratio"):
        block_weights(bad, 0.5)


def test_kept_blocks_give_the_hamming_distance_over_their_bits():
    sigs = signatures(6)
    counts = hamming_from_signatures(sigs)
    for blocks in ([1], [1, 3], [0, 1, 2, 3]):
        expected = signature_distances([only(s, blocks) for s in sigs])
        got = weighted_distances(counts, {str(b): 1.0 for b in blocks})
        assert got == pytest.approx(expected, abs=1e-12)
    # No weights: every matrix, the block-less lm_head too.
    assert np.array_equal(weighted_distances(counts, {}), counts.distances()[TOTAL])


def test_weights_scale_each_blocks_bits():
    sigs = signatures(5, seed=1)
    counts = hamming_from_signatures(sigs)
    got = weighted_distances(counts, {"0": 2.0, "2": 0.5})
    c, b = counts.counts, counts.bits
    expected = (2 * c["layer", "0"] + 0.5 * c["layer", "2"]) / (2 * b["layer", "0"]
                                                                + 0.5 * b["layer", "2"])
    assert got == pytest.approx(expected, abs=1e-12)
    # Equal weights on every block are the plain distance over the blocks' bits.
    equal = weighted_distances(counts, {str(k): 3.0 for k in range(4)})
    assert equal == pytest.approx(weighted_distances(counts, {str(k): 1.0 for k in range(4)}))


def test_a_block_the_signatures_lack_is_named():
    counts = hamming_from_signatures(signatures(3))
    with pytest.raises(LanggeoError, match=r"blocks \['7'\]"):
        weighted_distances(counts, {"1": 1.0, "7": 1.0})


def test_variant_table_has_one_row_per_variant():
    metrics = {FULL: {"a_priori": False, "bits_share": 1.0, "n_languages": 4,
                      "branch/kmeans/ari_mean": 0.3, "tree/nj/gqd": 0.5,
                      "mantel/script/rho": 0.6},
               share_name(0.5): {"a_priori": True, "bits_share": 0.4, "n_languages": 4,
                                 "branch/kmeans/ari_mean": 0.4, "tree/nj/gqd": 0.3,
                                 "mantel/script/rho": 0.2}}
    table = variant_table(metrics, "branch")
    assert table["variant"].tolist() == [FULL, share_name(0.5)]
    assert table["a_priori"].tolist() == [False, True]
    assert table.loc[1, "tree/nj/gqd"] == 0.3 and table.loc[1, "mantel/script/rho"] == 0.2
    assert table["mantel/genetic/rho"].isna().all()  # absent values stay empty
