"""Benchmark multiple imputation: seconds for `TabDiffImputer().sample(X, n)` with the defaults (draws by the
conditional sampler, centred on the one-pass point) next to the one-pass point itself (`transform`), in one process
(issue 42's target: 20 draws of a 400 x 10 table in at most 10 s on 2 CPU threads).

    python scripts/bench_draws.py                         # 400 x 10 synthetic table, 20% MCAR, 20 draws, 2 threads
    python scripts/bench_draws.py --table diabetes        # a bundled table (20% of its observed cells hidden)
    python scripts/bench_draws.py --steps 20 --repeats 1  # also the conditional sampler at 20 steps, for comparison

The synthetic table has a rank-3 latent structure plus noise. Each timing is the median of --repeats runs after one
untimed warm-up; wall and process CPU seconds are printed (CPU / wall near the threads when the machine is not
shared), with the load average, since a busy machine slows every figure.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch


def synthetic_table(n_rows: int, n_cols: int, missing: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n_rows, 3))
    values = z @ rng.normal(size=(3, n_cols)) + 0.5 * rng.normal(size=(n_rows, n_cols))
    values[rng.random(values.shape) < missing] = np.nan
    return pd.DataFrame(values, columns=[f"c{j}" for j in range(n_cols)])


def bundled_table(name: str, missing: float, seed: int = 0) -> pd.DataFrame:
    from tabdiff.data.manifest import bundled_tables

    tables = {t.name: t for t in bundled_tables("all")}
    if name not in tables:
        raise SystemExit(f"no bundled table {name!r}; choose from {sorted(tables)}")
    frame = tables[name].load()
    hide = np.random.default_rng(seed).random(frame.shape) < missing
    return frame.mask(hide)


def timed(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(median wall seconds, median process CPU seconds) of `repeats` runs after one warm-up run."""
    run()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        run()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return float(np.median(walls)), float(np.median(cpus))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--cols", type=int, default=10)
    parser.add_argument("--missing", type=float, default=0.2, help="share of cells hidden (MCAR)")
    parser.add_argument("--table", help="a bundled table instead of the synthetic one")
    parser.add_argument("--draws", type=int, default=20, help="imputations per sample() call")
    parser.add_argument(
        "--steps", type=int, nargs="*", default=[], help="also time sampler='conditional' at these steps"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from tabdiff import TabDiffImputer, load_pretrained
    from tabdiff.inference.inpaint import DRAW_STEPS

    checkpoint = load_pretrained(device=args.device)
    table = (
        bundled_table(args.table, args.missing) if args.table else synthetic_table(args.rows, args.cols, args.missing)
    )
    name = args.table or "synthetic"
    print(
        f"{name}: {table.shape[0]} x {table.shape[1]}, {int(table.isna().sum().sum())} missing cells; "
        f"{args.draws} draws; torch threads {torch.get_num_threads()}; load average {os.getloadavg()[0]:.2f}"
    )
    imputer = TabDiffImputer(checkpoint, device=args.device, progress=False, random_state=0).fit(table)
    rows = [("one-pass point (transform)", *timed(lambda: imputer.transform(table), args.repeats))]
    rows.append(
        (f"draws, defaults (auto: {DRAW_STEPS} steps)", *timed(lambda: imputer.sample(table, args.draws), args.repeats))
    )
    for steps in args.steps:
        explicit = TabDiffImputer(checkpoint, sampler="conditional", n_steps=steps, device=args.device,
                                  progress=False, random_state=0).fit(table)  # fmt: skip
        rows.append(
            (f"draws, conditional {steps} steps", *timed(lambda m=explicit: m.sample(table, args.draws), args.repeats))
        )
    for label, wall, cpu in rows:
        print(f"{label:<34} {wall:7.2f} s wall {cpu:7.2f} s CPU")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. identifier columns of a bundled table
        main()
