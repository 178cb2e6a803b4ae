"""Stage ``signatures@<model>-<dataset>``: one job per language (:mod:`langgeo.pipeline.jobs`),
run on the configured engine; finished languages whose fingerprint matches are reused."""

from __future__ import annotations

import time

from tqdm import tqdm

from langgeo import LanggeoError
from langgeo.data.shards import shard_languages
from langgeo.formats.signature_file import SignatureSettings
from langgeo.formats.storage import check_parquet_files
from langgeo.layout import Layout
from langgeo.params import Params
from langgeo.pipeline.engines import connect_ray, run_jobs
from langgeo.pipeline.jobs import is_finished, plan_jobs, tidy_folder


def run(params: Params, layout: Layout, model: str, dataset: str) -> str:
    params.model(model)
    params.dataset(dataset)
    model_dir, shards = layout.model(model), layout.shards(dataset)
    languages = shard_languages(shards, params.languages)
    if not model_dir.is_dir():
        raise LanggeoError(f"model folder {model_dir} not found; run `dvc repro` (stage "
                           f"prepare_model@{model}) first")
    # Every input is checked before the first job, not when its language is reached.
    check_parquet_files([shards / f"{lang}.parquet" for lang in languages],
                        f"Restore them with `dvc checkout {shards}` or re-run their stage: "
                        f"`dvc repro -f -s calibrate@{dataset}`", full=True)
    out = layout.signatures(model, dataset)
    jobs = plan_jobs(SignatureSettings.from_params(params, dataset), model, dataset, languages,
                     model_dir, shards)
    n_tmp, n_stale = tidy_folder(out, jobs)
    todo = [job for job in jobs if not is_finished(job, out)]
    engine = params.engine
    if engine.kind == "ray" and todo:
        connect_ray(engine.address)  # an unreachable cluster fails before any output
    print(f"signatures ({model}, {dataset}): {len(jobs) - len(todo)} of {len(jobs)} "
          f"languages up to date, {len(todo)} to compute on the {engine.kind} engine"
          + (f"; removed {n_stale} stale file(s)" if n_stale else "")
          + (f" and {n_tmp} temporary(ies) of an interrupted run" if n_tmp else ""))
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), unit="lang",
               desc=f"signatures ({model}, {dataset})")
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
    line = (f"signatures: computed {len(summary.done)}, reused {len(jobs) - len(todo)}, "
            f"failed {len(summary.failed)}; {summary.tokens:,} tokens in {elapsed:.0f} s "
            f"({summary.tokens / max(elapsed, 1e-9):.0f} tok/s) -> {out}")
    if summary.failed:
        print(line)
        listed = "; ".join(f"{lang}: {msg}" for lang, msg in summary.failed.items())
        raise LanggeoError(f"{len(summary.failed)} of {len(todo)} languages failed (the "
                           f"{len(summary.done)} finished are kept; a re-run computes only the "
                           f"rest): {listed}")
    return line
