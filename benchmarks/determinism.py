"""How much a signature's bits depend on the CPU kernels: one language of the real model,
computed in fresh processes under settings that change the fp32 summation order the way
another machine would (thread count, torch's vectorized kernels, MKL's code path).

For each variant: the share of bits that differ from the default run, and the Hamming
distance between the two signatures next to the distance between two languages (the
signal). Run: ``nice -n 10 python benchmarks/determinism.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

VARIANTS = {
    "default": {},
    "repeat": {},
    "1 thread": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
    "ATEN_CPU_CAPABILITY=avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "MKL_CBWR=COMPATIBLE": {"MKL_CBWR": "COMPATIBLE"},
}

CHILD = """
import sys, torch
from pathlib import Path
from langgeo.formats.signature_file import SignatureSettings
from langgeo.pipeline.jobs import compute_signature, plan_jobs
model_dir, shards, out, lang, tokens, seq_len, dtype = sys.argv[1:8]
settings = SignatureSettings(int(tokens), int(seq_len), "sparsegpt", "per_matrix", 0.01, 2,
                             "cpu", dtype, 0, 0)
job, = plan_jobs(settings, "m", "eld", [lang], Path(model_dir), Path(shards))
compute_signature(job, Path(out))
print(torch.get_num_threads(), torch.backends.cpu.get_cpu_capability())
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", default=str(REPO.parents[1] / "main/models/gemma3-270m"))
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16"])
    args = parser.parse_args()
    from langgeo.data.sources import eld_documents, shuffled
    from langgeo.data.shards import select_documents, write_shard
    from langgeo.geometry.hamming import distances_from_files
    from langgeo.method.models import load_tokenizer

    tokenizer = load_tokenizer(args.model_dir)
    with tempfile.TemporaryDirectory() as scratch:
        shards = Path(scratch) / "shards"
        shards.mkdir()
        for lang in ("fr", "es"):
            docs = select_documents(shuffled(eld_documents()[lang], lang, 0), [tokenizer],
                                    args.tokens, args.seq_len, lang, "eld")
            write_shard(shards / f"{lang}.parquet", docs, {})
        env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "HF_HUB_OFFLINE": "1"}
        files = {}
        for name, extra in [*VARIANTS.items(), ("other language (es)", {})]:
            out = Path(scratch) / name.replace(" ", "_").replace("=", "_")
            out.mkdir()
            lang = "es" if name.startswith("other") else "fr"
            done = subprocess.run([sys.executable, "-c", CHILD, args.model_dir, str(shards),
                                   str(out), lang, str(args.tokens), str(args.seq_len), args.dtype],
                                  env={**env, **extra}, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(done.stderr[-3000:])
            files[name] = (out / f"{lang}.parquet", done.stdout.split()[-2:])
        paths = [p for p, _ in files.values()]
        d = distances_from_files(paths)
        rows = {name: {"threads/capability": info, "bits_differing_vs_default": float(d[0, i])}
                for i, (name, (_, info)) in enumerate(files.items())}
        print(json.dumps({"tokens": args.tokens, "dtype": args.dtype, "variants": rows}, indent=1))


if __name__ == "__main__":
    main()
