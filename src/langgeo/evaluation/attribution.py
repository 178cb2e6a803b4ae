"""Which weights carry the geometry: the protocol's k-means ARI of the distances of each group
of weight matrices (each block, attention against MLP, each kind of module), per gold level."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from langgeo.evaluation.protocol import evaluate_kmeans
from langgeo.geometry.embedding import classical_mds
from langgeo.geometry.hamming import HammingCounts


def attribution_table(counts: HammingCounts, gold: Mapping[str, Sequence[str]],
                      kmeans_seeds: int, seed: int, n_components: int | None = None,
                      transform: str = "sqrt") -> pd.DataFrame:
    """One row per group of :meth:`HammingCounts.summary` (``family``, ``group``, bit counts),
    with ``<level>_ari_mean`` and ``<level>_ari_std`` of k-means (seeds ``seed ..``) on the
    classical MDS of that group's distances, for each gold ``level`` -> labels of the
    counts' languages."""
    table = counts.summary()
    distances = counts.distances()
    for level, labels in gold.items():
        scores = [evaluate_kmeans(classical_mds(distances[family, group], n_components,
                                                transform)[0], list(labels), kmeans_seeds, seed)
                  for family, group in zip(table["family"], table["group"])]
        table[f"{level}_ari_mean"] = [s["ari_mean"] for s in scores]
        table[f"{level}_ari_std"] = [s["ari_std"] for s in scores]
    return table
