"""Bits and factor files of a tiny model on random token ids, computed as the signature
stage computes them."""


import torch

from langgeo.formats.factor_file import write_factors
from langgeo.method.binarize import binarize
from langgeo.method.hessians import collect_hessians
from langgeo.method.importance import layer_factors, layer_scores
from langgeo.method.signature import factors_of_layers, model_identity


def signature_of(model, ids, score="sparsegpt", binarization="per_matrix"):
    hessians = collect_hessians(model, ids.split(2))
    return binarize(layer_scores(model, hessians, score, 0.01), binarization)


META = {"model": "tiny", "dataset": "d", "language": "fr", "binarization": "per_matrix"}


def write_pass_factors(path, model, hessians, score, damping, metadata):
    """The factor file of one calibration pass, as the signature stage writes it."""
    factors = layer_factors(model, hessians, score, damping)
    write_factors(path, factors_of_layers(factors, hessians.leader_of,
                                          {**metadata, "model_identity": model_identity(model)}))


def ids(seed=0, low=3, high=300):
    return torch.randint(low, high, (4, 16), generator=torch.Generator().manual_seed(seed))


def language_factors(model, tmp_path, seeds_and_ranges, score="sparsegpt"):
    paths, bits = [], []
    for i, (seed, low, high) in enumerate(seeds_and_ranges):
        hessians = collect_hessians(model, ids(seed, low, high).split(2))
        bits.append(binarize(layer_scores(model, hessians, score, 0.01), "per_matrix"))
        paths.append(tmp_path / f"l{i}.factors.parquet")
        write_pass_factors(paths[-1], model, hessians, score, 0.01,
                      {**META, "language": f"l{i}", "score": score})
    return paths, bits
