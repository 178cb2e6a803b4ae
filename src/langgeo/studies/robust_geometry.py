"""A geometry that sees through script: Hamming distances restricted to, or weighted towards,
the blocks where one language's two scripts are closest (issue 24, item 5).

The blocks are chosen by the script experiment's criterion alone
(:func:`langgeo.studies.script_experiment.layer_criterion`: per block, the distance between the
two scripts of one language over the distance from each to its nearest other language in its
own script, on the dual-script UDHR declarations), before any Glottolog score is seen. Every
variant is a positive combination of per-block Hamming distances, so the ``sqrt`` embedding of
the protocol stays exactly Euclidean, and each is ensembled and evaluated like the full
signature.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from langgeo import LanggeoError
from langgeo.geometry.hamming import TOTAL, HammingCounts
from langgeo.studies.script_experiment import select_layers

#: The variant that keeps every bit: today's distances.
FULL = "full signature"
#: Shares of the blocks kept beside the a-priori one, fixed before any run.
SHARES = (0.25, 0.5, 0.75)
#: Every block weighted by the inverse of its criterion: none dropped, the script-robust ones
#: counted more.
WEIGHTED = "weighted 1/ratio"


def share_name(share: float) -> str:
    """The name of the variant that keeps ``share`` of the blocks."""
    return f"blocks {share:g}"


def block_weights(criterion: pd.DataFrame, share: float,
                  shares: Sequence[float] = SHARES) -> dict[str, dict[str, float]]:
    """Variant name -> block (layer index as in the signature's module names) -> weight.

    ``criterion``: one row per block with ``layer`` and ``ratio`` (the script experiment's
    ``layers.csv``). The variants: :data:`FULL` (empty: the total, every matrix), one per
    share in ``shares`` and ``share`` (the a-priori one, :func:`select_layers`: weight 1 on the
    kept blocks), and :data:`WEIGHTED` (``1 / ratio`` on every block).
    """
    if criterion.empty or not np.all(np.isfinite(criterion["ratio"])) or \
            (criterion["ratio"] <= 0).any():
        raise LanggeoError("the script criterion needs a positive, finite ratio for every "
                           "block; re-run the scripts stage (`dvc repro -f -s scripts@<model>`)")
    out: dict[str, dict[str, float]] = {FULL: {}}
    for s in sorted({*shares, share}):
        out[share_name(s)] = {str(layer): 1.0 for layer in select_layers(criterion, s)}
    out[WEIGHTED] = {str(int(layer)): 1.0 / float(ratio)
                     for layer, ratio in zip(criterion["layer"], criterion["ratio"])}
    return out


def weighted_distances(counts: HammingCounts, weights: Mapping[str, float]) -> np.ndarray:
    """``(n, n)`` distances ``Σ_b w_b · differing bits_b / Σ_b w_b · bits_b`` over the blocks
    ``b`` of ``weights`` (counts of family ``layer``); the normalized Hamming distance over
    all bits when ``weights`` is empty. Weight 1 on some blocks is the Hamming distance over
    their bits alone."""
    if not weights:
        return counts.distances()[TOTAL]
    missing = [b for b in weights if ("layer", b) not in counts.counts]
    if missing:
        raise LanggeoError(f"blocks {missing} of the script criterion are not in the "
                           "signatures; the scripts stage ran on another model or layout")
    n = counts.counts[TOTAL].shape[0]
    differing, bits = np.zeros((n, n)), 0.0
    for block, w in weights.items():
        differing += w * counts.counts["layer", block]
        bits += w * counts.bits["layer", block]
    return differing / bits


def variant_table(metrics: Mapping[str, Mapping[str, object]], level: str) -> pd.DataFrame:
    """One row per variant of ``metrics`` (name -> the stage's entry): whether it was fixed a
    priori, the k-means ARI with its bootstrap interval and purity at ``level``, the
    agglomerative ARI, the NJ and UPGMA GQD with the NJ tree's p-value, and the Mantel
    rho (with p) against script identity and against URIEL+ genetic distances."""
    keys = [f"{level}/kmeans/ari_mean", f"{level}/kmeans/ari_ci_low",
            f"{level}/kmeans/ari_ci_high", f"{level}/kmeans/purity_mean",
            f"{level}/agglomerative/ari", f"{level}/agglomerative/ari_ci_low",
            f"{level}/agglomerative/ari_ci_high", "tree/nj/gqd", "tree/nj/gqd_within",
            "tree/nj/gqd_across", "tree/nj/gqd_p", "tree/nj/clades", "tree/upgma/gqd",
            "mantel/script/rho", "mantel/script/p", "mantel/genetic/rho", "mantel/genetic/p",
            "partial_mantel/genetic_given_script/rho", "partial_mantel/genetic_given_script/p"]
    rows = [{"variant": name, "a_priori": m["a_priori"], "bits_share": m["bits_share"],
             "n_languages": m["n_languages"], **{k: m.get(k) for k in keys}}
            for name, m in metrics.items()]
    return pd.DataFrame(rows)
