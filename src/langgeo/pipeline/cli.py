"""langgeo: a metric space of languages from the weights of multilingual LLMs.

Every DVC stage is a command of the same name (dvc.yaml), configured by params.yaml alone;
the other commands work on what the stages wrote. Bad input is one message on stderr and
exit status 2.

This module parses, calls a stage (langgeo.pipeline.stages) or command, and prints its line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import time

from langgeo import VERBOSE_ENV, LanggeoError
from langgeo.layout import Layout

MODEL = ("--model", {"required": True, "help": "a name in params 'models'"})
DATASET = ("--dataset", {"required": True, "help": "a name in params 'datasets'"})

#: name -> (module under langgeo.pipeline and its function, one line of help, options).
#: Modules are imported only when their command runs, so that `langgeo --help` is fast.
COMMANDS: dict[str, tuple[str, str, list[tuple[str, dict]]]] = {
    "prepare-model": ("stages.prepare_model:run", "de-quantize a model once into models/<model>",
                      [MODEL]),
    "labels": ("stages.labels:run", "Glottolog family and branch of every language", []),
    "calibrate": ("stages.calibrate:run", "calibration text of every language of a dataset",
                  [DATASET]),
    "signatures": ("stages.signatures:run", "the signature of every language for one model "
                   "and dataset", [MODEL, DATASET]),
    "distances": ("stages.distances:run", "distances of every (model, dataset) pair and their "
                  "ensemble", []),
    "embed": ("stages.embed:run", "classical MDS: the latent vectors", []),
    "attribute": ("stages.attribute:run", "ARI of each group of weight matrices", []),
    "report": ("stages.report:run", "figures of the space", []),
    "evaluate": ("stages.evaluate:run", "ours against Glottolog and the baselines "
                 "(reports/metrics.json)", []),
    "export": ("stages.export:run", "latent vectors and distances for sharing", []),
    "synthetic": ("stages.synthetic:run", "synthetic ground truth: distances of transformed "
                  "texts", []),
    "scripts": ("stages.scripts:run", "language or writing system? declarations of one language "
                "in two scripts against the references", [MODEL]),
    "robust": ("stages.robust:run", "a geometry that sees through script: the blocks where one "
               "language's two scripts are closest, evaluated", []),
    "pruning-matrix": ("stages.pruning_matrix:run", "the panel pruned per language and "
                       "every pruned model's perplexity on every language", []),
    "transfer": ("stages.transfer:run", "does our distance predict the cost of pruning with "
                 "another language? (the transfer test)", []),
    "finetune-matrix": ("stages.finetune_matrix:run", "the model fine-tuned per panel language "
                        "and its held-out loss on every language after each", []),
    "finetune": ("stages.finetune:run", "the fine-tuning study's reports: freezing against "
                 "full fine-tuning, alignment per layer after each", []),
    "rankings": ("stages.rankings:run", "which distance picks the best source language? "
                 "(NDCG@3, top-1 loss)", []),
    "hidden-states": ("stages.hidden_states:run", "a model's pooled hidden states of the "
                      "parallel UDHR units, every layer", [MODEL]),
    "interlingua": ("stages.interlingua:run", "Interlingual Local Overlap of a model's hidden "
                    "states, beside its weight geometry", [MODEL]),
    "explorer": ("stages.explorer:run", "the interactive page of the space", []),
    "track": ("stages.track:run", "log the MLflow runs of the current outputs that the store "
              "lacks", []),
    "summary": ("commands:summary", "the headline results of reports/metrics.json", []),
    "compare": ("commands:compare", "every configuration logged in MLflow, side by side", []),
    "preset": ("commands:preset", "run params.<name>.yaml as a DVC experiment",
               [("--name", {"required": True, "help": "the preset: params.<name>.yaml"})]),
    "place": ("commands:place", "place new texts among the languages of the space", [
        ("--text", {"nargs": "+", "required": True,
                    "help": "text file(s) or folder(s) of .txt files, one language each"}),
        ("--language", {"nargs": "+", "help": "ISO 639-1 code of each text (or one for all), "
                                              "or 'unknown' (default)"}),
        ("--k", {"type": int, "default": 5, "help": "neighbours to list (default: %(default)s)"}),
        ("--explorer", {"action": "store_true",
                        "help": "also write explorer.html with the placed texts marked"}),
        ("--out", {"help": "output folder (default: reports/place)"})]),
    "prune": ("commands:prune", "prune the pruning model with one language's text", [
        ("--language", {"required": True, "help": "a language code of the pruning panel's "
                                                  "dataset"}),
        ("--out", {"help": "output folder (default: models/pruned/<model>-<language>-"
                           "<method>)"})]),
    "ui": ("commands:ui", "serve the MLflow UI on 127.0.0.1 (MLFLOW_PORT, default 5000)", []),
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="langgeo", description=__doc__.rsplit("\n\n", 1)[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", default="params.yaml", help="params file (default: %(default)s)")
    p.add_argument("--verbose", action="store_true",
                   help="show the libraries' own progress bars and warnings (model loading)")
    sub = p.add_subparsers(dest="command", required=True, metavar="command")
    for name, (_, help_text, options) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        for flag, kwargs in options:
            command.add_argument(flag, **kwargs)
    return p


def main(argv: list[str] | None = None) -> int:
    # Hub look-ups fail fast offline instead of retrying for ~50 s; HF_HUB_OFFLINE=0 opts out.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # A stopped stage (dvc sends SIGTERM) must still remove its temporary outputs: exiting
    # through SystemExit runs the atomic writers' cleanup.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    args = vars(parser().parse_args(argv))
    command, params_file = args.pop("command"), args.pop("params")
    if args.pop("verbose"):
        os.environ[VERBOSE_ENV] = "1"  # in the environment, so that Ray workers see it too
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "urllib3", "alembic", "mlflow"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from langgeo.params import load_params

    module, function = COMMANDS[command][0].split(":")
    start = time.perf_counter()
    try:
        params = load_params(params_file)
        run = getattr(importlib.import_module(f"langgeo.pipeline.{module}"), function)
        line = run(params, Layout(), **args)
    except LanggeoError as exc:
        print(f"langgeo {command}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        record_time(os.environ.get("DVC_STAGE") or command, time.perf_counter() - start)
    if line:
        print(line)
    return 0


#: A file that every command appends its name (the DVC stage's, under `dvc repro`) and wall
#: time to: `make repro` sets it and prints the table at the end, since DVC prints no times.
TIMINGS_ENV = "LANGGEO_TIMINGS"


def record_time(name: str, seconds: float) -> None:
    path = os.environ.get(TIMINGS_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{name}\t{seconds:.1f}\n")


if __name__ == "__main__":
    sys.exit(main())
