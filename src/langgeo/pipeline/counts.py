"""One (model, dataset) pair's Hamming counts per group of weight matrices, for the stages
that need more than the total distance (``attribute``, ``robust``)."""

from __future__ import annotations

from langgeo.geometry.hamming import GroupBy, HammingCounts, hamming_from_files, module_groups
from langgeo.layout import Layout
from langgeo.method.models import load_model
from langgeo.method.signature import hamming_from_factor_files
from langgeo.params import Params
from langgeo.pipeline.inputs import pair_languages


def pair_counts(params: Params, layout: Layout, model: str, dataset: str,
                group_by: GroupBy | None = module_groups,
                loaded: dict | None = None) -> tuple[list[str], HammingCounts]:
    """One (model, dataset) pair's languages and their Hamming counts per group of
    ``group_by``, in one pass over the bits: read from the signature files or, with
    ``signatures.store_bits: false``, rebuilt from the factor files and the model. ``loaded``
    (model name -> loaded model) keeps one model in memory across a model's datasets."""
    folder = layout.signatures(model, dataset)
    codes = pair_languages(params, layout, model, dataset)
    if params.signatures.store_bits:
        return codes, hamming_from_files([folder / f"{c}.parquet" for c in codes], group_by)
    loaded = {} if loaded is None else loaded
    if model not in loaded:
        loaded.clear()  # one model in memory at a time
        loaded[model] = load_model(layout.model(model), "cpu", params.signatures.dtype)
    return codes, hamming_from_factor_files([folder / f"{c}.factors.parquet" for c in codes],
                                            loaded[model], group_by)
