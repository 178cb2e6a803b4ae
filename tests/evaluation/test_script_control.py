"""Script control: the partial Mantel test on planted matrices whose answer is known, and the
restriction of the protocol to one script's languages."""

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.stats import spearmanr

from langgeo import LanggeoError
from langgeo.evaluation.protocol import evaluate_distances, mantel_test, partial_mantel_test
from langgeo.evaluation.script_control import script_control, script_members
from langgeo.report.summary import comparison_table, script_control_summary


def planted(n: int = 24, seed: int = 0):
    """n languages in 6 families of two stocks; scripts follow stocks only in part (stock 0
    writes script A, stock 1 script B, every sixth language switched), as Cyrillic and Latin
    split Slavic. Returns family labels, genetic and script distances (both (n, n))."""
    rng = np.random.default_rng(seed)
    family = np.arange(n) % 6
    script = (family >= 3).astype(int)
    script[::6] = 1 - script[::6]
    # Two stocks of three families each, far apart: script and genealogy agree in part.
    centres = rng.normal(size=(6, 4)) + np.repeat([[0.0], [10.0]], 3, axis=0)
    genetic = squareform(pdist(centres[family] + rng.normal(size=(n, 4)) * 0.3))
    script_d = (script[:, None] != script[None, :]).astype(float)
    return family, genetic, script_d, rng


def noise(rng, n: int, scale: float) -> np.ndarray:
    upper = np.triu(rng.uniform(0, scale, (n, n)), 1)
    return upper + upper.T


def test_partial_rho_is_the_partial_spearman_formula():
    _, genetic, script_d, rng = planted()
    ours = genetic / genetic.max() + script_d + noise(rng, 24, 0.5)
    upper = np.triu_indices(24, 1)
    r_ab = spearmanr(ours[upper], genetic[upper])[0]
    r_ac = spearmanr(ours[upper], script_d[upper])[0]
    r_bc = spearmanr(genetic[upper], script_d[upper])[0]
    expected = (r_ab - r_ac * r_bc) / np.sqrt((1 - r_ac**2) * (1 - r_bc**2))
    result = partial_mantel_test(ours, genetic, script_d, n_permutations=99)
    assert result["partial_rho"] == pytest.approx(expected, abs=1e-10)
    assert result["rho_ab"] == pytest.approx(r_ab, abs=1e-10)
    assert result["rho_a_control"] == pytest.approx(r_ac, abs=1e-10)
    assert result["rho_b_control"] == pytest.approx(r_bc, abs=1e-10)
    # A constant control explains nothing: the partial test is the plain Mantel test.
    plain = partial_mantel_test(ours, genetic, np.zeros((24, 24)), n_permutations=199, seed=3)
    rho, p = mantel_test(ours, genetic, n_permutations=199, seed=3)
    assert plain["partial_rho"] == pytest.approx(rho, abs=1e-10)
    assert plain["p"] == p


def test_script_only_geometry_loses_its_genetic_signal_once_script_is_controlled():
    _, genetic, script_d, rng = planted()
    # Distances that know only the script: they correlate with genealogy through the script.
    script_only = script_d + noise(rng, 24, 0.3)
    plain_rho, plain_p = mantel_test(script_only, genetic, n_permutations=999)
    result = partial_mantel_test(script_only, genetic, script_d, n_permutations=999)
    assert plain_rho > 0.2 and plain_p < 0.01
    assert abs(result["partial_rho"]) < 0.1 and result["p"] > 0.05
    # Distances that carry genealogy beyond the script keep it.
    both = genetic / genetic.max() + script_d + noise(rng, 24, 0.3)
    kept = partial_mantel_test(both, genetic, script_d, n_permutations=999)
    assert kept["partial_rho"] > 0.5 and kept["p"] < 0.01


def test_partial_mantel_is_seeded_and_checks_its_input():
    _, genetic, script_d, rng = planted()
    ours = genetic + noise(rng, 24, 1.0)
    assert (partial_mantel_test(ours, genetic, script_d, 99, seed=5)
            == partial_mantel_test(ours, genetic, script_d, 99, seed=5))
    with pytest.raises(LanggeoError, match="three square matrices of one shape"):
        partial_mantel_test(ours, genetic[:5, :5], script_d)
    with pytest.raises(LanggeoError, match="function of the control"):
        partial_mantel_test(ours, script_d * 2, script_d)


LATIN = ["fr", "es", "it", "de", "nl", "pl"]


OTHER = ["ru", "uk", "bg", "hi", "ja", "zh"]


def test_script_control_restricts_to_latin_and_scores_within_it():
    codes = LATIN + OTHER
    # Within Latin script the planted geometry separates Romance from the rest; across
    # scripts it is script alone.
    branch = ["Italic"] * 3 + ["Germanic"] * 2 + ["Balto-Slavic"] + ["Balto-Slavic"] * 3 \
        + ["Indo-Iranian", "Japonic", "Sinitic"]
    family = ["Indo-European"] * 10 + ["Japonic", "Sino-Tibetan"]
    group = np.array([0, 0, 0, 1, 1, 2, 3, 3, 3, 4, 5, 6])
    latin = np.array([c in LATIN for c in codes])
    ensemble = (group[:, None] != group[None, :]) * 0.5 + (latin[:, None] != latin[None, :]) * 1.0
    rng = np.random.default_rng(1)
    ensemble = ensemble + noise(rng, 12, 0.05)
    np.fill_diagonal(ensemble, 0)
    genetic = (np.array(branch)[:, None] != np.array(branch)[None, :]).astype(float)
    gold = {"family": family, "branch": branch}

    def evaluate(matrix, on):
        labels = {k: [v[codes.index(c)] for c in on] for k, v in gold.items()}
        return evaluate_distances(matrix, labels, kmeans_seeds=2, n_permutations=99,
                                  n_bootstrap=5)

    pair_codes = codes[1:]  # a pair that lacks French
    out = script_control(codes, ensemble, {"m/d": (pair_codes, ensemble[1:, 1:])},
                         {"uriel_genetic": genetic, "script": (~(latin[:, None] == latin))
                          .astype(float)}, genetic, evaluate, 99, 0)
    assert script_members(codes) == list(range(6))
    assert out["languages"] == LATIN and out["skipped"] is None
    assert out["ours"]["n_languages"] == 6 and out["per_pair"]["m/d"]["n_languages"] == 5
    assert out["ours"]["branch/n_labels"] == 3
    # The restricted matrix is exactly ours on the Latin rows and columns.
    direct = evaluate(ensemble[:6, :6], codes[:6])
    assert out["ours"] == direct
    assert set(out["baselines"]) == {"uriel_genetic"}  # script is constant inside Latin
    assert out["baselines"]["uriel_genetic"]["mantel_rho_vs_ours"] > 0.5
    assert set(out["partial_mantel"]["pairs"]) == {"m/d"}

    metrics = {"label_level": "branch", "ours": evaluate(ensemble, codes),
               "per_pair": {"m/d": evaluate(ensemble[1:, 1:], codes[1:])},
               "baselines": {}, "mantel": {}, "script_control": out}
    table = comparison_table(metrics).set_index("matrix")
    assert list(table.index) == ["ours (ensemble)", "pair m/d", "ours (ensemble) (Latn only)",
                                 "pair m/d (Latn only)", "baseline uriel_genetic (Latn only)"]
    assert table.loc["ours (ensemble) (Latn only)", "n_languages"] == 6
    assert (table.loc["ours (ensemble)", "partial_mantel_rho_genetic_given_script"]
            == out["partial_mantel"]["ours"]["partial_rho"])
    assert pd.isna(table.loc["ours (ensemble) (Latn only)", "partial_mantel_p"])
    assert table.loc["pair m/d", "rho_vs_script"] == out["partial_mantel"]["pairs"]["m/d"][
        "rho_a_control"]
    assert table.loc["pair m/d", "rho_vs_genetic"] == out["partial_mantel"]["pairs"]["m/d"][
        "rho_ab"]
    text = script_control_summary(metrics)
    assert "Latn-script languages only (6)" in text and "partial" in text


def test_script_control_skips_a_script_with_too_few_languages():
    codes = ["fr", "ru", "uk", "bg"]
    rng = np.random.default_rng(0)
    d = noise(rng, 4, 1.0) + 0.1
    np.fill_diagonal(d, 0)
    out = script_control(codes, d, {}, {}, d + noise(rng, 4, 0.5) * (1 - np.eye(4)),
                         lambda m, on: {}, 9, 0)
    assert out["ours"] is None and "only 1 Latn-script language" in out["skipped"]
