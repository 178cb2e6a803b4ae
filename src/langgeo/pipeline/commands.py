"""The commands that are not DVC stages: summary, compare, preset, place, prune, ui.

Each is ``function(params, layout, **options) -> str | None``, called by :mod:`langgeo.pipeline.cli`
with the options of its command line; the returned line is printed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd

from langgeo import LanggeoError, __version__
from langgeo.data.languages import language_table
from langgeo.formats.storage import atomic_path, check_output_folder, output_folder
from langgeo.layout import Layout
from langgeo.params import Params, parse_pattern


def summary(params: Params, layout: Layout) -> str:
    """`langgeo summary`: the headline results of ``reports/metrics.json``, and of
    ``reports/robust/metrics.json`` where the robust stage wrote it."""
    import json

    from langgeo.pipeline.stages.evaluate import outputs
    from langgeo.report.summary import read_metrics, robust_summary, script_control_summary
    from langgeo.report.summary import summary as summary_text

    metrics = read_metrics(layout.metrics())
    text = summary_text(metrics, outputs(layout)) + "\n" + script_control_summary(metrics)
    robust = layout.robust() / "metrics.json"
    if robust.is_file():
        text += ("\n  script-robust geometry (reports/robust/):\n"
                 + robust_summary(json.loads(robust.read_text())))
    return text


def compare(params: Params, layout: Layout) -> None:
    """`langgeo compare`: every configuration logged in MLflow, as a table and sweep figures
    (``reports/compare/``)."""
    from langgeo.pipeline.tracking import compare_pair_runs, compare_runs
    from langgeo.report.study_figures import pairs_sweep_figure, sweep_figure

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


def preset(params: Params, layout: Layout, name: str) -> str:
    """`langgeo preset`: run ``params.<name>.yaml`` as the DVC experiment ``name``, its reports
    copied to ``reports/presets/<name>/``; params.yaml stays as it is."""
    from langgeo.pipeline.presets import run_preset

    out = run_preset(name, layout.root)
    return (f"preset {name!r}: DVC experiment {name!r} (`dvc exp show`); reports copied to "
            f"{out}; params.yaml is unchanged")


def place(params: Params, layout: Layout, text: list[str], language: list[str] | None = None,
          k: int = 5, explorer: bool = False, out: str | None = None) -> str:
    """`langgeo place`: place new texts among the languages of the space this project computed
    (:meth:`langgeo.studies.placement.Space.place`), with neighbours and family guesses."""
    from langgeo.data.languages import check_language_codes
    from langgeo.studies.placement import load_space, read_text

    languages = language or ["unknown"] * len(text)
    if len(languages) == 1:
        languages *= len(text)
    if len(languages) != len(text):
        raise LanggeoError(f"{len(text)} texts but {len(languages)} --language codes; give "
                           "one code for all or one per text")
    check_language_codes(languages, "--language")
    out = check_output_folder(Path(out) if out else layout.placed(), "langgeo place")
    names = [Path(t).stem or Path(t).name for t in text]
    if len(set(names)) != len(names):
        names = [f"{n}-{i + 1}" for i, n in enumerate(names)]
    texts = {name: read_text(path) for name, path in zip(names, text)}
    start = time.perf_counter()
    reference = load_space(layout.root, params)
    placement = reference.place(texts, params, k=k)
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
        if explorer:
            from langgeo.report.explorer import write_explorer

            write_explorer(tmp / "explorer.html",
                           {"ensemble": (reference.codes, reference.distances, reference.latent)},
                           reference.labels.reset_index(), tsne_seed=None,
                           placed=placement)
    for name, code, (_, guess) in zip(names, languages, guesses.iterrows()):
        print(f"{name} ({code}): family {guess['family']} ({guess['family_confidence']:.0%}),"
              f" branch {guess['branch']} ({guess['branch_confidence']:.0%}); nearest:")
        print(placement.neighbours[name].to_string(index=False, float_format=lambda v: f"{v:.5f}"))
        if code in reference.labels.index:
            real = reference.labels.loc[code]
            agree = [level for level in ("family", "branch") if guess[level] == real[level]]
            print(f"  {code} is {real['family']} / {real['branch']}: the guess matches "
                  f"{' and '.join(agree) if agree else 'neither'}")
    return (f"placed {len(texts)} text(s) among {len(reference.codes)} languages "
            f"({params.distances.kind} distances, {len(reference.pairs)} (model, dataset) "
            f"pairs) in {elapsed:.1f} s -> {out}")


MODEL_CARD = """# {name}: {base} pruned for {language_name} ({language})

Written by `langgeo prune --language {language}` (langgeo {version}).

| | |
| --- | --- |
| base model | `{base}` |
| method | {method} ({pattern_text}), damping {damping} |
| calibration | {cal_tokens} tokens of `{dataset}` text in {language} ({cal_rows} windows of {seq_len}) |
| measured sparsity | {sparsity:.6f} of the {n_weights:,} weights of the linear layers in the transformer blocks ({n_zero:,} exact zeros; embeddings, norms and the LM head are dense) |
| pruning time | {seconds:.1f} s |

Perplexity on {held_tokens} held-out tokens of {language} ({held_rows} non-overlapping windows of
{seq_len}, {held_bytes:,} bytes of UTF-8; documents disjoint from the calibration text):

| model | perplexity per token | bits per byte |
| --- | --- | --- |
| dense | {dense_ppl:.3f} | {dense_bpb:.4f} |
| pruned | {pruned_ppl:.3f} | {pruned_bpb:.4f} |

The weights are stored dense (zeros included): load with
`transformers.AutoModelForCausalLM.from_pretrained("<this folder>")`. The base model's
license applies.
"""


def prune_for_language(params: Params, layout: Layout, language: str, out: Path) -> dict:
    """``langgeo prune``: a ``save_pretrained`` folder at ``out`` holding ``params.pruning``'s
    model pruned with ``language``'s calibration text, with a model card (README.md) that
    gives its measured sparsity and its held-out perplexity before and after."""
    from langgeo.method.models import load_model, load_tokenizer
    from langgeo.studies.perplexity import perplexity
    from langgeo.studies.pruning import measured_sparsity, prune_model
    from langgeo.studies.transfer import panel_texts, pruning_model

    name, pr = pruning_model(params), params.pruning
    pattern = parse_pattern(pr.sparsity, pr.pattern)
    model_dir = layout.model(name)
    model = load_model(model_dir, params.signatures.device)
    tokenizer = load_tokenizer(model_dir)
    text = panel_texts(params, tokenizer, [language])[language]
    dense = perplexity(model, text.heldout, text.heldout_bytes, pr.batch_size)
    result = prune_model(model, list(text.calibration.split(pr.batch_size)), pr.method, pattern,
                         pr.damping, progress=True)
    pruned = perplexity(model, text.heldout, text.heldout_bytes, pr.batch_size)
    sparsity = measured_sparsity(model)
    card = MODEL_CARD.format(
        name=out.name, base=name, language=language,
        language_name=language_table().get(language, {}).get("name", language),
        version=__version__, method=pr.method, damping=pr.damping,
        pattern_text=(f"unstructured, {pattern.target:.0%} of each matrix" if pattern.nm is None
                      else f"{pattern.name}: {pattern.nm[0]} of every {pattern.nm[1]} kept"),
        dataset=pr.dataset, cal_tokens=text.calibration.numel(),
        cal_rows=text.calibration.shape[0], seq_len=pr.seq_len, sparsity=result.sparsity,
        n_weights=result.n_weights, n_zero=round(sparsity * result.n_weights),
        seconds=result.seconds, held_tokens=text.heldout.numel(),
        held_rows=text.heldout.shape[0], held_bytes=text.heldout_bytes,
        dense_ppl=dense.per_token, dense_bpb=dense.bits_per_byte,
        pruned_ppl=pruned.per_token, pruned_bpb=pruned.bits_per_byte)
    with output_folder(out, "langgeo prune") as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "README.md").write_text(card)
    return {"out": str(out), "sparsity": result.sparsity, "zeros": sparsity,
            "dense": dense.as_dict(), "pruned": pruned.as_dict(), "seconds": result.seconds}



def prune(params: Params, layout: Layout, language: str, out: str | None = None) -> str:
    """`langgeo prune`: ``params.pruning``'s model pruned with one language's text, saved with
    a model card (:func:`prune_for_language`)."""
    pr = params.pruning
    folder = Path(out) if out else layout.pruned(pr.model if pr else "model", language,
                                                 pr.method if pr else "")
    # Before the minutes of pruning, not after: never into a folder of the user's.
    check_output_folder(folder, "langgeo prune")
    r = prune_for_language(params, layout, language, folder)
    return (f"pruned for {language!r}: sparsity {r['sparsity']:.4f} in {r['seconds']:.0f} s; "
            f"held-out perplexity {r['dense']['ppl']:.2f} -> {r['pruned']['ppl']:.2f}, "
            f"bits/byte {r['dense']['bits_per_byte']:.3f} -> "
            f"{r['pruned']['bits_per_byte']:.3f} -> {folder}")


def ui(params: Params, layout: Layout) -> None:
    """`langgeo ui`: the MLflow UI over this project's store, until stopped."""
    from langgeo.pipeline.tracking import serve_ui

    # MLFLOW_PORT is also what `mlflow server` itself reads for its port.
    port = os.environ.get("MLFLOW_PORT", "5000")
    if not port.isdigit():
        raise LanggeoError(f"MLFLOW_PORT={port!r} is not a port number")
    status = serve_ui(params.tracking.experiment, params.evaluation.label_level,
                      port=int(port))
    if status:
        raise LanggeoError(f"the MLflow server stopped with status {status} (is port {port} "
                           "taken? set MLFLOW_PORT to another one)")

