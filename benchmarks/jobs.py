"""Costs of the signature stage as jobs, on the real model, through the CLI as a user runs it.

In a scratch project (the prepared model linked, not copied) with ``--languages`` languages
at ``--tokens`` tokens each, per round:

- ``full``: the stage from scratch on the local engine (wall time of the command);
- ``add one``: the same stage after one more language was added (only it is computed);
  compared with one language's own signature time (from the full run's log) against the
  target ``2 x one language + 20 s``;
- ``resume``: a run killed (SIGKILL) once half the languages are on disk, then re-run: the
  re-run's wall time;
- ``ray``: the stage from scratch on the Ray engine (a cluster started inside the command,
  ``engine.address: local``), against ``full`` (target: at most 10% more).

Prints medians over ``--rounds``. Run on a quiet machine: ``nice -n 10 python
benchmarks/jobs.py``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
LANGUAGES = ["fr", "de", "ru", "ja", "es", "fi", "ar", "hi", "it", "pt", "pl", "tr", "zh", "ko",
             "sv", "el"]


def cli(root: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen([sys.executable, "-m", "langgeo.pipeline.cli", *args], cwd=root, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def timed(root: Path, *args: str) -> tuple[float, str]:
    start = time.perf_counter()
    process = cli(root, *args)
    out, _ = process.communicate()
    if process.returncode:
        raise SystemExit(f"{args} failed:\n{out[-3000:]}")
    return time.perf_counter() - start, out


def set_params(root: Path, **sections) -> None:
    params = yaml.safe_load((root / "params.yaml").read_text())
    params.update(sections)
    (root / "params.yaml").write_text(yaml.safe_dump(params))


def signatures_args(model: str) -> list[str]:
    return ["signatures", "--model", model, "--dataset", "eld"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=str(REPO.parents[1] / "main/models/gemma3-270m"))
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--languages", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=1024)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    langs = LANGUAGES[:args.languages + 1]
    results: dict[str, list[float]] = {k: [] for k in ("full", "one", "add", "resume", "ray")}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "p"
        root.mkdir()
        shutil.copy(REPO / "params.yaml", root / "params.yaml")
        (root / "models").mkdir()
        os.symlink(Path(args.model_dir).resolve(), root / "models" / args.model)
        set_params(root, languages=langs, models=[args.model],
                   calibration={"tokens_per_language": args.tokens, "seq_len": args.seq_len})
        timed(root, "calibrate", "--dataset", "eld")
        out = root / "data" / "signatures" / args.model / "eld"
        for _ in range(args.rounds):
            shutil.rmtree(out, ignore_errors=True)
            set_params(root, languages=langs[:-1], engine={"kind": "local"})
            wall, log = timed(root, *signatures_args(args.model))
            results["full"].append(wall)
            compute = float(re.search(r"tokens in (\d+) s", log).group(1))
            results["one"].append(compute / (len(langs) - 1))
            set_params(root, languages=langs)
            wall, log = timed(root, *signatures_args(args.model))
            assert "computed 1, reused" in log, log
            results["add"].append(wall)

            shutil.rmtree(out)
            set_params(root, languages=langs[:-1])
            process = cli(root, *signatures_args(args.model))
            half = (len(langs) - 1) // 2
            # Finished languages: <lang>.parquet (beside it .scores. and .factors. files).
            while (len([p for p in out.glob("*.parquet") if p.name.count(".") == 1]) < half
                   and process.poll() is None):
                time.sleep(0.05)
            process.send_signal(signal.SIGKILL)
            process.wait()
            wall, _ = timed(root, *signatures_args(args.model))
            results["resume"].append(wall)

            shutil.rmtree(out)
            set_params(root, engine={"kind": "ray", "address": "local",
                                     "cpus_per_job": os.cpu_count() or 1})
            wall, _ = timed(root, *signatures_args(args.model))
            results["ray"].append(wall)
    med = {k: statistics.median(v) for k, v in results.items()}
    n = len(langs) - 1
    print(f"{args.model}, {n} languages x {args.tokens} tokens, {args.rounds} round(s), "
          f"medians:")
    print(f"  full stage (local, {n} languages): {med['full']:.1f} s wall")
    print(f"  one language's signature time (compute inside the stage): {med['one']:.1f} s")
    print(f"  add one language: {med['add']:.1f} s wall (target <= 2 x {med['one']:.1f} + 20 "
          f"= {2 * med['one'] + 20:.1f} s)")
    print(f"  resume after a kill at 50%: {med['resume']:.1f} s wall "
          f"({med['resume'] / med['full']:.0%} of the full stage)")
    print(f"  ray engine (local cluster started by the command): {med['ray']:.1f} s wall, "
          f"{med['ray'] / med['full'] - 1:+.0%} against local")


if __name__ == "__main__":
    main()
