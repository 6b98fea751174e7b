"""Benchmark generation: seconds to make N new rows of a C-column table with TabDiffGenerator, per start and with
`target=` (the last column redrawn given each new row), next to the Gaussian copula baseline, in one process
(issue 16's target: 1,000 rows of a 20-column table in under a minute).

    python scripts/bench_generate.py                          # 1,000 new rows, 20 columns (4 categorical), 500 real rows
    python scripts/bench_generate.py --rows 5000 --cols 40 --threads 2 --repeats 3

The table has a rank-4 latent structure plus noise; medians over --repeats runs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch


def make_table(n_real: int, n_cols: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n_real, 4))
    values = z @ rng.normal(size=(4, n_cols)) + 0.3 * rng.normal(size=(n_real, n_cols))
    frame = pd.DataFrame(values, columns=[f"c{j}" for j in range(n_cols)])
    for j in range(min(4, n_cols)):  # a few categorical columns
        frame[f"c{j}"] = pd.cut(frame[f"c{j}"], 4, labels=list("abcd")).astype(str)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1000, help="new rows")
    parser.add_argument("--cols", type=int, default=20)
    parser.add_argument("--real", type=int, default=500, help="rows of the fitted table")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from tabdiff.evaluation.generation import generate_baseline
    from tabdiff.inference.generator import TabDiffGenerator

    table = make_table(args.real, args.cols)
    print(
        f"{args.rows} new rows x {args.cols} columns from {args.real} real rows; torch threads {torch.get_num_threads()}"
    )
    timings = {}
    label = table.columns[-1]  # a numeric column, as a label to train on (`target`: one more sampler run)
    for name, kwargs in (
        ("start=rows", {"start": "rows"}),
        ("start=blank", {"start": "blank"}),
        (f"rows, target={label}", {"start": "rows", "target": label}),
    ):
        runs = []
        for repeat in range(args.repeats):
            begin = time.perf_counter()
            generator = TabDiffGenerator(**kwargs, device=args.device, progress=False, random_state=repeat)
            generator.fit(table).sample(args.rows)
            runs.append(time.perf_counter() - begin)
        timings[f"tabdiff {name}"] = float(np.median(runs))
    runs = []
    for repeat in range(args.repeats):
        begin = time.perf_counter()
        generate_baseline("copula", table, args.rows, seed=repeat)
        runs.append(time.perf_counter() - begin)
    timings["gaussian copula"] = float(np.median(runs))
    for name, seconds in timings.items():
        print(f"{name:<26} {seconds:8.1f} s   ({args.rows / seconds:,.0f} rows/s)")


if __name__ == "__main__":
    main()
