"""What a user reads: the metrics file, a short summary and a first figure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from langgeo import LanggeoError
from langgeo.storage import atomic_path


def _fmt(value: object, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def summary(metrics: dict, outputs: dict[str, str]) -> str:
    """A few lines: languages, ARI, purity, silhouette, and where the outputs are."""
    m = metrics["ensemble"]
    lines = [
        f"langgeo: {m['n_languages']} languages, {m['n_labels']} gold labels "
        f"({metrics['label_level']}), models x datasets: {', '.join(metrics['pairs'])}",
        f"  k-means ({m['n_seeds']} seeds): ARI {_fmt(m['ari_mean'])} ± {_fmt(m['ari_std'])}, "
        f"purity {_fmt(m['purity_mean'])} ± {_fmt(m['purity_std'])}; "
        f"silhouette of gold labels {_fmt(m['silhouette'])}",
    ]
    lines += [f"  {what}: {where}" for what, where in outputs.items()]
    return "\n".join(lines)


def read_metrics(path: str | Path) -> dict:
    if not Path(path).is_file():
        raise LanggeoError(f"{path} not found; run `dvc repro` first")
    return json.loads(Path(path).read_text())


def scatter_figure(path: str | Path, coords: np.ndarray, codes: Sequence[str],
                   labels: Sequence[str], title: str) -> None:
    """First two MDS dimensions, one colour per gold label, each point named by its code."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 7), dpi=110)
    y = coords[:, 1] if coords.shape[1] > 1 else np.zeros(len(codes))
    groups = sorted(set(labels))
    cmap = plt.get_cmap("tab20", max(len(groups), 1))
    for i, group in enumerate(groups):
        idx = [j for j, lab in enumerate(labels) if lab == group]
        ax.scatter(coords[idx, 0], y[idx], color=cmap(i), label=group, s=30)
    for j, code in enumerate(codes):
        ax.annotate(code, (coords[j, 0], y[j]), fontsize=7, xytext=(2, 2),
                    textcoords="offset points")
    ax.set_xlabel("MDS 1")
    ax.set_ylabel("MDS 2")
    ax.set_title(title)
    ax.legend(fontsize=6, ncol=2, loc="best", frameon=False)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
