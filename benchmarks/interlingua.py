"""Time and memory of the ILO scoring of one layer, on synthetic points of a chosen size.

The scoring (blocked cosine kNN with translation retrieval, Bridge/Reach/ILO, the shuffled
control, the representation distance) of ``--languages`` × ``--units`` Gaussian points of
``--dim`` dimensions; the Gaussian control is the same computation again. Prints medians over
``--repeats`` of wall seconds and the peak resident memory above the level before the call
(sampled from /proc: Linux). The cost grows as ``(languages · units)² · dim``.

    python benchmarks/interlingua.py                         # 59 × 60 × 640: the default
    python benchmarks/interlingua.py --languages 440 --repeats 1   # the UDHR-wide scale
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from hamming import PeakRss  # benchmarks/ is on the path when a benchmark runs
from langgeo.studies.interlingua import BLOCK_ROWS, layer_scores, representation_distances


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--languages", type=int, default=59)
    parser.add_argument("--units", type=int, default=60)
    parser.add_argument("--dim", type=int, default=640)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--t", type=int, default=3)
    parser.add_argument("--block-rows", type=int, default=BLOCK_ROWS)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    points = np.random.default_rng(0).standard_normal(
        (args.languages, args.units, args.dim), dtype=np.float32)
    walls, peaks = [], []
    for _ in range(args.repeats):
        with PeakRss() as rss:
            start = time.perf_counter()
            layer_scores(points, args.k, args.t, 0, args.block_rows)
            representation_distances(points)
            walls.append(time.perf_counter() - start)
        peaks.append(rss.extra)
    print(json.dumps({"languages": args.languages, "units": args.units, "dim": args.dim,
                      "points": args.languages * args.units, "block_rows": args.block_rows,
                      "input_mb": round(points.nbytes / 2**20, 1),
                      "wall_s_median": round(statistics.median(walls), 3),
                      "walls_s": [round(w, 3) for w in walls],
                      "peak_extra_rss_mb_median": round(statistics.median(peaks) / 2**20, 1)}))


if __name__ == "__main__":
    main()
