"""Command-line entry points, one per DVC stage. Each is configured by ``params.yaml`` only;
paths follow one fixed layout (see ``Layout``) that ``dvc.yaml`` mirrors."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from langgeo import LanggeoError, __version__


@dataclass(frozen=True)
class Layout:
    """Where every stage reads and writes, relative to the repository root."""

    root: Path = Path(".")

    def model(self, model: str) -> Path:
        return self.root / "models" / model

    def shards(self, dataset: str) -> Path:
        return self.root / "data" / "calibration" / dataset

    def labels(self) -> Path:
        return self.root / "data" / "labels.parquet"

    def signatures(self, model: str, dataset: str) -> Path:
        return self.root / "data" / "signatures" / model / dataset

    def distances(self) -> Path:
        return self.root / "data" / "distances"

    def pair_distances(self, model: str, dataset: str) -> Path:
        return self.distances() / model / f"{dataset}.parquet"

    def ensemble_distances(self) -> Path:
        return self.distances() / "ensemble.parquet"

    def embedding(self) -> Path:
        return self.root / "data" / "embedding"

    def metrics(self) -> Path:
        return self.root / "reports" / "metrics.json"

    def figures(self) -> Path:
        return self.root / "reports" / "figures"

    def comparison(self) -> Path:
        return self.root / "reports" / "comparison.csv"

    def attribution(self) -> Path:
        return self.root / "reports" / "attribution.csv"

    def explorer(self) -> Path:
        return self.root / "reports" / "explorer.html"

    def synthetic(self) -> Path:
        return self.root / "reports" / "synthetic.csv"

    def compare(self) -> Path:
        """Written by `langgeo compare` from MLflow, outside the DVC-owned folders."""
        return self.root / "reports" / "compare"


def _pairs(params) -> list[tuple[str, str]]:
    return [(m.name, d.name) for m in params.models for d in params.datasets]


def cmd_prepare_model(params, layout: Layout, args) -> None:
    from langgeo.models import prepare_model

    start = time.perf_counter()
    out = prepare_model(params.model(args.model), layout.model(args.model))
    print(f"prepared model {args.model!r} in {out} ({time.perf_counter() - start:.0f} s)")


def cmd_calibrate(params, layout: Layout, args) -> None:
    from tqdm import tqdm

    from langgeo.corpus import (calibration_documents, check_dataset, select_documents,
                                source_metadata, write_shard)
    from langgeo.models import load_tokenizer
    from langgeo.storage import atomic_path

    spec = params.dataset(args.dataset)
    check_dataset(spec, params.languages)
    tokenizers = [load_tokenizer(layout.model(m.name)) for m in params.models]
    cal = params.calibration
    with atomic_path(layout.shards(spec.name)) as tmp:
        tmp.mkdir()
        n_docs = 0
        for lang in tqdm(params.languages, desc=f"calibration text ({spec.name})", unit="lang"):
            chosen = select_documents(calibration_documents(spec, lang, params.seed),
                                      tokenizers, cal.tokens_per_language, cal.seq_len, lang,
                                      spec.name)
            n_docs += len(chosen)
            write_shard(tmp / f"{lang}.parquet", chosen, {
                "dataset": spec.name, "language": lang, "seed": str(params.seed),
                "tokens_per_language": str(cal.tokens_per_language),
                "seq_len": str(cal.seq_len), **source_metadata(spec, lang)})
    print(f"calibration text for {len(params.languages)} languages of {spec.name!r}: "
          f"{n_docs} documents in {layout.shards(spec.name)}")


def cmd_labels(params, layout: Layout, args) -> None:
    from langgeo.families import language_labels
    from langgeo.storage import atomic_path

    table = language_labels(params.languages)
    with atomic_path(layout.labels()) as tmp:
        table.to_parquet(tmp, index=False)
    print(f"labels: {len(table)} languages, {table['family'].nunique()} families, "
          f"{table['branch'].nunique()} primary branches -> {layout.labels()}")


def cmd_signatures(params, layout: Layout, args) -> None:
    import torch
    from tqdm import tqdm

    from langgeo.calibration import collect_hessians
    from langgeo.corpus import pack_sequences, read_shard
    from langgeo.models import load_model, load_tokenizer
    from langgeo.importance import layer_scores
    from langgeo.signatures import binarize, write_scores, write_signature
    from langgeo.storage import atomic_path

    torch.manual_seed(params.seed)
    sig, cal = params.signatures, params.calibration
    model = load_model(layout.model(args.model), sig.device, sig.dtype)
    tokenizer = load_tokenizer(layout.model(args.model))
    params.dataset(args.dataset)
    out = layout.signatures(args.model, args.dataset)
    start, n_bits = time.perf_counter(), 0
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        bar = tqdm(params.languages, desc=f"signatures ({args.model}, {args.dataset})",
                   unit="lang")
        for lang in bar:
            documents = read_shard(layout.shards(args.dataset) / f"{lang}.parquet")
            ids = pack_sequences(tokenizer, documents, cal.tokens_per_language, cal.seq_len)
            try:
                hessians = collect_hessians(model, ids.split(sig.batch_size))
                scores = layer_scores(model, hessians, sig.score, sig.damping)
                bits = binarize(scores, sig.binarization)
            except LanggeoError as exc:
                raise LanggeoError(f"language {lang!r}: {exc}") from exc
            n_bits = sum(b.size for b in bits.values())
            metadata = {
                "model": args.model, "dataset": args.dataset, "language": lang,
                "tokens": int(ids.numel()), "seq_len": cal.seq_len, "score": sig.score,
                "binarization": sig.binarization, "damping": sig.damping, "seed": params.seed,
                "langgeo_version": __version__}
            write_signature(tmp / f"{lang}.parquet", bits, metadata)
            if sig.keep_scores:
                write_scores(tmp / f"{lang}.scores.parquet", scores, sig.keep_scores,
                             params.seed, metadata)
            elapsed = time.perf_counter() - start
            bar.set_postfix(tok_s=f"{(bar.n + 1) * ids.numel() / elapsed:.0f}")
    elapsed = time.perf_counter() - start
    total = len(params.languages) * cal.tokens_per_language
    print(f"signatures: {len(params.languages)} languages x {n_bits:,} bits, "
          f"{total:,} tokens in {elapsed:.0f} s ({total / elapsed:.0f} tok/s) -> {out}")


def cmd_distances(params, layout: Layout, args) -> None:
    from langgeo.distances import (cosine_distances, distances_from_files, ensemble,
                                   l2_distances, score_quantiles_from_files, write_matrix)
    from langgeo.storage import atomic_path

    kind = params.distances.kind
    final = layout.distances()
    with atomic_path(final) as staged:
        matrices = []
        for model, dataset in _pairs(params):
            folder = layout.signatures(model, dataset)
            if kind == "hamming":
                matrix = distances_from_files([folder / f"{c}.parquet"
                                               for c in params.languages])
            else:
                quantiles = score_quantiles_from_files(
                    [folder / f"{c}.scores.parquet" for c in params.languages])
                matrix = (l2_distances if kind == "l2" else cosine_distances)(quantiles)
            matrices.append((list(params.languages), matrix))
            write_matrix(staged / model / f"{dataset}.parquet", params.languages, matrix)
        codes, combined, _ = ensemble(matrices)
        write_matrix(staged / "ensemble.parquet", codes, combined)
    off = combined[np.triu_indices(len(codes), 1)]
    print(f"distances ({kind}): {len(matrices)} (model, dataset) pairs; ensemble off-diagonal "
          f"min {off.min():.4f} median {np.median(off):.4f} max {off.max():.4f} -> {final}")


def cmd_attribute(params, layout: Layout, args) -> None:
    import pandas as pd

    from langgeo.distances import hamming_from_files
    from langgeo.evaluation import evaluate_kmeans
    from langgeo.figures import attribution_figure
    from langgeo.storage import atomic_path

    labels = pd.read_parquet(layout.labels()).set_index("code").loc[list(params.languages)]
    ev = params.evaluation
    tables = []
    for model, dataset in _pairs(params):
        folder = layout.signatures(model, dataset)
        counts = hamming_from_files([folder / f"{c}.parquet" for c in params.languages])
        table = counts.summary()
        distances = counts.distances()
        for level in ("branch", "family"):
            scores = [evaluate_kmeans(_embed(distances[family, group], params)[0],
                                      labels[level].tolist(), ev.kmeans_seeds, params.seed)
                      for family, group in zip(table["family"], table["group"])]
            table[f"{level}_ari_mean"] = [s["ari_mean"] for s in scores]
            table[f"{level}_ari_std"] = [s["ari_std"] for s in scores]
        table.insert(0, "dataset", dataset)
        table.insert(0, "model", model)
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    with atomic_path(layout.attribution()) as tmp:
        table.to_csv(tmp, index=False, float_format="%.5f")
    attribution_figure(layout.attribution().with_suffix(".png"), table, ev.label_level)
    best = table[table["family"] == "layer"].sort_values(f"{ev.label_level}_ari_mean").iloc[-1]
    parts = table[table["family"] == "part"].set_index("group")[f"{ev.label_level}_ari_mean"]
    print(f"attribution: {len(table)} groups; best block {best['group']} (ARI "
          f"{best[f'{ev.label_level}_ari_mean']:.3f}); "
          + ", ".join(f"{g} ARI {v:.3f}" for g, v in parts.items())
          + f" -> {layout.attribution()}")


def _embed(distances: np.ndarray, params) -> tuple[np.ndarray, np.ndarray]:
    from langgeo.embedding import classical_mds

    return classical_mds(distances, params.embedding.n_components,
                         params.embedding.distance_transform)


def cmd_embed(params, layout: Layout, args) -> None:
    import pandas as pd

    from langgeo.distances import read_matrix
    from langgeo.storage import atomic_path

    codes, distances = read_matrix(layout.ensemble_distances())
    coords, eigenvalues = _embed(distances, params)
    latent = pd.DataFrame(coords, columns=[f"mds_{i + 1}" for i in range(coords.shape[1])])
    latent.insert(0, "language", codes)
    negative = -eigenvalues[eigenvalues < 0].sum() / np.abs(eigenvalues).sum()
    spectrum = pd.DataFrame({"component": np.arange(1, len(eigenvalues) + 1),
                             "eigenvalue": eigenvalues,
                             "kept": np.arange(len(eigenvalues)) < coords.shape[1]})
    with atomic_path(layout.embedding()) as tmp:
        tmp.mkdir()
        latent.to_parquet(tmp / "latent.parquet", index=False)
        spectrum.to_parquet(tmp / "spectrum.parquet", index=False)
    print(f"embedding: {len(codes)} languages in {coords.shape[1]} dimensions "
          f"(negative eigenvalue mass {negative:.2%}) -> {layout.embedding()}")


def cmd_report(params, layout: Layout, args) -> None:
    import pandas as pd

    from langgeo.distances import read_matrix
    from langgeo.evaluation import kmeans_labels
    from langgeo.explorer import write_explorer
    from langgeo.figures import write_figures

    labels = pd.read_parquet(layout.labels())
    gold = labels.set_index("code")[params.evaluation.label_level]
    configurations, clusters = {}, {}
    pairs = [("ensemble", layout.ensemble_distances())] + [
        (f"{m}/{d}", layout.pair_distances(m, d)) for m, d in _pairs(params)]
    for name, path in pairs:
        codes, matrix = read_matrix(path)
        coords, _ = _embed(matrix, params)
        configurations[name] = (codes, matrix, coords)
        # One k-means assignment (the first seed) to show; evaluate scores all seeds.
        k = gold.loc[codes].nunique()
        clusters[name] = kmeans_labels(coords, k, [params.seed])[0]
    codes, matrix, coords = configurations["ensemble"]
    spectrum = pd.read_parquet(layout.embedding() / "spectrum.parquet")
    written = write_figures(layout.figures(), labels, codes, matrix, coords, spectrum,
                            clusters=clusters["ensemble"], seed=params.seed)
    write_explorer(layout.explorer(), configurations, labels, clusters=clusters,
                   tsne_seed=params.seed)
    print(f"report: {len(written)} figures in {layout.figures()}; explorer with "
          f"{len(configurations)} configurations -> {layout.explorer()}")


def _outputs(layout: Layout) -> dict[str, str]:
    from langgeo.tracking import tracking_uri

    return {"latent vectors": str(layout.embedding() / "latent.parquet"),
            "distances": str(layout.ensemble_distances()),
            "metrics": str(layout.metrics()),
            "ours vs baselines": str(layout.comparison()),
            "figures": str(layout.figures()),
            "explorer": str(layout.explorer()),
            "MLflow store": f"{tracking_uri()} (make ui)"}


def cmd_evaluate(params, layout: Layout, args) -> None:
    import pandas as pd

    from langgeo.baselines import baseline_distances, uriel_distances
    from langgeo.distances import read_matrix
    from langgeo.evaluation import evaluate_distances, mantel_test
    from langgeo.reports import comparison_table, script_control_summary, summary
    from langgeo.script_control import script_control
    from langgeo.storage import atomic_path, write_json
    from langgeo.tracking import log_configuration

    ev = params.evaluation
    codes, ensemble = read_matrix(layout.ensemble_distances())
    labels = pd.read_parquet(layout.labels()).set_index("code")
    if codes != list(params.languages) or set(codes) - set(labels.index):
        raise LanggeoError("the distances or labels do not match params 'languages'; run "
                           "`dvc repro` to bring them up to date")
    gold = labels.loc[codes, ["family", "branch"]].to_dict("list")

    def evaluate(matrix, gold=gold):
        return evaluate_distances(
            matrix, gold, transform=params.embedding.distance_transform,
            kmeans_seeds=ev.kmeans_seeds, seed=params.seed, n_permutations=ev.n_permutations,
            n_bootstrap=ev.n_bootstrap, min_cluster_size=ev.hdbscan_min_cluster_size)

    metrics = {"label_level": ev.label_level,
               "pairs": [f"{m}/{d}" for m, d in _pairs(params)],
               "ours": evaluate(ensemble), "per_pair": {}, "baselines": {}, "mantel": {}}
    pair_matrices = {}
    for model, dataset in _pairs(params):
        pair_codes, matrix = read_matrix(layout.pair_distances(model, dataset))
        pair_matrices[f"{model}/{dataset}"] = (pair_codes, matrix)
        # With a single pair the ensemble is this very matrix (bit for bit) and the
        # protocol is deterministic, so its result is reused rather than computed again.
        same = pair_codes == codes and np.array_equal(matrix, ensemble)
        metrics["per_pair"][f"{model}/{dataset}"] = (dict(metrics["ours"]) if same
                                                     else evaluate(matrix))
    baselines = baseline_distances(codes, labels.loc[codes, "iso639_3"].tolist(), params.seed,
                                   params.baselines.uriel_kinds, params.baselines.missing)
    for name, baseline in baselines.items():
        metrics["baselines"][name] = {**evaluate(baseline.distances),
                                      "imputed_pairs": baseline.imputed_pairs}
        rho, p = mantel_test(ensemble, baseline.distances, ev.mantel_permutations, params.seed)
        metrics["mantel"][name] = {"spearman_rho": rho, "p": p}
    genetic = (baselines["uriel_genetic"] if "uriel_genetic" in baselines else uriel_distances(
        "genetic", labels.loc[codes, "iso639_3"].tolist(), params.baselines.missing)).distances
    metrics["script_control"] = script_control(
        codes, ensemble, pair_matrices, {n: b.distances for n, b in baselines.items()}, genetic,
        gold, evaluate, ev.mantel_permutations, params.seed)
    write_json(metrics, layout.metrics())
    table = comparison_table(metrics)
    with atomic_path(layout.comparison()) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")

    children = {f"pair/{name}": ({"kind": "pair", "model": name.split("/")[0],
                                  "dataset": name.split("/")[1]}, m)
                for name, m in metrics["per_pair"].items()}
    children.update({f"baseline/{name}": ({"kind": "baseline", "baseline": name},
                                          {**m, **{f"mantel/{k}": v for k, v in
                                                   metrics["mantel"][name].items()}})
                     for name, m in metrics["baselines"].items()})
    control = metrics["script_control"]
    restricted = {"ours": control["ours"],
                  **{f"pair/{n}": m for n, m in control["per_pair"].items()},
                  **{f"baseline/{n}": m for n, m in control["baselines"].items()}}
    children.update({f"{control['script']}/{what}": ({"kind": f"{control['script']}-only",
                                                      "matrix": what}, m)
                     for what, m in restricted.items() if m})
    partial = {f"partial_mantel/genetic_given_script/{k}": v
               for k, v in control["partial_mantel"]["ours"].items()}
    artifacts = [layout.metrics(), layout.comparison(), layout.explorer(),
                 layout.attribution(), layout.attribution().with_suffix(".png"),
                 layout.embedding() / "latent.parquet", *sorted(layout.figures().glob("*.png"))]
    run_id = log_configuration(params, {**metrics["ours"], **partial}, children, artifacts)
    print(summary(metrics, _outputs(layout)))
    print(script_control_summary(metrics))
    print(f"  MLflow parent run: {run_id}")


def cmd_export(params, layout: Layout, args) -> None:
    from langgeo.export import export_results

    out = layout.root / "reports" / "export"
    paths = export_results(out, layout.embedding() / "latent.parquet",
                           layout.ensemble_distances(), layout.labels())
    print(f"export: {len(paths)} files (latent vectors and distances, Parquet + CSV, with "
          f"codes, names and labels) -> {out}")


def cmd_summary(params, layout: Layout, args) -> None:
    from langgeo.reports import read_metrics, summary

    metrics = read_metrics(layout.metrics())
    print(summary(metrics, _outputs(layout)))
    print(script_control_summary(metrics))


def cmd_compare(params, layout: Layout, args) -> None:
    import pandas as pd

    from langgeo.figures import sweep_figure
    from langgeo.storage import atomic_path
    from langgeo.tracking import compare_runs

    table = compare_runs(params.tracking.experiment)
    if table.empty:
        raise LanggeoError(f"no runs in MLflow experiment {params.tracking.experiment!r}; run "
                           "`dvc repro` or `dvc exp run` first")
    out = layout.compare() / "runs.csv"
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False)
    level = params.evaluation.label_level
    shown = [c for c in ("run", "tokens_per_language", "score", "binarization", "distances",
                         f"{level}/kmeans/ari_mean", f"{level}/kmeans/purity_mean",
                         f"{level}/agglomerative/ari") if c in table]
    print(table[shown].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"{len(table)} configurations -> {out}")
    # The sweep varies tokens only: keep the runs that match this configuration otherwise.
    same = {"score": params.signatures.score, "binarization": params.signatures.binarization,
            "distances": params.distances.kind}
    sweep = table[(table[list(same)] == pd.Series(same)).all(axis=1)]
    figure = sweep_figure(layout.compare() / "tokens_sweep.png", sweep,
                          f"{level}/kmeans/ari_mean", f"{level}/kmeans/ari_std")
    if figure:
        print(f"ARI vs tokens per language -> {figure}")


def cmd_synthetic(params, layout: Layout, args) -> None:
    import pandas as pd
    import torch

    from langgeo.corpus import calibration_documents
    from langgeo.figures import synthetic_figure
    from langgeo.models import load_model, load_tokenizer
    from langgeo.storage import atomic_path
    from langgeo.synthetic import (base_and_reference, make_variants, summary_line,
                                   synthetic_distances)

    spec = params.synthetic_dataset()
    syn = params.synthetic
    torch.manual_seed(syn.seed)
    sig = params.signatures
    tokenizers = {m.name: load_tokenizer(layout.model(m.name)) for m in params.models}
    base, reference = base_and_reference(
        calibration_documents(spec, syn.language, syn.seed),
        list(tokenizers.values()), syn.tokens, params.calibration.seq_len, syn.language,
        spec.name)
    variants = make_variants(base, reference, syn.transformations, syn.seed)
    tables = []
    for name, tokenizer in tokenizers.items():
        model = load_model(layout.model(name), sig.device, sig.dtype)
        table = synthetic_distances(
            model, tokenizer, variants, syn.tokens, params.calibration.seq_len, sig.score,
            sig.binarization, sig.damping, sig.batch_size, name)
        print(f"synthetic ({name}): {len(variants)} variants x {syn.tokens} tokens in "
              f"{table.attrs['seconds']:.0f} s")
        tables.append(table)
        del model
    table = pd.concat(tables, ignore_index=True)
    table.insert(1, "language", syn.language)
    with atomic_path(layout.synthetic()) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6f")
    figure = synthetic_figure(layout.synthetic().with_suffix(".png"), table)
    print(summary_line(table) + f" -> {layout.synthetic()}, {figure}")


def cmd_ui(params, layout: Layout, args) -> None:
    from langgeo.tracking import serve_ui

    # MLFLOW_PORT is also what `mlflow server` itself reads for its port.
    port = os.environ.get("MLFLOW_PORT", "5000")
    if not port.isdigit():
        raise LanggeoError(f"MLFLOW_PORT={port!r} is not a port number")
    status = serve_ui(params.tracking.experiment, params.evaluation.label_level,
                      port=int(port))
    if status:
        raise LanggeoError(f"the MLflow server stopped with status {status} (is port {port} "
                           "taken? set MLFLOW_PORT to another one)")


COMMANDS = {
    "prepare-model": (cmd_prepare_model, ["model"]),
    "calibrate": (cmd_calibrate, ["dataset"]),
    "labels": (cmd_labels, []),
    "signatures": (cmd_signatures, ["model", "dataset"]),
    "distances": (cmd_distances, []),
    "embed": (cmd_embed, []),
    "attribute": (cmd_attribute, []),
    "report": (cmd_report, []),
    "evaluate": (cmd_evaluate, []),
    "export": (cmd_export, []),
    "summary": (cmd_summary, []),
    "compare": (cmd_compare, []),
    "synthetic": (cmd_synthetic, []),
    "ui": (cmd_ui, []),
}


def main(argv: list[str] | None = None) -> int:
    # Hub look-ups fail fast offline instead of retrying for ~50 s; HF_HUB_OFFLINE=0 opts out.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # A stopped stage (dvc sends SIGTERM) must still remove its temporary outputs: exiting
    # through SystemExit runs the atomic writers' cleanup.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    parser = argparse.ArgumentParser(prog="langgeo", description=__doc__)
    parser.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, options) in COMMANDS.items():
        p = sub.add_parser(name)
        for option in options:
            p.add_argument(f"--{option}", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "urllib3", "alembic", "mlflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from langgeo.params import load_params

    try:
        params = load_params(args.params)
        COMMANDS[args.command][0](params, Layout(), args)
    except LanggeoError as exc:
        print(f"langgeo {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
