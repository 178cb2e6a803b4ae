"""The transfer test: Spearman and permutation p-values on planted costs; the cross-lingual
pruning matrix of a tiny model."""

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from langgeo import LanggeoError
from langgeo.studies.transfer import transfer_test

# Tiny matrices: on a busy 2-core machine the thread pool costs more than the work.
pytestmark = pytest.mark.usefixtures("one_thread")


def planted(n, noise, seed):
    rng = np.random.default_rng(seed)
    points = rng.normal(size=(n, 2))
    d = np.linalg.norm(points[:, None] - points[None], axis=-1)
    cost = d + noise * rng.normal(size=(n, n))
    np.fill_diagonal(cost, 0.0)
    return d, cost


def test_correlations_are_spearman_of_the_off_diagonal_pairs():
    d, cost = planted(8, 0.3, 0)
    result = transfer_test(d, cost, n_permutations=99)
    off = ~np.eye(8, dtype=bool)
    assert result["rho"] == pytest.approx(spearmanr(d[off], cost[off]).statistic)
    for b in range(8):
        others = [a for a in range(8) if a != b]
        assert result["per_target"][b]["rho"] == pytest.approx(
            spearmanr(d[others, b], cost[others, b]).statistic)
    assert result["mean_target_rho"] == pytest.approx(
        np.mean([v["rho"] for v in result["per_target"].values()]))


def test_planted_transfer_is_significant_and_noise_is_not():
    d, cost = planted(12, 0.1, 1)
    strong = transfer_test(d, cost, n_permutations=999, seed=0)
    assert strong["rho"] > 0.8 and strong["p"] < 0.01 and strong["mean_target_p"] < 0.01
    rng = np.random.default_rng(2)
    ps = [transfer_test(d, rng.normal(size=(12, 12)), n_permutations=199, seed=s)["p"]
          for s in range(20)]
    # Under the null p is uniform: most runs are not significant, and not all are tiny.
    assert np.mean(np.array(ps) < 0.05) <= 0.2 and np.median(ps) > 0.2


def test_bad_shapes_are_refused():
    with pytest.raises(LanggeoError, match="n >= 4"):
        transfer_test(np.zeros((3, 3)), np.zeros((3, 3)))
    with pytest.raises(LanggeoError, match=r"\(n, n\)"):
        transfer_test(np.zeros((5, 5)), np.zeros((5, 4)))


def test_cross_lingual_matrix_on_a_tiny_model(tiny_model_dir):
    from langgeo.data.shards import pack_sequences
    from langgeo.data.sources import eld_documents, shuffled
    from langgeo.method.models import load_model, load_tokenizer
    from langgeo.params import parse_pattern
    from langgeo.studies.perplexity import heldout_windows, split_documents
    from langgeo.studies.pruning import block_weights
    from langgeo.studies.transfer import (CrossLingual, PanelText, cross_lingual_matrix,
                                          lsp_summary)

    model, tokenizer = load_model(tiny_model_dir), load_tokenizer(tiny_model_dir)
    dense = block_weights(model)
    texts = {}
    for lang in ("fr", "de", "ru"):
        order = shuffled(eld_documents()[lang], lang, 0)
        cal, held = split_documents(order, tokenizer, 64, 64, 32, lang, "eld")
        texts[lang] = PanelText(pack_sequences(tokenizer, cal, 64, 32),
                                *heldout_windows(tokenizer, held, 64, 32))
    result, pruned, seconds = cross_lingual_matrix(model, texts, "sparsegpt", parse_pattern(0.5),
                                                   0.01, 2, progress=False)
    cost = result.cost()
    assert cost.shape == (3, 3) and np.allclose(np.diag(cost), 0)
    assert {r.sparsity for r in pruned.values()} == {0.5} and seconds > 0
    assert result.sparsity == {a: r.sparsity for a, r in pruned.items()}
    table = result.table()
    assert len(table) == 3 * 4 and set(table["source"]) == {"dense", "fr", "de", "ru"}
    # The comparison stage reads the matrix back from its table: the same matrix.
    again = CrossLingual.from_table(table)
    assert again.languages == result.languages and again.ppl == result.ppl
    assert again.sparsity == result.sparsity and again.table().equals(table)
    # The model is dense again afterwards.
    assert all(torch.equal(w, dense[n]) for n, w in block_weights(model).items())
    assert lsp_summary(result, "fr")["targets"] == 2
