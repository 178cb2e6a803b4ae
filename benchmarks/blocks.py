"""Block sizes of the two blocked kernels of the signature pass, on this machine.

- ``langgeo.method.hessians.add_gram_upper`` (XᵀX on and above the block diagonal) against the full
  product, for a batch of rows and the input widths of Gemma 3 270M (640, 1024, 2048);
- ``langgeo.method.importance.cholesky_diagonal`` (including the copy it needs, as it overwrites its input)
  against ``torch.linalg.cholesky_ex`` on damped Hessians of the same widths.

Prints milliseconds per call, medians over --repeats (after one warm-up call).

    python benchmarks/blocks.py --rows 1024 --repeats 20
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from langgeo.method.hessians import add_gram_upper
from langgeo.method.importance import cholesky_diagonal

WIDTHS = (640, 1024, 2048)
BLOCKS = (128, 256, 512)


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1024, help="rows per batch (tokens)")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    generator = torch.Generator().manual_seed(0)
    print(f"{torch.get_num_threads()} threads, medians of {args.repeats}, ms per call")
    for d in WIDTHS:
        x = torch.randn(args.rows, d, generator=generator)
        acc = torch.zeros(d, d)
        h = x.T @ x / args.rows
        h.diagonal().add_(0.01 * h.diagonal().mean())
        gram = {"full": median_ms(lambda: acc.addmm_(x.T, x), args.repeats)}
        chol = {"torch": median_ms(lambda: torch.linalg.cholesky_ex(h), args.repeats)}
        for b in BLOCKS:
            gram[f"block {b}"] = median_ms(lambda: add_gram_upper(acc, x, b), args.repeats)
            chol[f"block {b}"] = median_ms(lambda: cholesky_diagonal(h.clone(), b),
                                           args.repeats)
        print(f"width {d:5}  XᵀX:      " + "  ".join(f"{k} {v:6.2f}" for k, v in gram.items()))
        print(f"{'':12}Cholesky: " + "  ".join(f"{k} {v:6.2f}" for k, v in chol.items()))


if __name__ == "__main__":
    main()
