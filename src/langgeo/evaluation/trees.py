"""A distance judged as the field judges it: by the tree it implies.

For one distance matrix: its neighbour-joining (NJ) and average-linkage (UPGMA) trees
(:mod:`langgeo.geometry.trees`) against the Glottolog classification of its languages by the
Generalized Quartet Distance (:mod:`langgeo.geometry.quartets`; exact up to ``exact_max``
languages, sampled above with its standard error), overall, within families and across
them; the NJ tree's leaf-permutation p-value; and the share of families it recovers as
clades. A random tree scores a GQD of about 2/3; lower is better.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from langgeo._util import single_threaded
from langgeo.geometry.quartets import clade_recovery, gqd, gqd_null
from langgeo.geometry.trees import LeafTree, lineage_tree, nj_tree, upgma_tree

#: Leaf permutations of the NJ tree's null (p-values down to 0.01).
TREE_PERMUTATIONS = 99
#: Quartets drawn above ``exact_max`` languages (442 languages: about one second).
QUARTET_SAMPLES = 1_000_000


@single_threaded
def tree_metrics(distances: np.ndarray, codes: Sequence[str],
                 lineages: Sequence[Sequence[str]], families: Sequence[str], *,
                 permutations: int = TREE_PERMUTATIONS, exact_max: int = 120,
                 samples: int = QUARTET_SAMPLES, seed: int = 0) -> dict[str, float | int | None]:
    """Tree metrics of ``distances`` ``(n, n)`` over ``codes``, against the reference tree of
    ``lineages`` (one Glottolog path per code, family first) with ``families`` (one label per
    code) for the within/across split and the clades.

    Returns
    -------
    A flat, JSON-ready dict: for ``M`` in nj, upgma: ``tree/M/gqd``, ``tree/M/gqd_within``,
    ``tree/M/gqd_across`` (None where undefined), ``tree/M/clades`` (the share of families of
    >= 2 languages recovered as clades); ``tree/nj/gqd_p`` (leaf permutations); and
    ``tree/quartets`` (reference-resolved quartets counted), ``tree/exact`` and, when sampled,
    ``tree/nj/gqd_stderr``.
    """
    reference = lineage_tree(lineages, codes)
    out: dict[str, float | int | None] = {}
    for method, build in (("nj", nj_tree), ("upgma", upgma_tree)):
        tree: LeafTree = build(distances, codes)
        result = gqd(tree, reference, families, exact_max=exact_max, samples=samples,
                     seed=seed)
        out.update({f"tree/{method}/gqd": _value(result.gqd),
                    f"tree/{method}/gqd_within": _value(result.within),
                    f"tree/{method}/gqd_across": _value(result.across),
                    f"tree/{method}/clades": _value(clade_recovery(tree, families).share)})
        if method == "nj":
            out["tree/nj/gqd_p"] = gqd_null(tree, reference, permutations, exact_max, samples,
                                            seed).p_value
            out["tree/quartets"] = result.counted
            out["tree/exact"] = result.exact
            if not result.exact:
                out["tree/nj/gqd_stderr"] = result.stderr
    return out


def _value(x: float) -> float | None:
    return None if np.isnan(x) else float(x)
