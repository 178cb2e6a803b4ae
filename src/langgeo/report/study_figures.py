"""Figures of the studies and sweeps: ARI against tokens, per-group attribution, the synthetic
ground truth, transfer cost, interlingua curves. Drawn like :mod:`langgeo.report.figures`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from langgeo import LanggeoError
from langgeo.report.figures import DPI, font_size, group_styles, save_figure

#: Colormap of the transfer cost R, in cost.png and in the explorer's colour by R.
COST_CMAP = "magma_r"


def sweep_figure(path: str | Path, runs: pd.DataFrame, mean: str, std: str) -> Path | None:
    """ARI (columns ``mean`` ± ``std``, over k-means seeds) against calibration tokens per
    language, from the MLflow comparison table (newest run per token count). ``None`` with
    fewer than two token counts."""
    needed = ["tokens_per_language", mean, std]
    if not set(needed) <= set(runs.columns):
        return None
    points = (runs.dropna(subset=needed)
              .assign(tokens=lambda t: t["tokens_per_language"].astype(int))
              .drop_duplicates("tokens").sort_values("tokens"))
    if len(points) < 2:
        return None
    fig = Figure(figsize=(6, 4), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.errorbar(points["tokens"], points[mean], yerr=points[std], marker="o", capsize=3)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("calibration tokens per language")
    ax.set_ylabel(f"k-means ARI ({mean.split('/')[0]})")
    ax.set_title("Tokens-per-language sweep")
    fig.tight_layout()
    return save_figure(fig, path)


def pairs_sweep_figure(path: str | Path, runs: pd.DataFrame, mean: str,
                       std: str) -> Path | None:
    """Each (model, dataset) pair's ARI (``mean`` ± ``std`` over k-means seeds) against its
    own calibration tokens per language, one line per pair, from
    :func:`langgeo.pipeline.tracking.compare_pair_runs` (newest run per pair and token count). Lines
    on the languages every pair holds are solid, on a pair's own languages dashed. ``None``
    when no pair has two token counts."""
    needed = ["model", "dataset", "tokens_per_language", mean, std]
    if not set(needed) <= set(runs.columns):
        return None
    points = (runs.dropna(subset=needed)
              .drop_duplicates(["model", "dataset", "tokens_per_language"])
              .sort_values("tokens_per_language"))
    lines = [(key, rows) for key, rows in points.groupby(["model", "dataset"], sort=True)
             if len(rows) >= 2]
    if not lines:
        return None
    fig = Figure(figsize=(6.5, 4), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for (model, dataset), rows in lines:
        common = (rows["languages"] == "common").all() if "languages" in rows else False
        ax.errorbar(rows["tokens_per_language"], rows[mean], yerr=rows[std], marker="o",
                    capsize=3, linestyle="-" if common else "--",
                    label=f"{model} / {dataset}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("calibration tokens per language (the pair's dataset)")
    ax.set_ylabel(f"k-means ARI ({mean.split('/')[0]})")
    ax.set_title("Tokens per language, each (model, dataset) pair")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def attribution_figure(path: str | Path, table: pd.DataFrame, level: str) -> Path:
    """Where the language signal lives: k-means ARI (mean ± std over seeds) of the distances
    restricted to each transformer block (left) and to each projection type (right), with
    the ARI of all weights as a reference line. ``table``: the attribution table (columns
    model, dataset, family, group, ``<level>_ari_mean``, ``<level>_ari_std``)."""
    mean, std = f"{level}_ari_mean", f"{level}_ari_std"
    fig = Figure(figsize=(11, 4), dpi=DPI)
    FigureCanvasAgg(fig)
    by_layer, by_module = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for (model, dataset), rows in table.groupby(["model", "dataset"], sort=False):
        layers = rows[rows["family"] == "layer"]
        x = layers["group"].astype(int)
        line = by_layer.errorbar(x, layers[mean], yerr=layers[std], marker="o", capsize=2,
                                 label=f"{model}/{dataset}")
        total = rows.loc[rows["family"] == "all", mean].iloc[0]
        by_layer.axhline(total, color=line[0].get_color(), linestyle="--", linewidth=1)
        modules = rows[rows["family"].isin(["part", "module"])]
        by_module.barh(modules["group"], modules[mean], xerr=modules[std], capsize=2)
        by_module.axvline(total, color="grey", linestyle="--", linewidth=1)
    by_layer.set_xlabel("transformer block")
    by_layer.set_ylabel(f"k-means ARI vs Glottolog {level}")
    by_layer.set_title("Distances from one block's weights (dashed: all weights)")
    by_layer.legend(fontsize=7, frameon=False)
    by_module.invert_yaxis()
    by_module.set_xlabel(f"k-means ARI vs Glottolog {level}")
    by_module.set_title("By module type")
    fig.tight_layout()
    return save_figure(fig, path)


def synthetic_figure(path: str | Path, table: pd.DataFrame) -> Path:
    """Recovered distance to the base against transformation strength, one line per (model,
    transformation), with each model's reference distance (other text of the same language)
    dashed. ``table``: :func:`langgeo.studies.synthetic.synthetic_distances` rows."""
    fig = Figure(figsize=(6.5, 4), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for (model, transformation), rows in table.groupby(["model", "transformation"],
                                                        sort=False):
        if transformation == "reference":
            ax.axhline(rows["distance"].iloc[0], linestyle="--", linewidth=1, color="grey")
            ax.annotate(f"{model}: other text", (0, rows["distance"].iloc[0]), fontsize=7,
                        color="grey", xycoords=("axes fraction", "data"),
                        textcoords="offset points", xytext=(3, 3))
            continue
        rows = rows.sort_values("strength")
        mark = "pass" if rows["passed"].all() else "FAIL"
        ax.plot(rows["strength"], rows["distance"], marker="o",
                label=f"{model} {transformation} (ρ {rows['spearman'].iloc[0]:.2f} {mark})")
    ax.set_xlabel("transformation strength (share of letters / words changed)")
    ax.set_ylabel("Hamming distance to the base text")
    ax.set_title("Synthetic languages: recovered distance vs strength")
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return save_figure(fig, path)


def transfer_cost_figure(path: str | Path, codes: Sequence[str], cost: np.ndarray,
                         title: str = "Cost of pruning with another language's text") -> Path:
    """Heatmap of ``R[a, b] = log P[a, b] − log P[b, b]`` (``(n, n)``, rows = calibration
    language a, columns = evaluated language b), each cell annotated."""
    n = len(codes)
    if cost.shape != (n, n):
        raise LanggeoError(f"cost matrix of shape {cost.shape} for {n} languages")
    side = max(4.0, 0.45 * n)
    fig = Figure(figsize=(side + 1.6, side + 0.6), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(cost, cmap=COST_CMAP, interpolation="nearest")
    for a in range(n):
        for b in range(n):
            ax.text(b, a, f"{cost[a, b]:.2f}", ha="center", va="center", fontsize=6,
                    color="white" if cost[a, b] > np.nanmax(cost) / 2 else "black")
    ax.set_xticks(range(n), codes, fontsize=font_size(n))
    ax.set_yticks(range(n), codes, fontsize=font_size(n))
    ax.set_xlabel("evaluated on b (held-out text)")
    ax.set_ylabel("pruned with a's text")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04).set_label(
        "R = log P[a, b] − log P[b, b] (nats/token)", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def interlingua_figure(path: str | Path, per_layer: pd.DataFrame, model: str) -> Path:
    """Where in the depth languages meet: mean ILO, Bridge, Reach and translation retrieval
    P@1 per layer with their controls (dashed: shuffled labels, dotted: Gaussian points) on
    the left; on the right, how the layer's representation distances agree with the weight
    distances (Mantel ρ) and with Glottolog (k-means ARI). ``per_layer``: the per-layer
    table written by the interlingua stage."""
    fig = Figure(figsize=(11, 4), dpi=DPI)
    FigureCanvasAgg(fig)
    scores, geometry = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    x = per_layer["layer"]
    for column, colour in (("ilo", "C0"), ("bridge", "C1"), ("reach", "C2"),
                           ("retrieval_p1", "C3")):
        scores.plot(x, per_layer[column], marker="o", markersize=3, color=colour,
                    label=column.replace("_p1", " P@1"))
    scores.plot(x, per_layer["shuffled_ilo"], "--", color="C0", label="ilo, shuffled labels")
    scores.plot(x, per_layer["gaussian_ilo"], ":", color="C0", label="ilo, Gaussian points")
    scores.plot(x, per_layer["gaussian_retrieval_p1"], ":", color="C3",
                label="P@1, Gaussian points")
    scores.set_ylim(-0.02, 1.02)
    scores.set_xlabel("layer (0: embedding output)")
    scores.set_ylabel("mean over languages")
    scores.set_title(f"Interlingual overlap, {model}")
    scores.legend(fontsize=7, frameon=False)
    for column, label in (("mantel_rho", "Mantel ρ vs weight distances"),
                          ("branch_kmeans_ari", "k-means ARI vs Glottolog branch"),
                          ("family_kmeans_ari", "k-means ARI vs Glottolog family")):
        if column in per_layer and per_layer[column].notna().any():
            geometry.plot(x, per_layer[column], marker="o", markersize=3, label=label)
    geometry.axhline(0, color="grey", linewidth=0.8)
    for ax in (scores, geometry):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    geometry.set_xlabel("layer (0: embedding output)")
    geometry.set_title("Representation distance of each layer")
    geometry.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return save_figure(fig, path)


def language_ilo_figure(path: str | Path, per_language: pd.DataFrame, layer: int,
                        families: Sequence[str]) -> Path:
    """ILO of each language at one ``layer`` (bars, sorted), coloured by family, with its
    Bridge and Reach as markers. ``per_language``: rows of that layer, in the order of
    ``families``."""
    order = np.argsort(-per_language["ilo"].to_numpy(), kind="stable")
    rows = per_language.iloc[order]
    styles = group_styles(list(families))
    colours = [styles[families[i]][0] for i in order]
    n = len(rows)
    fig = Figure(figsize=(max(6, 0.16 * n + 2), 4), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.bar(np.arange(n), rows["ilo"], color=colours)
    ax.plot(np.arange(n), rows["bridge"], "k_", markersize=6, label="bridge")
    ax.plot(np.arange(n), rows["reach"], "kx", markersize=4, label="reach")
    ax.set_xticks(np.arange(n), rows["language"], rotation=90, fontsize=font_size(n))
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("ILO")
    ax.set_title(f"ILO per language at layer {layer} (the highest mean ILO)")
    ax.legend(fontsize=7, frameon=False, loc="upper right")
    fig.tight_layout()
    return save_figure(fig, path)


def transfer_scatter_figure(path: str | Path, codes: Sequence[str], distances: np.ndarray,
                            cost: np.ndarray, rho: float, p: float,
                            distance_name: str = "signature distance d(a, b)") -> Path:
    """Scatter of ``d(a, b)`` against ``R[a, b]`` over the ordered pairs a ≠ b, coloured by
    the target b; the Spearman correlation and its permutation p-value in the title."""
    n = len(codes)
    off = ~np.eye(n, dtype=bool)
    styles = group_styles(list(codes))
    fig = Figure(figsize=(7.5, 5), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for b, code in enumerate(codes):
        rows = off[:, b]
        colour, marker = styles[code]
        ax.scatter(distances[rows, b], cost[rows, b], color=colour, marker=marker, s=18,
                   edgecolors="0.2", linewidths=0.3, label=code)
    ax.set_xlabel(distance_name)
    ax.set_ylabel("R[a, b] (nats/token)")
    ax.set_title(f"Does d(a, b) predict the cost of pruning with a for b?  "
                 f"Spearman ρ = {rho:.3f}, p = {p:.4f}", fontsize=9)
    ax.legend(title="target b", fontsize=6, title_fontsize=7, frameon=False,
              loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return save_figure(fig, path)


def geometry_scatter_figure(path: str | Path, weights: np.ndarray,
                            representation: np.ndarray, layer: int, rho: float) -> Path:
    """Weight distance against representation distance, one point per language pair, at
    one ``layer`` (``rho``: their Mantel correlation)."""
    upper = np.triu_indices(len(weights), 1)
    fig = Figure(figsize=(5, 4.5), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.scatter(weights[upper], representation[upper], s=4, alpha=0.4)
    ax.set_xlabel("weight distance (Hamming of signatures)")
    ax.set_ylabel(f"representation distance, layer {layer}")
    ax.set_title(f"Two geometries, Spearman ρ = {rho:.2f}")
    fig.tight_layout()
    return save_figure(fig, path)


def script_ladder_figure(path: str | Path, pairs: pd.DataFrame, ladder: pd.DataFrame,
                         model: str) -> Path:
    """The script experiment: every pair's distance by rung (points, labelled) over the
    ladder's mean per rung (bars), and, for the script pairs, the distance to the nearest
    other language in one script (crosses). ``pairs``, ``ladder``: the tables of
    :func:`langgeo.studies.script_experiment.experiment_tables`."""
    fig = Figure(figsize=(7.5, 4.5), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    rungs = ladder["rung"].tolist()
    ax.bar(range(len(rungs)), ladder["mean"], color="#dddddd", label="mean per rung")
    for x, rung in enumerate(rungs):
        rows = pairs[pairs["rung"] == rung]
        for k, row in enumerate(rows.itertuples()):
            ax.plot(x, row.distance, "o", color="C0", markersize=4)
            ax.annotate(f"{row.a}/{row.b}", (x, row.distance), fontsize=6,
                        textcoords="offset points", xytext=(4, -2 + 4 * (k % 3)))
            if rung == "script":
                near = np.nanmin([row.nearest_a_distance, row.nearest_b_distance])
                ax.plot(x + 0.2, near, "x", color="C3", markersize=5)
    ax.plot([], [], "x", color="C3", label="nearest other language, same script")
    ax.set_xticks(range(len(rungs)), rungs, fontsize=8)
    ax.set_ylabel("Hamming distance")
    ax.set_title(f"Language or writing system? ({model}, UDHR)")
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return save_figure(fig, path)


#: Line style of each fine-tuning mode in the freezing figures.
_MODE_STYLES = {"base": ("black", "-"), "full": ("C3", "-"), "frozen": ("C0", "--")}


def freezing_alignment_figure(path: str | Path, alignment: pd.DataFrame, early: int,
                              model: str) -> Path:
    """ILO (top) and translation retrieval P@1 (bottom) per layer, one column per alignment
    source: the base model, and the model fine-tuned on the source fully and with the early
    layers frozen; the shaded layers ``0 … early`` are those freezing leaves untouched
    (the controls, near 1 for ILO, are in the tables). ``alignment``: rows of ``mode``,
    ``source``, ``layer``, ``ilo``, ``retrieval_p1`` (the base as mode and source ``base``)."""
    base = alignment[alignment["mode"] == "base"]
    sources = [s for s in dict.fromkeys(alignment["source"]) if s != "base"]
    if base.empty or not sources:
        raise LanggeoError("the alignment table needs the base model and at least one source")
    fig = Figure(figsize=(3.2 * len(sources) + 0.6, 5.6), dpi=DPI)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, len(sources), sharex=True, sharey="row", squeeze=False)
    for col, source in enumerate(sources):
        for row, column in enumerate(("ilo", "retrieval_p1")):
            ax = axes[row, col]
            ax.axvspan(-0.5, early + 0.5, color="grey", alpha=0.15, linewidth=0)
            for mode, group in [("base", base), *[
                    (m, g) for m, g in alignment[alignment["source"] == source].groupby(
                        "mode", sort=False)]]:
                colour, style = _MODE_STYLES.get(mode, ("C2", ":"))
                ax.plot(group["layer"], group[column], style, color=colour, marker="o",
                        markersize=2, label=mode if mode == "base" else f"{mode} on {source}")
            if column == "ilo":
                ax.set_title(f"fine-tuned on {source}", fontsize=9)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            if col == 0:
                ax.set_ylabel("mean ILO" if column == "ilo" else "retrieval P@1")
            if row == 1:
                ax.set_xlabel("layer (0: embedding output)")
            ax.legend(fontsize=6, frameon=False)
    fig.suptitle(f"Alignment before and after fine-tuning, {model} (shaded: frozen layers)",
                 fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def freezing_gain_figure(path: str | Path, comparison: pd.DataFrame, model: str) -> Path:
    """The mean gain G (bits per byte) on the source language itself and on the other
    languages, per fine-tuning mode and for frozen minus full, with the bootstrap intervals
    over targets. ``comparison``: :func:`langgeo.studies.freezing.freezing_comparison`."""
    fig = Figure(figsize=(6.4, 3.6), dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    modes = list(dict.fromkeys(comparison["mode"]))
    for i, on in enumerate(("source", "others")):
        rows = comparison[comparison["on"] == on].set_index("mode").loc[modes]
        x = np.arange(len(modes)) + (i - 0.5) * 0.3
        ax.errorbar(x, rows["mean"], yerr=[rows["mean"] - rows["ci_low"],
                                          rows["ci_high"] - rows["mean"]],
                    fmt="o", capsize=3, color=f"C{i}",
                    label="on the source itself" if on == "source" else "on the other languages")
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xticks(range(len(modes)), modes)
    ax.set_ylabel("G = L_base − L_tuned (bits/byte)")
    ax.set_title(f"Fine-tuning gain by mode, {model} (95% bootstrap over targets)",
                 fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return save_figure(fig, path)
