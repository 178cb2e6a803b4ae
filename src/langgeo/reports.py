"""What a user reads: the metrics file and a short summary (figures: langgeo.figures)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from langgeo import LanggeoError


def _fmt(value: object, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def summary(metrics: dict, outputs: dict[str, str]) -> str:
    """A few lines: languages, ARI, purity, silhouette, and where the outputs are."""
    m, level = metrics["ours"], metrics["label_level"]

    def best_baseline() -> str:
        name, best = max(metrics["baselines"].items(),
                         key=lambda item: item[1][f"{level}/kmeans/ari_mean"])
        return f"{name} {_fmt(best[f'{level}/kmeans/ari_mean'])}"

    lines = [
        f"langgeo: {m['n_languages']} languages, {m[f'{level}/n_labels']} gold labels "
        f"({level}), models x datasets: {', '.join(metrics['pairs'])}",
        f"  k-means: ARI {_fmt(m[f'{level}/kmeans/ari_mean'])} "
        f"± {_fmt(m[f'{level}/kmeans/ari_std'])} (p {_fmt(m[f'{level}/kmeans/ari_p'])}), "
        f"purity {_fmt(m[f'{level}/kmeans/purity_mean'])} "
        f"± {_fmt(m[f'{level}/kmeans/purity_std'])}; silhouette of gold labels "
        f"{_fmt(m[f'{level}/silhouette_latent'])}",
        f"  agglomerative ARI {_fmt(m[f'{level}/agglomerative/ari'])}; best baseline "
        f"(k-means ARI): {best_baseline()}",
    ]
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
        row = {"matrix": name}
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
