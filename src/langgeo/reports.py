"""What a user reads: the metrics file and a short summary (figures: langgeo.figures)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from langgeo import LanggeoError


def _fmt(value: object, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def summary(metrics: dict, outputs: dict[str, str]) -> str:
    """A few lines: languages, the ensemble's and each (model, dataset) pair's k-means ARI,
    purity and agglomerative ARI, the best baseline, and where the outputs are."""
    m, level = metrics["ours"], metrics["label_level"]

    def scores(x: dict) -> str:
        return (f"k-means ARI {_fmt(x[f'{level}/kmeans/ari_mean'])} "
                f"± {_fmt(x[f'{level}/kmeans/ari_std'])}, purity "
                f"{_fmt(x[f'{level}/kmeans/purity_mean'])}, agglomerative ARI "
                f"{_fmt(x[f'{level}/agglomerative/ari'])}")

    name, best = max(metrics["baselines"].items(),
                     key=lambda item: item[1][f"{level}/kmeans/ari_mean"])
    lines = [
        f"langgeo: {m['n_languages']} languages, {m[f'{level}/n_labels']} gold labels "
        f"({level}), {len(metrics['pairs'])} (model, dataset) pairs",
        f"  ensemble: {scores(m)} (k-means p {_fmt(m[f'{level}/kmeans/ari_p'])}, 95% CI "
        f"{_fmt(m[f'{level}/kmeans/ari_ci_low'])}-{_fmt(m[f'{level}/kmeans/ari_ci_high'])}); "
        f"silhouette of gold labels {_fmt(m[f'{level}/silhouette_latent'])}",
    ]
    width = max(len(p) for p in metrics["pairs"])
    for pair in metrics["pairs"]:
        absent = metrics.get("coverage", {}).get(pair, {}).get("absent", [])
        lines.append(f"  {pair:<{width}}: {scores(metrics['per_pair'][pair])}"
                     + (f"; {len(absent)} absent: {' '.join(absent)}" if absent else ""))
    lines.append(f"  best baseline: {name} (k-means ARI {_fmt(best[f'{level}/kmeans/ari_mean'])})")
    lines += [f"  {what}: {where}" for what, where in outputs.items()]
    return "\n".join(lines)


COMPARISON_METRICS = ("kmeans/ari_mean", "kmeans/ari_std", "kmeans/ari_p", "kmeans/ari_ci_low",
                      "kmeans/ari_ci_high", "kmeans/purity_mean", "kmeans/nmi_mean",
                      "agglomerative/ari", "agglomerative/ari_p", "hdbscan/ari",
                      "silhouette_latent")


def comparison_table(metrics: dict) -> pd.DataFrame:
    """Ours, each (model, dataset) alone and every baseline side by side: one row each, with
    the key metrics at both Glottolog levels and the Mantel test against ours."""
    rows = [("ours (ensemble)", metrics["ours"], {})]
    rows += [(f"pair {n}", m, {}) for n, m in metrics["per_pair"].items()]
    rows += [(f"baseline {n}", m, metrics["mantel"][n]) for n, m in metrics["baselines"].items()]
    out = []
    for name, m, mantel in rows:
        row = {"matrix": name, "n_languages": m.get("n_languages")}
        for level in ("branch", "family"):
            row.update({f"{level}/{k}": m.get(f"{level}/{k}") for k in COMPARISON_METRICS})
        row["mantel_rho_vs_ours"] = mantel.get("spearman_rho")
        row["mantel_p"] = mantel.get("p")
        row["imputed_pairs"] = m.get("imputed_pairs", 0)
        out.append(row)
    return pd.DataFrame(out)


def read_metrics(path: str | Path) -> dict:
    if not Path(path).is_file():
        raise LanggeoError(f"{path} not found; run `dvc repro` first")
    return json.loads(Path(path).read_text())
