"""What a user reads: the metrics file, the comparison table and a short summary."""

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
    if len(metrics["pairs"]) > 1:
        # Like for like: on the languages every pair holds when the pairs' coverage differs.
        common = metrics.get("common")
        ours, members = ((common["ours"], common["per_pair"]) if common
                         else (m, metrics["per_pair"]))
        where = f" on the {len(common['languages'])} languages every pair holds" if common else ""
        key = f"{level}/kmeans/ari_mean"
        member = max(metrics["pairs"], key=lambda p: members[p][key])
        delta = ours[key] - members[member][key]
        # Printed to three decimals: a smaller difference is reported as a tie.
        verdict = ("beats" if delta >= 5e-4 else "does not beat" if delta <= -5e-4
                   else "ties with")
        lines.append(f"  the ensemble {verdict} its best member "
                     f"({member}) by k-means ARI{where}: {_fmt(ours[key])} vs "
                     f"{_fmt(members[member][key])} ({delta:+.3f})")
    lines.append(f"  best baseline: {name} (k-means ARI {_fmt(best[f'{level}/kmeans/ari_mean'])})")
    if "tree/nj/gqd" in m:
        others = ", ".join(f"{n} {_fmt(b.get('tree/nj/gqd'))}"
                           for n, b in metrics["baselines"].items())
        lines.append(f"  NJ tree vs Glottolog, GQD (random about 0.667, lower is better): "
                     f"ensemble {_fmt(m['tree/nj/gqd'])} (within families "
                     f"{_fmt(m['tree/nj/gqd_within'])}, across {_fmt(m['tree/nj/gqd_across'])};"
                     f" p {_fmt(m['tree/nj/gqd_p'], 2)}; families recovered as clades "
                     f"{_fmt(m['tree/nj/clades'], 2)}); {others}")
    lines += [f"  {what}: {where}" for what, where in outputs.items()]
    return "\n".join(lines)


COMPARISON_METRICS = ("kmeans/ari_mean", "kmeans/ari_std", "kmeans/ari_p", "kmeans/ari_ci_low",
                      "kmeans/ari_ci_high", "kmeans/purity_mean", "kmeans/nmi_mean",
                      "agglomerative/ari", "agglomerative/ari_p", "hdbscan/ari",
                      "silhouette_latent")
#: The tree metrics of :func:`langgeo.evaluation.trees.tree_metrics` in the table.
TREE_METRICS = ("tree/nj/gqd", "tree/nj/gqd_within", "tree/nj/gqd_across", "tree/nj/gqd_p",
                "tree/nj/clades", "tree/upgma/gqd")


def comparison_table(metrics: dict) -> pd.DataFrame:
    """Ours, each (model, dataset) alone and every baseline side by side: one row each, with
    the key metrics at both Glottolog levels and the Mantel test against ours; then the same
    on the languages of one script (``script_control``), rows named ``... (Latn only)``.
    Ours and each pair also carry the partial Mantel test against URIEL+ genetic distances
    given script identity (``partial_mantel_*``) and its two plain Spearman correlations,
    with script identity and with URIEL+ genetic distances (``rho_vs_script``,
    ``rho_vs_genetic``): compare pairs of one model on two datasets (native and romanized
    text) by them."""
    control = metrics.get("script_control") or {}
    partial = control.get("partial_mantel", {"ours": {}, "pairs": {}})
    rows = [("ours (ensemble)", metrics["ours"], {}, partial["ours"])]
    rows += [(f"pair {n}", m, {}, partial["pairs"].get(n, {}))
             for n, m in metrics["per_pair"].items()]
    rows += [(f"baseline {n}", m, metrics["mantel"][n], {})
             for n, m in metrics["baselines"].items()]
    if metrics.get("common"):
        shared = f" (common {len(metrics['common']['languages'])})"
        rows.append((f"ours (ensemble){shared}", metrics["common"]["ours"], {}, {}))
        rows += [(f"pair {n}{shared}", m, {}, {})
                 for n, m in metrics["common"]["per_pair"].items()]
    only = f" ({control.get('script')} only)"
    if control.get("ours"):
        rows.append((f"ours (ensemble){only}", control["ours"], {}, {}))
    rows += [(f"pair {n}{only}", m, {}, {}) for n, m in control.get("per_pair", {}).items()]
    rows += [(f"baseline {n}{only}", m, {"spearman_rho": m["mantel_rho_vs_ours"],
                                           "p": m["mantel_p"]}, {})
             for n, m in control.get("baselines", {}).items()]
    out = []
    for name, m, mantel, partial_mantel in rows:
        row = {"matrix": name, "n_languages": m.get("n_languages")}
        for level in ("branch", "family"):
            row.update({f"{level}/{k}": m.get(f"{level}/{k}") for k in COMPARISON_METRICS})
        row.update({k: m.get(k) for k in TREE_METRICS})
        row["mantel_rho_vs_ours"] = mantel.get("spearman_rho")
        row["mantel_p"] = mantel.get("p")
        row["partial_mantel_rho_genetic_given_script"] = partial_mantel.get("partial_rho")
        row["partial_mantel_p"] = partial_mantel.get("p")
        row["rho_vs_script"] = partial_mantel.get("rho_a_control")
        row["rho_vs_genetic"] = partial_mantel.get("rho_ab")
        row["imputed_pairs"] = m.get("imputed_pairs", 0)
        out.append(row)
    return pd.DataFrame(out)


def robust_summary(robust: dict) -> str:
    """One line per variant of the robust stage's ``metrics.json``: k-means ARI with its 95%
    bootstrap interval, NJ GQD with its permutation p-value, Mantel rho against script
    identity and against URIEL+ genetic distances; the a-priori variant marked."""
    level = robust["label_level"]
    lines = []
    for name, m in robust["variants"].items():
        lines.append(f"  {name}{' (a priori)' if m['a_priori'] else ''}: k-means ARI "
                     f"{_fmt(m.get(f'{level}/kmeans/ari_mean'))} [95% CI "
                     f"{_fmt(m.get(f'{level}/kmeans/ari_ci_low'))}, "
                     f"{_fmt(m.get(f'{level}/kmeans/ari_ci_high'))}], NJ GQD "
                     f"{_fmt(m.get('tree/nj/gqd'))} (p {_fmt(m.get('tree/nj/gqd_p'), 2)}), "
                     f"Mantel rho vs script {_fmt(m.get('mantel/script/rho'))}, vs genetic "
                     f"{_fmt(m.get('mantel/genetic/rho'))}")
    return "\n".join(lines)


def script_control_summary(metrics: dict) -> str:
    """One or two lines: ours on one script's languages alone, and the partial Mantel test
    against URIEL+ genetic distances given script identity."""
    control = metrics.get("script_control")
    if not control:
        return "  script control: not computed (metrics from an older langgeo)"
    level, script = metrics["label_level"], control["script"]
    pm = control["partial_mantel"]["ours"]
    lines = [f"  script control: Mantel rho vs URIEL+ genetic {_fmt(pm['rho_ab'])}, given "
             f"script identity (partial) {_fmt(pm['partial_rho'])} (p {_fmt(pm['p'], 4)})"]
    if control["ours"]:
        m = control["ours"]
        lines.append(f"  {script}-script languages only ({m['n_languages']}): k-means ARI "
                     f"{_fmt(m[f'{level}/kmeans/ari_mean'])} ± "
                     f"{_fmt(m[f'{level}/kmeans/ari_std'])}, purity "
                     f"{_fmt(m[f'{level}/kmeans/purity_mean'])}, agglomerative ARI "
                     f"{_fmt(m[f'{level}/agglomerative/ari'])}")
    else:
        lines.append(f"  {script}-script languages only: skipped, {control['skipped']}")
    return "\n".join(lines)


def read_metrics(path: str | Path) -> dict:
    if not Path(path).is_file():
        raise LanggeoError(f"{path} not found; run `dvc repro` first")
    return json.loads(Path(path).read_text())

