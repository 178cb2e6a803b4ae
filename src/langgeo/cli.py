"""Command-line entry points, one per DVC stage. Each is configured by ``params.yaml`` only;
paths follow one fixed layout (see ``Layout``) that ``dvc.yaml`` mirrors."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from langgeo import VERBOSE_ENV, LanggeoError
from langgeo.layout import Layout

if TYPE_CHECKING:  # imported lazily where used, so that `langgeo --help` starts fast
    import pandas as pd

    from langgeo.explorer import Configuration


def _pair_languages(params, layout: Layout, model: str, dataset: str) -> list[str]:
    """The languages of params that the (model, dataset) pair has signatures for: those its
    dataset holds (the calibrate stage reports the others)."""
    folder = layout.signatures(model, dataset)
    if not folder.is_dir():
        raise LanggeoError(f"signature folder {folder} not found; run `dvc repro` (stage "
                           "signatures) first")
    # Every job writes a factor file, whether or not it keeps the bits.
    return [c for c in params.languages if (folder / f"{c}.factors.parquet").is_file()]


def cmd_prepare_model(params, layout: Layout, args) -> None:
    from langgeo.models import prepare_model

    start = time.perf_counter()
    out = prepare_model(params.model(args.model), layout.model(args.model))
    print(f"prepared model {args.model!r} in {out} ({time.perf_counter() - start:.0f} s)")


def cmd_calibrate(params, layout: Layout, args) -> None:
    from tqdm import tqdm

    from langgeo.corpus import (available_languages, calibration_documents, check_dataset,
                                select_documents, source_metadata, write_coverage,
                                write_shard)
    from langgeo.models import load_tokenizer
    from langgeo.storage import atomic_path

    spec = params.dataset(args.dataset)
    present = available_languages(spec, params.languages)
    absent = [lang for lang in params.languages if lang not in present]
    # A language another dataset holds is only reported here; one that no dataset holds
    # could never be placed, so it is an error before any work.
    elsewhere = {lang for other in params.datasets if other.name != spec.name
                 for lang in available_languages(other, absent, reach=False)}
    nowhere = [lang for lang in absent if lang not in elsewhere]
    if nowhere:
        try:
            check_dataset(spec, nowhere)
        except LanggeoError as exc:
            others = [d.name for d in params.datasets if d.name != spec.name]
            raise LanggeoError(f"{exc}" + (f"; no other dataset of params 'datasets' "
                                           f"{others} has them either" if others else "")
                               ) from exc
    tokenizers = [load_tokenizer(layout.model(m.name)) for m in params.models]
    tokens, seq_len = params.tokens(spec.name), params.calibration.seq_len
    with atomic_path(layout.shards(spec.name)) as tmp:
        tmp.mkdir()
        n_docs = 0
        for lang in tqdm(present, desc=f"calibration text ({spec.name})", unit="lang"):
            chosen = select_documents(calibration_documents(spec, lang, params.seed),
                                      tokenizers, tokens, seq_len, lang, spec.name)
            n_docs += len(chosen)
            write_shard(tmp / f"{lang}.parquet", chosen, {
                "dataset": spec.name, "language": lang, "seed": str(params.seed),
                "tokens_per_language": str(tokens),
                "seq_len": str(seq_len), **source_metadata(spec, lang)},
                units=udhr_alignment(spec, lang, len(chosen)))
        write_coverage(tmp, spec.name, present, absent)
    print(f"calibration text for {len(present)} languages of {spec.name!r} ({tokens} tokens "
          f"each): {n_docs} documents in {layout.shards(spec.name)}"
          + (f"; not in this dataset: {' '.join(absent)}" if absent else ""))


def udhr_alignment(spec, language: str, n: int) -> list[tuple[int, int]] | None:
    """(article, position) of the first ``n`` UDHR units of ``language``; None elsewhere."""
    if spec.source != "udhr":
        return None
    from langgeo.corpus import udhr_units

    return [(u.article, u.position) for u in udhr_units(spec, language)[:n]]


def cmd_labels(params, layout: Layout, args) -> None:
    from langgeo.families import language_labels
    from langgeo.storage import atomic_path

    table = language_labels(params.languages)
    with atomic_path(layout.labels()) as tmp:
        table.to_parquet(tmp, index=False)
    print(f"labels: {len(table)} languages, {table['family'].nunique()} families, "
          f"{table['branch'].nunique()} primary branches -> {layout.labels()}")


def cmd_signatures(params, layout: Layout, args) -> None:
    from tqdm import tqdm

    from langgeo.corpus import shard_languages
    from langgeo.engines import connect_ray, run_jobs
    from langgeo.jobs import SignatureSettings, is_finished, plan_jobs, tidy_folder
    from langgeo.storage import check_parquet_files

    params.model(args.model)
    params.dataset(args.dataset)
    model_dir, shards = layout.model(args.model), layout.shards(args.dataset)
    languages = shard_languages(shards, params.languages)
    if not model_dir.is_dir():
        raise LanggeoError(f"model folder {model_dir} not found; run `dvc repro` (stage "
                           f"prepare_model@{args.model}) first")
    # Every input is checked before the first job, not when its language is reached.
    check_parquet_files([shards / f"{lang}.parquet" for lang in languages],
                        f"Restore them with `dvc checkout {shards}` or re-run their stage: "
                        f"`dvc repro -f -s calibrate@{args.dataset}`", full=True)
    out = layout.signatures(args.model, args.dataset)
    jobs = plan_jobs(SignatureSettings.from_params(params, args.dataset), args.model,
                     args.dataset, languages, model_dir, shards)
    n_tmp, n_stale = tidy_folder(out, jobs)
    todo = [job for job in jobs if not is_finished(job, out)]
    engine = params.engine
    if engine.kind == "ray" and todo:
        connect_ray(engine.address)  # an unreachable cluster fails before any output
    print(f"signatures ({args.model}, {args.dataset}): {len(jobs) - len(todo)} of {len(jobs)} "
          f"languages up to date, {len(todo)} to compute on the {engine.kind} engine"
          + (f"; removed {n_stale} stale file(s)" if n_stale else "")
          + (f" and {n_tmp} temporary(ies) of an interrupted run" if n_tmp else ""))
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), unit="lang",
               desc=f"signatures ({args.model}, {args.dataset})")
    tokens, failed = 0, 0

    def progress(outcome, elapsed: float) -> None:
        nonlocal tokens, failed
        job, job_tokens, error = outcome
        tokens += job_tokens or 0
        failed += error is not None
        bar.update(1)
        bar.set_postfix(tok_s=f"{tokens / elapsed:.0f}", failed=failed)
        if error is not None:
            bar.write(f"signatures: language {job.language!r} failed: {error}")

    start = time.perf_counter()
    summary = run_jobs(todo, out, engine, progress)
    bar.close()
    elapsed = time.perf_counter() - start
    print(f"signatures: computed {len(summary.done)}, reused {len(jobs) - len(todo)}, failed "
          f"{len(summary.failed)}; {summary.tokens:,} tokens in {elapsed:.0f} s "
          f"({summary.tokens / max(elapsed, 1e-9):.0f} tok/s) -> {out}")
    if summary.failed:
        listed = "; ".join(f"{lang}: {msg}" for lang, msg in summary.failed.items())
        raise LanggeoError(f"{len(summary.failed)} of {len(todo)} languages failed (the "
                           f"{len(summary.done)} finished are kept; a re-run computes only the "
                           f"rest): {listed}")


def _check_signatures(params, layout: Layout, kind: str = "hamming") -> None:
    """Every file the stage will read for distances of ``kind`` (signatures, score samples
    or factors), checked before any work: readable, and computed with the settings of
    params."""
    from langgeo.factors import FACTORS_METADATA_KEY
    from langgeo.jobs import SignatureSettings, signature_metadata
    from langgeo.signatures import METADATA_KEY, SCORES_METADATA_KEY, check_signature_files

    suffix, key, what = {"hamming": (".parquet", METADATA_KEY, "signature"),
                         "factors": (".factors.parquet", FACTORS_METADATA_KEY, "factor"),
                         }.get(kind, (".scores.parquet", SCORES_METADATA_KEY, "score sample"))

    for model, dataset in params.pairs():
        settings = SignatureSettings.from_params(params, dataset)
        folder = layout.signatures(model, dataset)
        languages = _pair_languages(params, layout, model, dataset)
        check_signature_files(
            [folder / f"{lang}{suffix}" for lang in languages],
            [signature_metadata(settings, model, dataset, lang) for lang in languages],
            f"Restore them with `dvc checkout {folder}` or re-run their stage: `dvc repro -s "
            f"signatures@{model}-{dataset}` (it recomputes only such files)", key, what)


def cmd_distances(params, layout: Layout, args) -> None:
    from langgeo.distances import (cosine_distances, distances_from_files, ensemble,
                                   factor_distances_from_files, l2_distances,
                                   score_quantiles_from_files, write_coverage_matrix,
                                   write_matrix)
    from langgeo.storage import atomic_path

    kind = params.distances.kind
    _check_signatures(params, layout, kind)
    final = layout.distances()
    with atomic_path(final) as staged:
        matrices = []
        for model, dataset in params.pairs():
            folder = layout.signatures(model, dataset)
            codes = _pair_languages(params, layout, model, dataset)
            if kind == "hamming":
                matrix = distances_from_files([folder / f"{c}.parquet" for c in codes])
            elif kind == "factors":
                matrix = factor_distances_from_files([folder / f"{c}.factors.parquet"
                                                      for c in codes])
            else:
                quantiles = score_quantiles_from_files(
                    [folder / f"{c}.scores.parquet" for c in codes])
                matrix = (l2_distances if kind == "l2" else cosine_distances)(quantiles)
            matrices.append((codes, matrix))
            write_matrix(staged / model / f"{dataset}.parquet", codes, matrix)
        codes, combined, coverage = ensemble(matrices)
        # The ensemble in params order, whatever order the pairs listed their languages in.
        order = [codes.index(c) for c in params.languages]
        codes, combined, coverage = (list(params.languages), combined[np.ix_(order, order)],
                                     coverage[np.ix_(order, order)])
        write_matrix(staged / "ensemble.parquet", codes, combined)
        write_coverage_matrix(staged / "coverage.parquet", codes, coverage)
    off = combined[np.triu_indices(len(codes), 1)]
    partial = [f"{m}/{d} {len(c)}" for (m, d), (c, _) in zip(params.pairs(), matrices)
               if len(c) < len(codes)]
    print(f"distances ({kind}): {len(matrices)} (model, dataset) pairs; ensemble off-diagonal "
          f"min {off.min():.4f} median {np.median(off):.4f} max {off.max():.4f} -> {final}"
          + (f"; pairs with fewer than {len(codes)} languages: {', '.join(partial)}"
             if partial else ""))


def cmd_attribute(params, layout: Layout, args) -> None:
    import pandas as pd

    from langgeo.distances import hamming_from_factor_files, hamming_from_files
    from langgeo.evaluation import evaluate_kmeans
    from langgeo.figures import attribution_figure
    from langgeo.storage import atomic_path

    # Without stored bits, the bits are rebuilt from the factor files and the model.
    store_bits = params.signatures.store_bits
    _check_signatures(params, layout, "hamming" if store_bits else "factors")
    labels = pd.read_parquet(layout.labels()).set_index("code").loc[list(params.languages)]
    ev = params.evaluation
    tables = []
    loaded: dict = {}
    for model, dataset in params.pairs():
        folder = layout.signatures(model, dataset)
        codes = _pair_languages(params, layout, model, dataset)
        if store_bits:
            counts = hamming_from_files([folder / f"{c}.parquet" for c in codes])
        else:
            from langgeo.models import load_model

            if model not in loaded:
                loaded.clear()  # one model in memory at a time
                loaded[model] = load_model(layout.model(model), "cpu", params.signatures.dtype)
            counts = hamming_from_factor_files([folder / f"{c}.factors.parquet" for c in codes],
                                               loaded[model])
        table = counts.summary()
        distances = counts.distances()
        for level in ("branch", "family"):
            scores = [evaluate_kmeans(_embed(distances[family, group], params)[0],
                                      labels.loc[codes, level].tolist(), ev.kmeans_seeds,
                                      params.seed)
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
    lines = []
    for (model, dataset), pair in table.groupby(["model", "dataset"], sort=False):
        ari = f"{ev.label_level}_ari_mean"
        best = pair[pair["family"] == "layer"].sort_values(ari).iloc[-1]
        parts = pair[pair["family"] == "part"].set_index("group")[ari]
        lines.append(f"  {model}/{dataset}: best block {best['group']} (ARI {best[ari]:.3f}); "
                     + ", ".join(f"{g} ARI {v:.3f}" for g, v in parts.items()))
    print(f"attribution: {len(table)} groups -> {layout.attribution()}\n" + "\n".join(lines))


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


def _weight_geometry(params, path: Path, labels: pd.DataFrame
                     ) -> tuple[Configuration, np.ndarray]:
    """The distance matrix at ``path``: its codes ``(n,)``, matrix ``(n, n)``, MDS latent
    vectors ``(n, k)`` and one k-means assignment ``(n,)`` with as many clusters as its
    languages have gold groups (``labels``: data/labels.parquet)."""
    from langgeo.distances import read_matrix
    from langgeo.evaluation import kmeans_labels

    codes, matrix = read_matrix(path)
    coords, _ = _embed(matrix, params)
    k = labels.set_index("code").loc[codes, params.evaluation.label_level].nunique()
    # One assignment (the first seed) to show; evaluate scores all seeds.
    return (codes, matrix, coords), kmeans_labels(coords, k, [params.seed])[0]


def cmd_report(params, layout: Layout, args) -> None:
    import pandas as pd

    from langgeo.figures import write_figures

    labels = pd.read_parquet(layout.labels())
    (codes, matrix, coords), clusters = _weight_geometry(params, layout.ensemble_distances(),
                                                         labels)
    spectrum = pd.read_parquet(layout.embedding() / "spectrum.parquet")
    written = write_figures(layout.figures(), labels, codes, matrix, coords, spectrum,
                            clusters=clusters, seed=params.seed)
    print(f"report: {len(written)} figures in {layout.figures()}")


def cmd_explorer(params, layout: Layout, args) -> None:
    import pandas as pd

    from langgeo.explorer import (LAYER_BUDGET, explorer_payload, read_representation,
                                  read_transfer_cost, write_page)
    from langgeo.runs import track_explorer
    from langgeo.tracking import check_store

    # Every input is checked before the page is written (the store too, where the page goes).
    check_store()
    labels = pd.read_parquet(layout.labels())
    configurations, clusters = {}, {}
    pairs = [("ensemble", layout.ensemble_distances())] + [
        (f"{m}/{d}", layout.pair_distances(m, d)) for m, d in params.pairs()]
    for name, path in pairs:
        configurations[name], clusters[name] = _weight_geometry(params, path, labels)
    # The transfer and interlingua stages may not have run: their modes are then left out.
    absent = []
    transfer = None
    if layout.transfer_cost().is_file():
        transfer = read_transfer_cost(layout.transfer_cost())
    else:
        absent.append(f"colour by transfer cost ({layout.transfer_cost()}: `dvc repro "
                      "transfer`)")
    representations = []
    for model in params.models:
        folders = [layout.interlingua(model.name), layout.representation_distances(model.name)]
        missing = [str(f) for f in folders if not f.is_dir()]
        if missing:
            absent.append(f"{model.name}'s layers ({', '.join(missing)}: `dvc repro "
                          f"interlingua@{model.name}`)")
        else:
            representations.append(read_representation(layout, model.name))
    payload = explorer_payload(configurations, labels, clusters, tsne_seed=params.seed,
                               representations=representations, transfer=transfer,
                               transform=params.embedding.distance_transform)
    path = write_page(layout.explorer(), payload)
    tracked = track_explorer(params, layout)
    layers = ", ".join(_embedded(r, LAYER_BUDGET) for r in payload["representations"]) or "none"
    panel = f"a panel of {len(transfer.codes)}" if transfer else "none"
    print(f"explorer: {len(configurations)} weight configurations, representation layers "
          f"{layers}, transfer cost {panel} -> {path} ({path.stat().st_size / 1024:.0f} KiB); "
          f"{tracked.status()}")
    if absent:
        print("explorer: left out, their input is absent: " + "; ".join(absent))


def _embedded(layers: dict, budget: int) -> str:
    """One model's entry of the payload's ``representations``, for the stage's line."""
    every, kept = layers["layers"], layers["embedded"]
    if kept == every:
        return f"{layers['model']} all {len(every)}"
    return (f"{layers['model']} {len(kept)} of {len(every)} (layer{'s' * (len(kept) > 1)} "
            f"{', '.join(map(str, kept))}; the others over the {budget / 2**20:g} MiB budget, "
            f"all in {layers['source']})")


def _outputs(layout: Layout) -> dict[str, str]:
    from langgeo.tracking import tracking_uri

    return {"latent vectors": str(layout.embedding() / "latent.parquet"),
            "distances": str(layout.ensemble_distances()),
            "metrics": str(layout.metrics()),
            "ours vs baselines": str(layout.comparison()),
            "figures": str(layout.figures()),
            "explorer": f"{layout.explorer()} (stage explorer)",
            "MLflow store": f"{tracking_uri()} (make ui)"}


def cmd_evaluate(params, layout: Layout, args) -> None:
    from langgeo.comparison import evaluate_configuration
    from langgeo.reports import comparison_table, script_control_summary, summary
    from langgeo.runs import track_evaluation
    from langgeo.storage import atomic_path, write_json
    from langgeo.tracking import check_store

    # A damaged store would otherwise fail only after all the evaluation work.
    check_store()
    metrics = evaluate_configuration(params, layout)
    write_json(metrics, layout.metrics())
    table = comparison_table(metrics)
    with atomic_path(layout.comparison()) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")

    tracked = track_evaluation(params, layout)
    print(summary(metrics, _outputs(layout)))
    print(script_control_summary(metrics))
    print(f"  {tracked.line()}")


def cmd_export(params, layout: Layout, args) -> None:
    from langgeo.export import export_results

    out = layout.root / "reports" / "export"
    paths = export_results(out, layout.embedding() / "latent.parquet",
                           layout.ensemble_distances(), layout.labels())
    print(f"export: {len(paths)} files (latent vectors and distances, Parquet + CSV, with "
          f"codes, names and labels) -> {out}")


def _weight_distances(params, layout: Layout, model: str, codes: list[str]
                      ) -> tuple[list[str], np.ndarray] | None:
    """The model's weight distances (mean over params 'datasets') on the languages of
    ``codes`` that every one of its matrices covers, in the order of ``codes``."""
    from langgeo.distances import read_matrix

    if model not in [m.name for m in params.models]:
        return None
    matrices = [read_matrix(layout.pair_distances(model, d.name)) for d in params.datasets]
    shared = [c for c in codes if all(c in m_codes for m_codes, _ in matrices)]
    picked = [m[np.ix_(idx, idx)] for m_codes, m in matrices
              for idx in [[m_codes.index(c) for c in shared]]]
    return shared, np.mean(picked, axis=0)


def cmd_interlingua(params, layout: Layout, args) -> None:
    import json

    import pandas as pd

    from langgeo import udhr
    from langgeo.corpus import udhr_declaration
    from langgeo.distances import write_matrix
    from langgeo.figures import (geometry_scatter_figure, interlingua_figure,
                                 language_ilo_figure)
    from langgeo.interlingua import analyse_layers, check_neighbourhood
    from langgeo.models import load_model, load_tokenizer
    from langgeo.representations import align_units, language_states
    from langgeo.runs import track_interlingua
    from langgeo.storage import atomic_path

    il, ev = params.interlingua, params.evaluation
    start = time.perf_counter()
    declarations = {lang: udhr_declaration(lang) for lang in params.languages}
    without = [lang for lang, d in declarations.items() if d is None]
    codes = [lang for lang, d in declarations.items() if d is not None]
    aligned = align_units({lang: udhr.units(declarations[lang]) for lang in codes},
                          il.max_units)
    check_neighbourhood(len(codes), len(aligned.keys), il.k, il.t)
    model = load_model(layout.model(args.model))
    tokenizer = load_tokenizer(layout.model(args.model))
    states = language_states(model, tokenizer, aligned.texts, il.pooling, il.batch_size)
    del model
    states_s = time.perf_counter() - start
    labels = pd.read_parquet(layout.labels()).set_index("code")
    gold = labels.loc[codes, ["family", "branch"]].to_dict("list")
    found = _weight_distances(params, layout, args.model, codes)
    keep = list(range(len(codes)))
    weights = None
    if found is not None:
        keep = [codes.index(c) for c in found[0]]
        weights = found[1]
    result = analyse_layers(states[:, keep], [codes[i] for i in keep],
                            {lvl: [g[i] for i in keep] for lvl, g in gold.items()}, weights,
                            k=il.k, t=il.t, seed=il.seed, centre=il.centre,
                            transform=params.embedding.distance_transform,
                            kmeans_seeds=ev.kmeans_seeds, n_permutations=ev.n_permutations,
                            mantel_permutations=ev.mantel_permutations,
                            min_cluster_size=ev.hdbscan_min_cluster_size)
    codes = [codes[i] for i in keep]
    per_layer, per_language = result.per_layer, result.per_language
    best = int(per_layer.loc[per_layer["ilo"].idxmax(), "layer"])
    agree = (int(per_layer.loc[per_layer["mantel_rho"].idxmax(), "layer"])
             if per_layer["mantel_rho"].notna().any() else None)
    summary = {"model": args.model, "languages": codes, "without_translation": without,
               "declarations": {c: declarations[c] for c in codes},
               "units": len(aligned.keys), "aligned_units": aligned.available,
               "dropped_articles": aligned.dropped_articles, "layers": len(result.distances),
               "most_aligned_layer": best, "most_agreeing_layer": agree}
    out = layout.interlingua(args.model)
    matrices = layout.representation_distances(args.model)
    # Both folders are written aside and renamed only once everything is written (matrices
    # first, then the reports that name them), so an error leaves neither half-written.
    with atomic_path(out) as tmp, atomic_path(matrices) as tmp_matrices:
        tmp.mkdir(parents=True)
        tmp_matrices.mkdir(parents=True)
        per_layer.to_csv(tmp / "layers.csv", index=False, float_format="%.5f")
        per_language.to_csv(tmp / "languages.csv", index=False, float_format="%.5f")
        for layer, d in enumerate(result.distances):
            write_matrix(tmp_matrices / layout.layer_distances(args.model, layer).name, codes,
                         d)
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        interlingua_figure(tmp / "curves.png", per_layer, args.model)
        language_ilo_figure(tmp / "languages.png",
                            per_language[per_language["layer"] == best], best,
                            labels.loc[codes, "family"].tolist())
        if agree is not None:
            geometry_scatter_figure(tmp / "weights_vs_representation.png", weights,
                                    result.distances[agree], agree,
                                    float(per_layer.loc[agree, "mantel_rho"]))
    tracked = track_interlingua(params, layout, args.model)
    row = per_layer.loc[best]
    print(f"interlingua ({args.model}): {len(codes)} languages x {len(aligned.keys)} units "
          f"({aligned.available} aligned, articles dropped {aligned.dropped_articles}, no "
          f"translation: {without or 'none'}), {len(result.distances)} layers in "
          f"{time.perf_counter() - start:.0f} s ({states_s:.0f} s of hidden states); "
          f"highest mean ILO {row['ilo']:.3f} at layer {best} "
          f"(shuffled {row['shuffled_ilo']:.3f}, Gaussian {row['gaussian_ilo']:.3f}, "
          f"retrieval P@1 {row['retrieval_p1']:.3f}); -> {out}, {matrices}; "
          f"{tracked.status()}")


def cmd_summary(params, layout: Layout, args) -> None:
    from langgeo.reports import read_metrics, script_control_summary, summary

    metrics = read_metrics(layout.metrics())
    print(summary(metrics, _outputs(layout)))
    print(script_control_summary(metrics))


def cmd_compare(params, layout: Layout, args) -> None:
    import pandas as pd

    from langgeo.figures import pairs_sweep_figure, sweep_figure
    from langgeo.storage import atomic_path
    from langgeo.tracking import compare_pair_runs, compare_runs

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
            "distances": params.distances.kind, "dtype": params.signatures.dtype}

    def matching(runs):
        return runs[(runs.reindex(columns=list(same)) == pd.Series(same)).all(axis=1)]

    mean, std = f"{level}/kmeans/ari_mean", f"{level}/kmeans/ari_std"
    figure = sweep_figure(layout.compare() / "tokens_sweep.png", matching(table), mean, std)
    if figure:
        print(f"ARI vs tokens per language -> {figure}")
    pairs = matching(compare_pair_runs(params.tracking.experiment))
    if not pairs.empty:
        with atomic_path(layout.compare() / "pairs.csv") as tmp:
            pairs.to_csv(tmp, index=False)
        figure = pairs_sweep_figure(layout.compare() / "pairs_tokens_sweep.png", pairs, mean, std)
        if figure:
            print(f"each (model, dataset) pair's ARI vs its tokens per language -> {figure}")


def cmd_preset(params, layout: Layout, args) -> None:
    from langgeo.presets import run_preset

    out = run_preset(args.name, layout.root)
    print(f"preset {args.name!r}: DVC experiment {args.name!r} (`dvc exp show`); reports "
          f"copied to {out}; params.yaml is unchanged")


def cmd_place(params, layout: Layout, args) -> None:
    import pandas as pd

    from langgeo.families import check_language_codes
    from langgeo.placement import load_space, read_text
    from langgeo.storage import check_output_folder, output_folder

    languages = args.language or ["unknown"] * len(args.text)
    if len(languages) == 1:
        languages *= len(args.text)
    if len(languages) != len(args.text):
        raise LanggeoError(f"{len(args.text)} texts but {len(languages)} --language codes; give "
                           "one code for all or one per text")
    check_language_codes(languages, "--language")
    out = check_output_folder(Path(args.out) if args.out else layout.placed(), "langgeo place")
    names = [Path(t).stem or Path(t).name for t in args.text]
    if len(set(names)) != len(names):
        names = [f"{n}-{i + 1}" for i, n in enumerate(names)]
    texts = {name: read_text(path) for name, path in zip(names, args.text)}
    start = time.perf_counter()
    reference = load_space(layout.root, params)
    placement = reference.place(texts, params, k=args.k)
    elapsed = time.perf_counter() - start
    guesses = placement.guesses.assign(language=languages)
    coords = pd.DataFrame(placement.coords,
                          columns=[f"mds_{i + 1}" for i in range(placement.coords.shape[1])])
    table = pd.concat([guesses, coords], axis=1)
    neighbours = pd.concat([t.assign(text=name, rank=range(1, len(t) + 1))
                            for name, t in placement.neighbours.items()], ignore_index=True)
    with output_folder(out, "langgeo place") as tmp:
        tmp.mkdir()
        table.to_csv(tmp / "placement.csv", index=False, float_format="%.6g")
        neighbours[["text", "rank", "code", "name", "family", "branch", "distance"]].to_csv(
            tmp / "neighbours.csv", index=False, float_format="%.6g")
        if args.explorer:
            from langgeo.explorer import write_explorer

            write_explorer(tmp / "explorer.html",
                           {"ensemble": (reference.codes, reference.distances, reference.latent)},
                           reference.labels.reset_index(), tsne_seed=None,
                           placed=placement)
    for name, language, (_, guess) in zip(names, languages, guesses.iterrows()):
        print(f"{name} ({language}): family {guess['family']} ({guess['family_confidence']:.0%}),"
              f" branch {guess['branch']} ({guess['branch_confidence']:.0%}); nearest:")
        print(placement.neighbours[name].to_string(index=False, float_format=lambda v: f"{v:.5f}"))
        if language in reference.labels.index:
            real = reference.labels.loc[language]
            agree = [level for level in ("family", "branch") if guess[level] == real[level]]
            print(f"  {language} is {real['family']} / {real['branch']}: the guess matches "
                  f"{' and '.join(agree) if agree else 'neither'}")
    print(f"placed {len(texts)} text(s) among {len(reference.codes)} languages "
          f"({params.distances.kind} distances, {len(reference.pairs)} (model, dataset) pairs) "
          f"in {elapsed:.1f} s -> {out}")


def _place_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text", nargs="+", required=True,
                   help="text file(s) or folder(s) of .txt files, one language each")
    p.add_argument("--language", nargs="+",
                   help="ISO 639-1 code of each text (or one for all), or 'unknown' (default)")
    p.add_argument("--k", type=int, default=5, help="neighbours to list (default: %(default)s)")
    p.add_argument("--explorer", action="store_true",
                   help="also write explorer.html with the placed texts marked")
    p.add_argument("--out", help="output folder (default: reports/place)")


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


def cmd_track(params, layout: Layout, args) -> None:
    from langgeo.runs import track_all

    for tracked in track_all(params, layout):
        print(tracked.line(), flush=True)


def cmd_transfer(params, layout: Layout, args) -> None:
    from langgeo.runs import track_transfer
    from langgeo.transfer import run_transfer

    s = run_transfer(params, layout.root)
    tracked = track_transfer(params, layout, s["seconds"])
    ours, lsp = s["tests"]["ours"], s["lsp"]
    print(f"transfer: {len(s['panel'])} languages, {s['model']} {s['method']} {s['pattern']} "
          f"in {s['seconds']['total']:.0f} s; d vs R Spearman {ours['rho']:.3f} "
          f"(p {ours['p']:.4f}), mean per target {ours['mean_target_rho']:.3f} "
          f"(p {ours['mean_target_p']:.4f})")
    for name, t in s["tests"].items():
        if name != "ours":
            print(f"  {name}: rho {t['rho']:.3f} (p {t['p']:.4f})")
    if lsp:
        print(f"  own-language pruning beats {lsp['reference']}-pruning for "
              f"{lsp['own_beats_reference']} of {lsp['targets']} targets")
    print(f"  -> reports/pruning/, data/pruning/; {tracked.status()}")


def cmd_prune(params, layout: Layout, args) -> None:
    from langgeo.storage import check_output_folder
    from langgeo.transfer import prune_for_language

    pr = params.pruning
    out = Path(args.out) if args.out else layout.root / "models" / "pruned" / (
        f"{pr.model if pr else 'model'}-{args.language}-{pr.method if pr else ''}")
    # Before the minutes of pruning, not after: never into a folder of the user's.
    check_output_folder(out, "langgeo prune")
    r = prune_for_language(params, layout.root, args.language, out)
    print(f"pruned for {args.language!r}: sparsity {r['sparsity']:.4f} in {r['seconds']:.0f} s; "
          f"held-out perplexity {r['dense']['ppl']:.2f} -> {r['pruned']['ppl']:.2f}, bits/byte "
          f"{r['dense']['bits_per_byte']:.3f} -> {r['pruned']['bits_per_byte']:.3f} -> {out}")


COMMANDS = {
    "prepare-model": (cmd_prepare_model, ["model"]),
    "calibrate": (cmd_calibrate, ["dataset"]),
    "labels": (cmd_labels, []),
    "signatures": (cmd_signatures, ["model", "dataset"]),
    "distances": (cmd_distances, []),
    "embed": (cmd_embed, []),
    "attribute": (cmd_attribute, []),
    "report": (cmd_report, []),
    "explorer": (cmd_explorer, []),
    "evaluate": (cmd_evaluate, []),
    "export": (cmd_export, []),
    "interlingua": (cmd_interlingua, ["model"]),
    "summary": (cmd_summary, []),
    "compare": (cmd_compare, []),
    "preset": (cmd_preset, ["name"]),
    "place": (cmd_place, _place_arguments),
    "synthetic": (cmd_synthetic, []),
    "ui": (cmd_ui, []),
    "track": (cmd_track, []),
    "transfer": (cmd_transfer, []),
    "prune": (cmd_prune, ["language"]),
}


def main(argv: list[str] | None = None) -> int:
    # Hub look-ups fail fast offline instead of retrying for ~50 s; HF_HUB_OFFLINE=0 opts out.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # A stopped stage (dvc sends SIGTERM) must still remove its temporary outputs: exiting
    # through SystemExit runs the atomic writers' cleanup.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    parser = argparse.ArgumentParser(prog="langgeo", description=__doc__)
    parser.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    parser.add_argument("--verbose", action="store_true",
                        help="show the libraries' own progress bars and warnings (model loading)")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, options) in COMMANDS.items():
        p = sub.add_parser(name)
        if callable(options):
            options(p)
            continue
        for option in options:
            p.add_argument(f"--{option}", required=True)
    sub.choices["prune"].add_argument(
        "--out", help="output folder (default: models/pruned/<model>-<language>-<method>)")
    args = parser.parse_args(argv)
    if args.verbose:
        os.environ[VERBOSE_ENV] = "1"  # in the environment, so that Ray workers see it too
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
