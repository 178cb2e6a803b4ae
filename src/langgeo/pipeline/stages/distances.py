"""Stage ``distances``: each (model, dataset) pair's distance matrix over its own languages, and
their ensemble in params order with its coverage (``data/distances/``)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from langgeo.formats.matrix_file import write_matrix
from langgeo.formats.storage import atomic_path
from langgeo.geometry.continuous import (
    cosine_distances,
    factor_distances_from_files,
    l2_distances,
    score_quantiles_from_files,
)
from langgeo.geometry.ensemble import ensemble
from langgeo.geometry.hamming import distances_from_files
from langgeo.layout import Layout
from langgeo.params import Params
from langgeo.pipeline.inputs import check_signatures, pair_languages


def pair_distances(params: Params, layout: Layout, model: str, dataset: str
                   ) -> tuple[list[str], np.ndarray]:
    """One pair's languages ``(n,)`` and ``(n, n)`` distances of ``distances.kind``."""
    kind = params.distances.kind
    folder = layout.signatures(model, dataset)
    codes = pair_languages(params, layout, model, dataset)
    if kind == "hamming":
        return codes, distances_from_files([folder / f"{c}.parquet" for c in codes])
    if kind == "factors":
        return codes, factor_distances_from_files([folder / f"{c}.factors.parquet"
                                                   for c in codes])
    quantiles = score_quantiles_from_files([folder / f"{c}.scores.parquet" for c in codes])
    return codes, (l2_distances if kind == "l2" else cosine_distances)(quantiles)


def run(params: Params, layout: Layout) -> str:
    kind = params.distances.kind
    check_signatures(params, layout, kind)
    final = layout.distances()
    with atomic_path(final) as staged:
        matrices = []
        for model, dataset in params.pairs():
            codes, matrix = pair_distances(params, layout, model, dataset)
            matrices.append((codes, matrix))
            write_matrix(staged / model / f"{dataset}.parquet", codes, matrix)
        codes, combined, coverage = ensemble(matrices)
        # The ensemble in params order, whatever order the pairs listed their languages in.
        order = [codes.index(c) for c in params.languages]
        codes, combined, coverage = (list(params.languages), combined[np.ix_(order, order)],
                                     coverage[np.ix_(order, order)])
        write_matrix(staged / "ensemble.parquet", codes, combined)
        write_matrix(staged / "coverage.parquet", codes, coverage, pa.int64())
    off = combined[np.triu_indices(len(codes), 1)]
    partial = [f"{m}/{d} {len(c)}" for (m, d), (c, _) in zip(params.pairs(), matrices)
               if len(c) < len(codes)]
    return (f"distances ({kind}): {len(matrices)} (model, dataset) pairs; ensemble off-diagonal "
            f"min {off.min():.4f} median {np.median(off):.4f} max {off.max():.4f} -> {final}"
            + (f"; pairs with fewer than {len(codes)} languages: {', '.join(partial)}"
               if partial else ""))
