"""Ranking transfer sources by distance: NDCG@3, top-1 loss, Spearman, bootstrap, rankers."""

from math import log2

import numpy as np
import pytest
from scipy.stats import spearmanr

from langgeo import LanggeoError
from langgeo.evaluation.ranking import (
    evaluate_rankers,
    evaluate_ranking,
    ndcg_at_k,
    pooled_spearman,
    relevance,
    target_spearman,
    top1_loss,
)

NAN = np.nan

# Five languages; rows = source a, columns = target b. Targets 0 and 1 are worked by hand
# below; the diagonals are never read (NaN on purpose).
P = np.array([
    [NAN, 0.2, 0.3, 0.8, 0.1],
    [0.9, NAN, 0.6, 0.2, 0.4],
    [0.5, 0.6, NAN, 0.4, 0.9],
    [0.1, 0.3, 0.2, NAN, 0.3],
    [0.7, 0.8, 0.5, 0.6, NAN],
])
D = np.array([
    [NAN, 0.5, 0.3, 0.2, 0.6],
    [0.4, NAN, 0.7, 0.9, 0.1],
    [0.1, 0.2, NAN, 0.3, 0.4],
    [0.3, 0.2, 0.5, NAN, 0.8],
    [0.2, 0.6, 0.4, 0.1, NAN],
])


def test_relevance_is_langrank_graded_ranks():
    # Target 0: P = .9 (a1), .5 (a2), .1 (a3), .7 (a4) -> ranks 1, 3, 4, 2 -> 10, 8, 7, 9.
    assert relevance(P)[0].tolist() == [10, 8, 7, 9]
    # Below the top 10 the relevance is 0; ties share the better rank.
    tied = np.array([[NAN, 1.0, 1.0], [2.0, NAN, 1.0], [2.0, 3.0, NAN]])
    assert relevance(tied, top=1)[0].tolist() == [1, 1]
    assert relevance(tied, top=1)[1].tolist() == [0, 1]


def test_ndcg_at_3_by_hand():
    ndcg = ndcg_at_k(D, P, 3)
    # Target 0: by distance a2 (.1), a4 (.2), a3 (.3), a1 (.4): relevances 8, 9, 7 | 10.
    # Ideal: 10, 9, 8.
    assert ndcg[0] == pytest.approx((8 + 9 / log2(3) + 7 / 2) / (10 + 9 / log2(3) + 8 / 2))
    assert ndcg[0] == pytest.approx(0.872956, abs=1e-6)
    # Target 1: P = .2 (a0), .6 (a2), .3 (a3), .8 (a4) -> relevances 7, 9, 8, 10.
    # Distances .5, .2, .2, .6: a2 and a3 tie for first, so places 1-2 get their mean 8.5.
    assert ndcg[1] == pytest.approx((8.5 + 8.5 / log2(3) + 7 / 2)
                                    / (10 + 9 / log2(3) + 8 / 2))
    exp = ndcg_at_k(D, P, 3, gain="exponential")
    assert exp[0] == pytest.approx((255 + 511 / log2(3) + 127 / 2)
                                   / (1023 + 511 / log2(3) + 255 / 2))


def test_ndcg_agrees_with_scikit_learn_including_ties():
    from sklearn.metrics import ndcg_score

    rng = np.random.default_rng(0)
    d = rng.integers(0, 4, (9, 9)).astype(float)  # many ties
    p = rng.normal(size=(9, 9))
    rel = relevance(p)
    for b, value in enumerate(ndcg_at_k(d, p, 3)):
        others = [a for a in range(9) if a != b]
        assert value == pytest.approx(ndcg_score([rel[b]], [-d[others, b]], k=3))


def test_top1_loss_by_hand():
    loss = top1_loss(D, P)
    assert loss[0] == pytest.approx(0.9 - 0.5)  # best a1, ranked first a2
    assert loss[1] == pytest.approx(0.8 - (0.6 + 0.3) / 2)  # a2 and a3 share first place
    assert (loss >= 0).all()


def test_spearman_per_target_and_pooled_agree_with_scipy():
    rho = target_spearman(D, P)
    for b in range(5):
        others = [a for a in range(5) if a != b]
        assert rho[b] == pytest.approx(spearmanr(-D[others, b], P[others, b]).statistic)
    off = ~np.eye(5, dtype=bool)
    assert pooled_spearman(D, P) == pytest.approx(spearmanr(-D[off], P[off]).statistic)


def test_a_perfect_ranker_and_a_constant_one():
    perfect = evaluate_ranking(-P, P, n_bootstrap=0)
    assert perfect["ndcg"] == pytest.approx(1) and perfect["top1_loss"] == pytest.approx(0)
    assert perfect["target_spearman"] == pytest.approx(1)
    assert perfect["ndcg_ci_low"] is None
    flat = np.ones((5, 5))
    # No order: ρ is 0, the top-1 loss is the best minus the mean of the candidates.
    assert (target_spearman(flat, P) == 0).all()
    assert top1_loss(flat, P)[0] == pytest.approx(0.9 - np.mean([0.9, 0.5, 0.1, 0.7]))


def test_bootstrap_is_reproducible_with_its_seed():
    rng = np.random.default_rng(1)
    d, p = rng.random((8, 8)), rng.normal(size=(8, 8))
    a = evaluate_ranking(d, p, n_bootstrap=200, seed=3)
    assert a == evaluate_ranking(d, p, n_bootstrap=200, seed=3)
    b = evaluate_ranking(d, p, n_bootstrap=200, seed=4)
    assert a["ndcg_ci_low"] != b["ndcg_ci_low"]
    for name in ("ndcg", "top1_loss", "target_spearman", "pooled_spearman"):
        assert a[f"{name}_ci_low"] <= a[name] <= a[f"{name}_ci_high"]


def test_many_rankers_and_the_random_one():
    rng = np.random.default_rng(2)
    p = rng.normal(size=(10, 10))
    codes = [f"l{i}" for i in range(10)]
    out = evaluate_rankers({"ours": -p + 0.1 * rng.normal(size=(10, 10)),
                            "flat": np.ones((10, 10))}, p, n_bootstrap=100, n_random=200,
                           codes=codes)
    assert set(out) == {"ours", "flat", "random"}
    assert out["ours"]["per_target"]["l3"]["first"] != "l3"
    assert out["ours"]["ndcg"] > out["random"]["ndcg"]
    # A constant ranker scores the exact expectation over random orders; the random
    # ranker's mean over 200 draws comes close to it, and to ρ = 0.
    assert out["random"]["ndcg"] == pytest.approx(out["flat"]["ndcg"], abs=0.03)
    assert out["random"]["top1_loss"] == pytest.approx(out["flat"]["top1_loss"], rel=0.1)
    assert abs(out["random"]["target_spearman"]) < 0.05
    assert out["random"]["n_random"] == 200
    again = evaluate_rankers({"ours": np.ones((10, 10))}, p, n_bootstrap=100, n_random=200)
    assert again["random"] == {**out["random"], "per_target": again["random"]["per_target"]}


@pytest.mark.parametrize("d,p,message", [
    (np.zeros((4, 4)), np.zeros((4, 3)), "square"),
    (np.zeros((4, 4)), np.zeros((5, 5)), "shape"),
    (np.zeros((2, 2)), np.zeros((2, 2)), "at least 3"),
    (np.where(np.eye(4, k=1) > 0, np.nan, 0.0), np.zeros((4, 4)), "NaN"),
    (np.zeros((4, 4)), np.where(np.eye(4, k=1) > 0, np.inf, 0.0), "NaN or infinite"),
])
def test_bad_input_is_refused(d, p, message):
    with pytest.raises(LanggeoError, match=message):
        evaluate_ranking(d, p, n_bootstrap=0)


def test_bad_settings_are_refused():
    with pytest.raises(LanggeoError, match="k >= 1"):
        ndcg_at_k(D, P, 0)
    with pytest.raises(LanggeoError, match="gain"):
        ndcg_at_k(D, P, gain="log")
    with pytest.raises(LanggeoError, match="own 'random'"):
        evaluate_rankers({"random": D}, P, n_bootstrap=0)
    assert "random" in evaluate_rankers({"random": D}, P, n_bootstrap=0, n_random=0)
    with pytest.raises(LanggeoError, match="distinct code"):
        evaluate_ranking(D, P, codes=["a", "b", "c", "d", "d"])
    with pytest.raises(LanggeoError, match="ranker 'x'"):
        evaluate_rankers({"x": np.zeros((4, 4))}, P)
