"""What a user reads: the metrics file and a short summary (figures: langgeo.figures)."""

from __future__ import annotations

import json
from pathlib import Path

from langgeo import LanggeoError


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
