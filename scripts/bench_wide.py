"""A large, wide low-rank table (issue 12's bar): tabdiff vs KNN and the mean, nRMSE and wall time. Prints figures.

    python scripts/bench_wide.py                                    # 10,000 x 100, rank 8, 30% MCAR, bundled checkpoint
    python scripts/bench_wide.py --rows 2000 --cols 40 --checkpoint outputs/cpu_medium/export/tabdiff.safetensors
    python scripts/bench_wide.py --contexts nearest                 # tabdiff with nearest context rows only
    python scripts/bench_wide.py --adapt-steps 0 60                 # zero-shot and adapted to the table (60 steps)

The table is Z @ W (Z: rows x rank, W: rank x cols, standard normal) plus noise of 0.1 of a column's sd; nRMSE
is the RMSE over the hidden cells with each column scaled by its sd (column means score about 1.0). Times are
wall-clock on a machine that may be shared: quote them with the machine's load.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.impute import KNNImputer


def low_rank_table(rows: int, cols: int, rank: int, rate: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    truth = rng.standard_normal((rows, rank)) @ rng.standard_normal((rank, cols))
    truth += 0.1 * truth.std(axis=0) * rng.standard_normal(truth.shape)
    frame = pd.DataFrame(truth, columns=[f"c{j}" for j in range(cols)])
    hidden = rng.random(truth.shape) < rate
    hidden[0] = False  # every column keeps an observed cell
    return frame, frame.mask(hidden)


def nrmse(truth: pd.DataFrame, given: pd.DataFrame, filled: pd.DataFrame) -> float:
    hidden = given.isna().to_numpy()
    error = (filled.to_numpy() - truth.to_numpy()) / truth.to_numpy().std(axis=0)
    return float(np.sqrt(np.mean(error[hidden] ** 2)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--cols", type=int, default=100)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--rate", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", default=None, help="default: the bundled checkpoint")
    parser.add_argument("--n-ensemble", type=int, default=4)
    parser.add_argument("--max-rows", type=int, default=512, help="tabdiff's rows per chunk")
    parser.add_argument("--adapt-steps", type=int, nargs="+", default=[0],
                        help="tabdiff's per-table adaptation steps (0: zero-shot); one row of figures each")  # fmt: skip
    parser.add_argument("--contexts", nargs="+", default=["random", "nearest"], choices=["random", "nearest"],
                        help="tabdiff's context choice for the row chunks (one row of figures each)")  # fmt: skip
    args = parser.parse_args()

    from tabdiff import TabDiffImputer

    truth, given = low_rank_table(args.rows, args.cols, args.rank, args.rate, args.seed)
    print(f"{args.rows} x {args.cols}, rank {args.rank}, {args.rate:.0%} MCAR ({int(given.isna().sum().sum())} cells)")
    methods = {
        "mean": lambda: given.fillna(given.mean()),
        "knn": lambda: pd.DataFrame(KNNImputer(n_neighbors=5).fit_transform(given), columns=given.columns),
    }
    for context in args.contexts:
        for steps in args.adapt_steps:
            name = f"tabdiff-{context}" + (f"-adapt{steps}" if steps else "")
            methods[name] = lambda context=context, steps=steps: TabDiffImputer(
                args.checkpoint, n_ensemble=args.n_ensemble, max_rows=args.max_rows, context=context, progress=False,
                adapt_steps=steps, random_state=args.seed,
            ).fit_transform(given)  # fmt: skip
    print(f"{'method':<24}{'nRMSE':>8}{'wall s':>9}")
    for name, run in methods.items():
        start = time.perf_counter()
        filled = run()
        print(f"{name:<24}{nrmse(truth, given, filled):>8.3f}{time.perf_counter() - start:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
