"""Pictures of the language space: distance heatmap, minimum spanning tree, 2-D maps, the MDS
eigenvalue spectrum and clusters against families.

Every figure is a PNG drawn with matplotlib's Agg canvas on a ``Figure`` object (no pyplot
state), sized from the number of languages so that 59 and 150 languages both stay legible,
and written atomically.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from langgeo import LanggeoError
from langgeo.formats.phylo_file import NewickNode
from langgeo.formats.storage import atomic_path
from langgeo.geometry.matrices import check_matrix
from langgeo.geometry.trees import average_linkage, minimum_spanning_edges, nj_tree, tree_layout
from langgeo.report.projections import tsne_coords, umap_available, umap_coords

log = logging.getLogger(__name__)


DPI = 110


# tab20 reordered: its 10 strong colours first, then their light partners, so the largest
# groups get the clearest colours; past 20 groups the marker shape tells them apart.
_COLOURS = [colormaps["tab20"](i) for i in (*range(0, 20, 2), *range(1, 20, 2))]


_MARKERS = "osD^vP"


def _check(codes: Sequence[str], distances: np.ndarray) -> np.ndarray:
    return check_matrix(distances, codes, hint="pass the matrix and codes returned by "
                        "langgeo.formats.matrix_file.read_matrix after `dvc repro distances`")


def label_column(labels: pd.DataFrame, codes: Sequence[str], column: str) -> list[str]:
    """``labels[column]`` (a table like data/labels.parquet) in the order of ``codes``."""
    if "code" not in labels.columns or column not in labels.columns:
        raise LanggeoError(f"labels need columns 'code' and {column!r}, got "
                           f"{list(labels.columns)}; pass data/labels.parquet")
    table = labels.set_index("code")
    missing = [c for c in codes if c not in table.index]
    if missing:
        raise LanggeoError(f"labels lack language(s) {missing[:10]}; rerun the labels stage "
                           "(`dvc repro labels`) for the same params 'languages'")
    return table.loc[list(codes), column].astype(str).tolist()


def group_styles(groups: Sequence[str]) -> dict[str, tuple[tuple[float, ...], str]]:
    """(colour, marker) per distinct group; larger groups first, then by name."""
    counts = pd.Series(list(groups)).value_counts()
    order = sorted(counts.index, key=lambda g: (-counts[g], g))
    return {g: (_COLOURS[i % len(_COLOURS)], _MARKERS[(i // len(_COLOURS)) % len(_MARKERS)])
            for i, g in enumerate(order)}


def font_size(n: int) -> float:
    return 7.0 if n <= 80 else 6.0


def save_figure(fig: Figure, path: str | Path) -> Path:
    FigureCanvasAgg(fig)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    return Path(path)


def _legend(ax, styles: dict, title: str, n_points: int, **kwargs) -> None:
    handles = [Line2D([], [], ls="", marker=m, markerfacecolor=c, markeredgecolor="0.2",
                      markersize=6, label=g) for g, (c, m) in styles.items()]
    ax.legend(handles=handles, title=title, fontsize=font_size(n_points), title_fontsize=8,
              frameon=False, **kwargs)


def heatmap_figure(path: str | Path, codes: Sequence[str], distances: np.ndarray,
                   families: Sequence[str], names: Sequence[str] | None = None,
                   title: str = "Distances between languages") -> Path:
    """Distance matrix ordered by its average-linkage dendrogram (drawn above), with a family
    colour bar along both axes (colours repeat past 20 families; the legend lists them).
    ``distances``: ``(n, n)``; ``families``, ``names``: length n."""
    from scipy.cluster.hierarchy import dendrogram, leaves_list

    d = _check(codes, distances)
    n = len(codes)
    if n < 2:
        raise LanggeoError("a distance heatmap needs at least 2 languages")
    tree = average_linkage(d)
    order = leaves_list(tree)  # the order the dendrogram draws its leaves in
    ticks = [f"{names[i]} ({codes[i]})" if names is not None else codes[i] for i in order]
    styles = group_styles(families)

    # Layout in inches so a cell keeps its size whatever n is; the colour bar and legend go
    # right of the tick labels, whose width depends on the longest name.
    cell = 0.15 if n <= 80 else 0.12
    side = n * cell
    ticks_width = max(len(t) for t in ticks) * font_size(n) * 0.55 / 72 + 0.2
    left, bar, gap, dend, top, bottom, right = 0.3, 0.18, 0.04, 1.1, 0.45, 0.45, 1.9
    x0 = left + bar + gap
    width, height = x0 + side + ticks_width + right, bottom + side + gap + bar + dend + top
    fig = Figure(figsize=(width, height))

    def axes(x: float, y: float, w: float, h: float):
        return fig.add_axes((x / width, y / height, w / width, h / height))

    heat = axes(x0, bottom, side, side)
    shown = d[np.ix_(order, order)].copy()
    np.fill_diagonal(shown, np.nan)  # zero self-distances would flatten the colour scale
    image = heat.imshow(shown, cmap="viridis_r", interpolation="nearest", aspect="auto")
    heat.set_xticks(range(n), [codes[i] for i in order], rotation=90, fontsize=font_size(n))
    heat.set_yticks(range(n), ticks, fontsize=font_size(n))
    heat.yaxis.tick_right()
    heat.tick_params(length=2, pad=1)

    colour_row = np.array([[styles[families[i]][0][:3] for i in order]])
    side_bar = axes(left, bottom, bar, side)
    side_bar.imshow(colour_row.transpose(1, 0, 2), aspect="auto")
    top_bar = axes(x0, bottom + side + gap, side, bar)
    top_bar.imshow(colour_row, aspect="auto")
    for ax in (side_bar, top_bar):
        ax.set_axis_off()

    dend_ax = axes(x0, bottom + side + gap + bar, side, dend)
    dendrogram(tree, ax=dend_ax, no_labels=True, color_threshold=0,
               above_threshold_color="0.25")
    dend_ax.set_xlim(0, 10 * n)  # scipy puts leaf i at x = 10 i + 5
    dend_ax.set_axis_off()
    dend_ax.set_title(title, fontsize=10, loc="left")

    x1 = x0 + side + ticks_width
    cbar_ax = axes(x1, bottom + side + gap + bar, 0.15, dend)
    fig.colorbar(image, cax=cbar_ax).set_label("distance", fontsize=8)
    cbar_ax.tick_params(labelsize=7)
    legend_ax = axes(x1, bottom, right, side)
    legend_ax.set_axis_off()
    legend_ax.legend(handles=[Patch(color=c, label=g) for g, (c, _) in styles.items()],
                     title="family", loc="upper left", fontsize=font_size(n), title_fontsize=8,
                     frameon=False, borderaxespad=0)
    return save_figure(fig, path)


def mst_figure(path: str | Path, codes: Sequence[str], distances: np.ndarray,
               families: Sequence[str], positions: np.ndarray | None = None,
               title: str = "Minimum spanning tree of the distances") -> Path:
    """Minimum spanning tree, nodes coloured by family and named by code, edges shaded by
    distance. ``positions``: ``(n, 2)`` (e.g. the first two MDS dimensions); ``None`` uses
    :func:`tree_layout`, which keeps branches apart where MDS would pile them up."""
    d = _check(codes, distances)
    n = len(codes)
    if n < 2:
        raise LanggeoError("a spanning tree figure needs at least 2 languages")
    edges, weights = minimum_spanning_edges(d)
    xy = tree_layout(n, edges) if positions is None else np.asarray(positions)[:, :2]
    styles = group_styles(families)
    size = 7.0 + n / 14
    fig = Figure(figsize=(size + 2.2, size))
    ax = fig.add_axes((0.02, 0.02, size / (size + 2.2) - 0.03, 0.92))
    norm = Normalize(weights.min(), weights.max())
    # The light end of Greys would vanish on white: keep its darker two thirds.
    greys = ListedColormap(colormaps["Greys"](np.linspace(0.3, 1.0, 256)))
    lines = LineCollection(xy[edges], array=weights, cmap=greys, norm=norm, linewidths=1.6,
                           zorder=1)
    ax.add_collection(lines)
    for group, (colour, marker) in styles.items():
        idx = [i for i, f in enumerate(families) if f == group]
        ax.scatter(xy[idx, 0], xy[idx, 1], s=180, color=colour, marker=marker,
                   edgecolors="0.2", linewidths=0.6, zorder=2)
    for i, code in enumerate(codes):
        r, g, b = styles[families[i]][0][:3]
        ink = "white" if 0.299 * r + 0.587 * g + 0.114 * b < 0.55 else "black"
        ax.annotate(code, xy[i], ha="center", va="center", fontsize=6.5, color=ink, zorder=3)
    ax.set_aspect("equal", adjustable="datalim")
    ax.margins(0.04)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title + ("" if positions is None else " (on the first two MDS dimensions)"),
                 fontsize=10, loc="left")
    _legend(ax, styles, "family", n, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    cax = fig.add_axes((size / (size + 2.2) + 0.015, 0.06, 0.012, 0.22))
    fig.colorbar(lines, cax=cax).set_label("edge distance", fontsize=7)
    cax.tick_params(labelsize=6)
    return save_figure(fig, path)


def scatter_figure(path: str | Path, coords: np.ndarray, codes: Sequence[str],
                   labels: Sequence[str], title: str,
                   axis_names: tuple[str, str] = ("MDS 1", "MDS 2"),
                   legend_title: str = "") -> Path:
    """First two columns of ``coords`` ``(n, k)``, one style per label, each point named by
    its code; the legend sits outside the axes so it hides no point."""
    coords = np.asarray(coords, dtype=np.float64)
    n = len(codes)
    y = coords[:, 1] if coords.shape[1] > 1 else np.zeros(n)
    styles = group_styles(labels)
    size = 6.5 + n / 25  # inches of plot, legend and margins come on top
    width, height = size + 3.4, size * 0.8 + 0.9
    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((1.0 / width, 0.55 / height, size / width, size * 0.8 / height))
    for group, (colour, marker) in styles.items():
        idx = [i for i, lab in enumerate(labels) if lab == group]
        ax.scatter(coords[idx, 0], y[idx], s=36, color=colour, marker=marker,
                   edgecolors="0.2", linewidths=0.5)
    for i, code in enumerate(codes):
        ax.annotate(code, (coords[i, 0], y[i]), fontsize=font_size(n), xytext=(3, 2),
                    textcoords="offset points")
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    ax.set_title(title, fontsize=10, loc="left")
    ax.grid(alpha=0.25)
    _legend(ax, styles, legend_title, n, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(fig, path)


def spectrum_figure(path: str | Path, eigenvalues: np.ndarray, kept: np.ndarray,
                    title: str = "Classical MDS eigenvalue spectrum") -> Path:
    """Eigenvalues ``(m,)`` in decreasing order as bars (kept components in colour, dropped
    ones grey, negative ones red) and the cumulative share of the positive eigenvalue mass."""
    values = np.asarray(eigenvalues, dtype=np.float64)
    kept = np.asarray(kept, dtype=bool)
    if values.shape != kept.shape or values.ndim != 1 or not len(values):
        raise LanggeoError("spectrum needs one 'kept' flag per eigenvalue; pass the columns "
                           "of data/embedding/spectrum.parquet")
    m = len(values)
    fig = Figure(figsize=(min(6.0 + m / 12, 16.0), 4.2))
    ax = fig.add_axes((0.08, 0.13, 0.82, 0.77))
    components = np.arange(1, m + 1)
    colour = np.where(values < 0, "tab:red", np.where(kept, "tab:blue", "0.7"))
    ax.bar(components, values, color=colour, width=0.8)
    ax.axhline(0, color="0.3", linewidth=0.6)
    ax.set_xlabel("component")
    ax.set_ylabel("eigenvalue")
    ax.set_xlim(0.3, m + 0.7)
    positive = np.clip(values, 0, None)
    share = np.cumsum(positive) / positive.sum() if positive.sum() > 0 else np.zeros(m)
    twin = ax.twinx()
    twin.plot(components, share, color="tab:orange", marker=".", markersize=3, linewidth=1.2)
    twin.set_ylim(0, 1.02)
    twin.set_ylabel("cumulative share of positive eigenvalues", color="tab:orange")
    twin.tick_params(axis="y", colors="tab:orange")
    negative = np.clip(-values, 0, None).sum() / max(np.abs(values).sum(), 1e-300)
    ax.set_title(f"{title}: {kept.sum()} of {m} kept; first two explain "
                 f"{share[min(1, m - 1)]:.0%}; negative mass {negative:.1%}",
                 fontsize=10, loc="left")
    return save_figure(fig, path)


def confusion_table(clusters: Sequence, gold: Sequence[str], gold_name: str = "family"
                    ) -> pd.DataFrame:
    """Counts of languages per (gold label, cluster): rows are gold labels, largest first;
    columns are clusters, each placed under the gold label most of its members have, so a
    perfect clustering reads as a block diagonal."""
    if len(clusters) != len(gold):
        raise LanggeoError(f"{len(clusters)} cluster assignments for {len(gold)} languages; "
                           "pass one cluster per language, in the same order")
    table = pd.crosstab(pd.Series(list(gold), name=gold_name),
                        pd.Series(list(clusters), name="cluster"))
    rows = sorted(table.index, key=lambda g: (-table.loc[g].sum(), str(g)))
    table = table.loc[rows]
    majority = {c: rows.index(table[c].idxmax()) for c in table.columns}
    columns = sorted(table.columns, key=lambda c: (majority[c], -table[c].max(), str(c)))
    return table[columns]


def confusion_figure(path: str | Path, clusters: Sequence, gold: Sequence[str],
                     gold_name: str = "family", title: str = "Clusters against families"
                     ) -> pd.DataFrame:
    """Draw :func:`confusion_table` as an annotated heatmap (ARI and purity in the title) and
    return the table."""
    from sklearn.metrics import adjusted_rand_score

    from langgeo.evaluation.protocol import purity

    table = confusion_table(clusters, gold, gold_name)
    n_rows, n_cols = table.shape
    fig = Figure(figsize=(2.4 + 0.36 * n_cols, 1.3 + 0.3 * n_rows))
    ax = fig.add_axes((1.9 / fig.get_figwidth(), 0.8 / fig.get_figheight(),
                       0.36 * n_cols / fig.get_figwidth(), 0.3 * n_rows / fig.get_figheight()))
    counts = table.to_numpy()
    ax.imshow(np.where(counts > 0, counts, np.nan), cmap="Blues", aspect="auto",
              vmin=0, vmax=counts.max() * 1.15)
    for (r, c), value in np.ndenumerate(counts):
        if value:
            ax.text(c, r, str(value), ha="center", va="center", fontsize=7,
                    color="white" if value > counts.max() * 0.6 else "black")
    ax.set_xticks(range(n_cols), [str(c) for c in table.columns], fontsize=7)
    ax.set_yticks(range(n_rows), [f"{g} ({table.loc[g].sum()})" for g in table.index],
                  fontsize=7)
    ax.set_xlabel("cluster", fontsize=8)
    ax.set_xticks(np.arange(n_cols + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(n_rows + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="0.9", linewidth=0.5)
    ax.tick_params(which="minor", length=0)
    ax.set_title(f"{title}\nARI {adjusted_rand_score(gold, clusters):.3f}, "
                 f"purity {purity(gold, clusters):.3f}", fontsize=9, loc="left")
    save_figure(fig, path)
    return table


def tree_figure(path: str | Path, tree: NewickNode, codes: Sequence[str],
                families: Sequence[str], scripts: Sequence[str],
                title: str = "Neighbour-joining tree") -> Path:
    """A tree (as :class:`~langgeo.geometry.trees.LeafTree.newick` nodes, edge lengths in the
    distances' units) drawn as a rectangular cladogram: leaves in the tree's order, named
    ``code (script)``, coloured by family (the legend lists the families)."""
    family = dict(zip(codes, families))
    script = dict(zip(codes, scripts))
    styles = group_styles(list(families))
    segments, leaves = [], []

    def place(node: NewickNode, x: float) -> float:
        """Draw ``node`` at depth ``x`` (its edge already drawn); return its y."""
        name, _, children = node
        if not children:
            leaves.append((name, x, len(leaves)))
            return len(leaves) - 1
        ys = []
        for child in children:
            child_x = x + max(child[1] or 0.0, 0.0)
            y = place(child, child_x)
            segments.append([(x, y), (child_x, y)])
            ys.append(y)
        segments.append([(x, min(ys)), (x, max(ys))])
        return (min(ys) + max(ys)) / 2

    place(tree, 0.0)
    n = len(leaves)
    fig = Figure(figsize=(8, max(4.0, 0.16 * n + 1)), dpi=DPI)
    ax = fig.add_subplot()
    ax.add_collection(LineCollection(segments, colors="0.35", linewidths=0.8))
    right = max(x for _, x, _ in leaves)
    for name, x, y in leaves:
        colour, marker = styles[family[name]]
        ax.plot(x, y, marker, color=colour, markeredgecolor="0.2", markersize=4)
        ax.text(x + right * 0.01, y, f"{name} ({script[name]})", va="center",
                fontsize=font_size(n), color=colour)
    ax.set_xlim(0, right * 1.2)
    ax.set_ylim(-1, n)
    ax.invert_yaxis()
    ax.set_yticks([])
    ax.set_xlabel("distance along the tree")
    ax.set_title(title, fontsize=9)
    _legend(ax, styles, "family", n, loc="lower left")
    fig.tight_layout()
    return save_figure(fig, path)


def write_figures(out_dir: str | Path, labels: pd.DataFrame, codes: Sequence[str],
                  distances: np.ndarray, latent: np.ndarray, spectrum: pd.DataFrame,
                  clusters: Sequence | None = None, seed: int = 0, umap: bool = True,
                  scripts: Sequence[str] | None = None) -> list[Path]:
    """Write every figure into ``out_dir`` and return their paths.

    Parameters
    ----------
    labels : table with columns code, name, family, branch (data/labels.parquet).
    codes, distances : language codes and their ``(n, n)`` distance matrix (read_matrix).
    latent : ``(n, k)`` latent vectors, rows in the order of ``codes``.
    spectrum : columns eigenvalue and kept (data/embedding/spectrum.parquet).
    clusters : optional cluster id per language (order of ``codes``) -> confusion.png.
    scripts : optional ISO 15924 script per language (order of ``codes``) -> tree.png, the
        neighbour-joining tree, leaves coloured by family and marked with their script.
    seed : random state of t-SNE and UMAP.
    umap : draw umap.png when umap-learn is installed; skipped with a log line otherwise.

    Writes heatmap.png, mst.png, mds.png, tsne.png, spectrum.png, then tree.png, umap.png and
    confusion.png when asked and possible.
    """
    out = Path(out_dir)
    codes = list(codes)
    d = _check(codes, distances)
    latent = np.asarray(latent, dtype=np.float64)
    if latent.ndim != 2 or len(latent) != len(codes):
        raise LanggeoError(f"latent vectors have shape {latent.shape} for {len(codes)} "
                           "languages; pass data/embedding/latent.parquet rows in matrix order")
    families = label_column(labels, codes, "family")
    branches = label_column(labels, codes, "branch")
    names = label_column(labels, codes, "name")
    n = len(codes)
    written = [
        heatmap_figure(out / "heatmap.png", codes, d, families, names,
                       f"Distances between {n} languages, ordered by average linkage"),
        mst_figure(out / "mst.png", codes, d, families,
                   title=f"Minimum spanning tree of {n} languages (tree layout)"),
        scatter_figure(out / "mds.png", latent, codes, branches,
                       f"Classical MDS of {n} languages, coloured by primary branch",
                       legend_title="branch"),
        scatter_figure(out / "tsne.png", tsne_coords(latent, seed), codes, branches,
                       f"t-SNE of the latent space (seed {seed}), coloured by primary branch",
                       ("t-SNE 1", "t-SNE 2"), "branch"),
        spectrum_figure(out / "spectrum.png", spectrum["eigenvalue"].to_numpy(),
                        spectrum["kept"].to_numpy()),
    ]
    if scripts is not None:
        written.append(tree_figure(
            out / "tree.png", nj_tree(d, codes).newick, codes, families, list(scripts),
            f"Neighbour-joining tree of {n} languages: colour = family, (script)"))
    if umap and umap_available():
        written.append(scatter_figure(
            out / "umap.png", umap_coords(latent, seed), codes, branches,
            f"UMAP of the latent space (seed {seed}), coloured by primary branch",
            ("UMAP 1", "UMAP 2"), "branch"))
    elif umap:
        log.info("umap.png skipped: umap-learn is not installed")
    if clusters is not None:
        confusion_figure(out / "confusion.png", clusters, families)
        written.append(out / "confusion.png")
    return written
