"""Time the Generalized Quartet Distance (langgeo.geometry.quartets) on random matrices.

For each size: two random distance matrices (entries uniform in [0.5, 1)), their
neighbour-joining trees (scikit-bio), then the GQD of one against the other with family labels
(every quartet up to ``--exact-max`` languages, ``--samples`` drawn quartets above), and the
leaf-permutation null with ``--permutations`` (timed once). Prints medians over ``--repeats`` of
wall seconds per step, and the GQD (near 2/3 for unrelated trees) with its standard error when sampled.

    python benchmarks/quartets.py                     # 59 and 95 exact, 442 sampled
    python benchmarks/quartets.py --sizes 120 --repeats 1
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import numpy as np

from langgeo.geometry.quartets import DEFAULT_SAMPLES, gqd, gqd_null
from langgeo.geometry.trees import nj_tree


def random_matrix(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    d = rng.uniform(0.5, 1.0, size=(n, n))
    d = (d + d.T) / 2
    np.fill_diagonal(d, 0.0)
    return d


def timed(function, repeats: int):
    """(median wall seconds, last result)."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[59, 95, 442])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--exact-max", type=int, default=120)
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES)
    parser.add_argument("--permutations", type=int, default=99)
    parser.add_argument("--families", type=int, default=10,
                        help="family labels assigned round-robin, for the within/across split")
    args = parser.parse_args()

    nj_tree(random_matrix(5, 0), list("abcde"))  # scikit-bio's import (seconds) is not timed
    print(f"{'n':>5} {'mode':>8} {'quartets':>12} {'NJ s':>7} {'GQD s':>7} "
          f"{'null s':>8} {'GQD':>7} {'stderr':>8}")
    for n in args.sizes:
        codes = [f"l{k}" for k in range(n)]
        families = [f"f{k % args.families}" for k in range(n)]
        nj_s, inferred = timed(lambda n=n, codes=codes: nj_tree(random_matrix(n, 1), codes),
                               args.repeats)
        reference = nj_tree(random_matrix(n, 2), codes)
        pair = (inferred, reference)
        gqd_s, result = timed(lambda pair=pair, families=families: gqd(
            *pair, families, exact_max=args.exact_max, samples=args.samples), args.repeats)
        null_s = math.nan
        if args.permutations:  # long: timed once
            null_s, _ = timed(lambda pair=pair: gqd_null(
                *pair, args.permutations, exact_max=args.exact_max, samples=args.samples), 1)
        stderr = "-" if result.stderr is None else f"{result.stderr:.5f}"
        print(f"{n:>5} {'exact' if result.exact else 'sampled':>8} {result.examined:>12,} "
              f"{nj_s:>7.2f} {gqd_s:>7.2f} {null_s:>8.1f} {result.gqd:>7.4f} {stderr:>8}",
              flush=True)


if __name__ == "__main__":
    main()
