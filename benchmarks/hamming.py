"""Time the Hamming distance pass: synthetic random signatures and, optionally, a real folder.

Synthetic: ``--languages`` signatures of ``--bits`` random bits each, split into weight
matrices of ``--matrix-bits``, in memory (the kernel alone) and, with ``--files``, streamed
from Parquet files in a temporary folder in both layouts: one row group per file (what
``pq.write_table`` writes by default) and one row group per weight matrix. Real: every
``<lang>.parquet`` signature in ``--real`` (a signatures folder), against the previous
kernel with ``--baseline``.

Prints medians over ``--repeats``: wall and CPU seconds, throughput in GB/s of packed bits
per pair comparison (``n(n−1)/2 · bytes``, the work) and per input byte (``n · bytes``), and
the peak resident memory above the level before the call (sampled from /proc: Linux). The
pair throughput extrapolates to other sizes: time ≈ n(n−1)/2 · bits / 8 / throughput.

    python benchmarks/hamming.py                       # 106 languages × 5e7 bits, ~30 s
    python benchmarks/hamming.py --files --threads 1 2
    python benchmarks/hamming.py --languages 0 --real data/signatures/gemma3-270m/eld --baseline
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from langgeo.geometry.hamming import hamming_from_files, hamming_from_signatures
from langgeo.formats.signature_file import METADATA_KEY, SCHEMA, Signature


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


class PeakRss:
    """Highest RSS seen (sampled every 5 ms) while the block runs, above the RSS at entry."""

    def __enter__(self):
        self.base = self.peak = rss_bytes()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while not self.stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, rss_bytes())
        self.extra = self.peak - self.base


def synthetic(n: int, bits: int, matrix_bits: int, seed: int = 0) -> list[Signature]:
    sizes = [matrix_bits] * (bits // matrix_bits) + ([bits % matrix_bits] if bits % matrix_bits
                                                      else [])
    modules = [f"model.layers.{k // 7}.mlp.m{k % 7}" for k in range(len(sizes))]
    rng = np.random.default_rng(seed)
    return [Signature({"language": f"l{i}"}, modules,
                      {m: (s,) for m, s in zip(modules, sizes)},
                      {m: rng.integers(0, 256, -(-s // 8), dtype=np.uint8)
                       for m, s in zip(modules, sizes)})
            for i in range(n)]


def write_synthetic(sig: Signature, path: Path, row_group_per_matrix: bool) -> None:
    table = pa.table({"module": sig.modules, "shape": [list(sig.shapes[m]) for m in sig.modules],
                      "n_bits": [int(np.prod(sig.shapes[m])) for m in sig.modules],
                      "bits": [sig.packed[m].tobytes() for m in sig.modules]}, schema=SCHEMA)
    table = table.replace_schema_metadata({METADATA_KEY: json.dumps(sig.metadata)})
    extra = {"row_group_size": 1, "use_dictionary": False} if row_group_per_matrix else {}
    pq.write_table(table, path, compression="none", **extra)


def previous_kernel(signatures: list[Signature]) -> np.ndarray:
    """The implementation this one replaced: 1 MiB blocks, one pass per row, int64 sums."""
    n = len(signatures)
    out = np.zeros((n, n), dtype=np.int64)
    for module in signatures[0].modules:
        rows = np.stack([s.packed[module] for s in signatures])
        for start in range(0, rows.shape[1], 1 << 20):
            block = rows[:, start:start + (1 << 20)]
            block = np.pad(block, ((0, 0), (0, (-block.shape[1]) % 8)))
            words = np.ascontiguousarray(block).view(np.uint64)
            for i in range(n - 1):
                out[i, i + 1:] += np.bitwise_count(np.bitwise_xor(words[i + 1:], words[i])).sum(
                    axis=1, dtype=np.int64)
    return out + out.T


def measure(label: str, run, n: int, n_bytes: int, repeats: int,
            target: tuple[int, float]) -> None:
    walls, cpus, extras = [], [], []
    for _ in range(repeats):
        # Hand memory kept by earlier runs back first, or reuse would hide this run's peak.
        gc.collect()
        pa.default_memory_pool().release_unused()
        with PeakRss() as peak:
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
        extras.append(peak.extra)
    wall, pairs = statistics.median(walls), n * (n - 1) / 2
    seconds = target[0] * (target[0] - 1) / 2 * target[1] / 8 / (pairs * n_bytes / wall)
    print(f"{label:<44} wall {wall:7.2f} s  cpu {statistics.median(cpus):7.2f} s  "
          f"pairs {pairs * n_bytes / wall / 1e9:6.2f} GB/s  input {n * n_bytes / wall / 1e9:5.2f}"
          f" GB/s  peak +{max(extras) / 2**20:,.0f} MiB (input {n * n_bytes / 2**20:,.0f} MiB)"
          f"  -> {target[0]} x {target[1]:.0e} bits: ~{seconds:.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--languages", type=int, default=106, help="synthetic signatures (0: none)")
    parser.add_argument("--bits", type=float, default=5e7, help="bits per synthetic signature")
    parser.add_argument("--matrix-bits", type=float, default=2**23, help="bits per weight matrix")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--block-bytes", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--files", action="store_true", help="also stream synthetic files")
    parser.add_argument("--real", type=Path, help="a folder of <lang>.parquet signatures")
    parser.add_argument("--baseline", action="store_true", help="time the previous kernel too")
    parser.add_argument("--target", type=float, nargs=2, default=[106, 1e9],
                        metavar=("LANGUAGES", "BITS"), help="size to extrapolate the time to")
    args = parser.parse_args()
    target = (int(args.target[0]), args.target[1])
    block = {} if args.block_bytes is None else {"block_bytes": args.block_bytes}

    if args.languages:
        n, bits = args.languages, int(args.bits)
        sigs = synthetic(n, bits, int(args.matrix_bits))
        n_bytes = sum(len(p) for p in sigs[0].packed.values())
        print(f"synthetic: {n} languages × {bits:,} bits ({n_bytes / 2**20:,.0f} MiB each)")
        for t in args.threads:
            measure(f"in memory, {t} thread(s)",
                    lambda: hamming_from_signatures(sigs, None, threads=t, **block),
                    n, n_bytes, args.repeats, target)
        if args.files:
            with tempfile.TemporaryDirectory() as tmp:
                for per_matrix in (False, True):
                    paths = [Path(tmp) / f"{s.metadata['language']}.parquet" for s in sigs]
                    for s, p in zip(sigs, paths):
                        write_synthetic(s, p, per_matrix)
                    layout = "row group per matrix" if per_matrix else "one row group"
                    for t in args.threads:
                        measure(f"files ({layout}), {t} thread(s)",
                                lambda: hamming_from_files(paths, None, threads=t, **block),
                                n, n_bytes, args.repeats, target)
        del sigs

    if args.real:
        paths = sorted(p for p in args.real.glob("*.parquet") if p.name.count(".") == 1)
        n = len(paths)
        n_bytes = sum(-(-b // 8) for b in pq.read_table(paths[0], columns=["n_bits"])
                      .column("n_bits").to_pylist())
        print(f"real: {n} signatures in {args.real} ({n_bytes / 2**20:,.1f} MiB each)")
        for t in args.threads:
            measure(f"files, total only, {t} thread(s)",
                    lambda: hamming_from_files(paths, None, threads=t, **block),
                    n, n_bytes, args.repeats, target)
            measure(f"files, with groups, {t} thread(s)",
                    lambda: hamming_from_files(paths, threads=t, **block),
                    n, n_bytes, args.repeats, target)
        if args.baseline:
            from langgeo.formats.signature_file import read_signature
            measure("previous kernel (read_signature + 1 MiB blocks)",
                    lambda: previous_kernel([read_signature(p) for p in paths]),
                    n, n_bytes, args.repeats, target)


if __name__ == "__main__":
    main()
