"""Synthetic inputs of the explorer: languages with unique names, transfer costs, layers
of a representation geometry, written where the stages write them; the page's data back."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from langgeo.formats.matrix_file import write_matrix
from langgeo.geometry.embedding import classical_mds
from langgeo.layout import Layout
from langgeo.report.explorer import Representation
from tests.helpers.planted import planted_languages

SYLLABLES = ["ka", "lo", "mi", "ra", "tu", "se", "vo", "pa", "di", "gre", "an", "ul", "zo",
             "ne", "ti", "ba"]


def languages(n: int, seed: int = 0):
    """n languages in 6 families of 2 branches, unique names, distances and their MDS."""
    family, branch, d = planted_languages(n, 6, seed, dims=5, spread=0.5)
    codes = [f"{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(n)]
    names = [(SYLLABLES[i % 16] + SYLLABLES[i // 16 % 16]).capitalize() + "ian" for i in range(n)]
    labels = pd.DataFrame({"code": codes, "name": names,
                           "family": [f"Family {f}" for f in family],
                           "branch": [f"Family {f} / {b % 2}" for f, b in zip(family, branch)]})
    return labels, codes, d, classical_mds(d)[0]


def nearest(d: np.ndarray, i: int, k: int) -> list[int]:
    order = np.argsort(d[i], kind="stable")  # ties by index, as the page breaks them
    return [int(j) for j in order if j != i][:k]


def planted_cost(panel: list[str], seed: int = 0) -> np.ndarray:
    """A transfer cost R for ``panel``: zero on the diagonal, mostly positive elsewhere."""
    cost = np.random.default_rng(seed).uniform(-0.2, 1.5, (len(panel), len(panel)))
    np.fill_diagonal(cost, 0.0)
    return cost


def planted_layers(model: str, codes: list[str], n_layers: int) -> Representation:
    """A model's layers: a different planted geometry per layer, ILO peaking mid-depth."""
    matrices = [(codes, languages(len(codes), seed=10 + layer)[2]) for layer in range(n_layers)]
    depth = np.arange(n_layers)
    table = pd.DataFrame({"layer": depth, "ilo": 0.2 - 0.01 * (depth - n_layers // 2) ** 2,
                          "retrieval_p1": 0.03 * depth})
    return Representation(model, table, matrices, f"data/interlingua/{model}")


def write_transfer_csv(path: Path, panel: list[str], cost: np.ndarray) -> None:
    """``cost`` as the transfer stage writes reports/pruning/matrix.csv (dense rows first)."""
    rows = [{"source": "dense", "target": b, "ppl": 50.0, "R": None} for b in panel]
    rows += [{"source": a, "target": b, "ppl": 60.0, "R": cost[i, j]}
             for i, a in enumerate(panel) for j, b in enumerate(panel)]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False, float_format="%.6g")


def write_layers(root: Path, representation: Representation) -> None:
    """A representation as the interlingua stage writes it under ``root``: layers.csv in
    reports/interlingua/<model>/, the matrices in data/interlingua/<model>/."""
    layout, model = Layout(root), representation.model
    layout.interlingua(model).mkdir(parents=True, exist_ok=True)
    representation.layers.to_csv(layout.interlingua(model) / "layers.csv", index=False)
    for layer, (codes, d) in zip(representation.layers["layer"], representation.matrices):
        write_matrix(layout.layer_distances(model, layer), codes, d)


def page_data(path: Path) -> dict:
    found = re.search(r'<script type="application/json"[^>]*>(.*?)</script>',
                      path.read_text(), re.S)
    return json.loads(found.group(1))
