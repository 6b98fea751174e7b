"""Conditional generation (issue 16): rows generated with `conditions={col: value}` against the real rows that
hold that value. Prints figures.

    python scripts/bench_conditions.py                       # bundled checkpoint, seeds 0 1 2
    python scripts/bench_conditions.py --seeds 0 --checkpoint outputs/<run>/export/tabdiff.safetensors

For each (table, column) case and each of the column's three most frequent values c, the table's rows are split
70/30 (seeded); `TabDiffGenerator` is fitted on all the 70% and asked for as many rows with column == c as the
30% holds, and the new rows are scored against the 30% rows with column == c by
`tabdiff.evaluation.generation.generation_metrics` (the 70% rows with column == c as its `train`): detection
(C2ST AUC, 0.5 = indistinguishable), association difference, KS, and the error of the numeric columns' means in
standard deviations of the whole column ("mean error"; 0 = the real conditional means). References, given the
same rows: `unconditioned` (tabdiff rows without the condition, the condition's column then set to c: what
conditioning has to beat), and a Gaussian copula and a jittered bootstrap fitted on the 70% rows with column == c
(what a user could do by filtering the table first). Medians over cases of seed means.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
CASES = [("diamonds", "cut"), ("diamonds", "color"), ("chile", "vote"), ("chile", "education"), ("pbc", "status")]
METRICS = ["c2st_auc", "assoc_diff", "ks", "mean_error"]


def mean_error(real: pd.DataFrame, synthetic: pd.DataFrame, whole: pd.DataFrame, numeric: list[str]) -> float:
    if not numeric:
        return float("nan")
    gap = (synthetic[numeric].astype(float).mean() - real[numeric].astype(float).mean()).abs()
    return float((gap / whole[numeric].astype(float).std()).mean())


def run_case(table: str, column: str, seed: int, checkpoint: str | None) -> list[dict]:
    from tabdiff import TabDiffGenerator
    from tabdiff.evaluation.generation import generate_baseline, generation_metrics

    frame = pd.read_parquet(ROOT / "data" / "tables" / f"{table}.parquet")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(frame))
    cut = int(0.7 * len(frame))
    train, holdout = frame.iloc[order[:cut]].reset_index(drop=True), frame.iloc[order[cut:]].reset_index(drop=True)
    numeric = [c for c in frame.columns if c != column and pd.api.types.is_numeric_dtype(frame[c])]
    generator = TabDiffGenerator(checkpoint, progress=False, random_state=seed).fit(train)
    rows = []
    for value in train[column].value_counts().index[:3]:
        real_train, real_hold = train[train[column] == value], holdout[holdout[column] == value]
        n = len(real_hold)
        start = time.perf_counter()
        made = {"tabdiff": generator.sample(n, conditions={column: value})}
        seconds = time.perf_counter() - start
        unconditioned = generator.sample(n)
        unconditioned[column] = pd.Series([value] * n, dtype=frame[column].dtype)
        made["unconditioned"] = unconditioned
        for name in ("copula", "bootstrap"):
            made[name] = generate_baseline(name, real_train, n, seed=seed)
        for method, synthetic in made.items():
            scores = generation_metrics(real_train, real_hold, synthetic[frame.columns], seed=seed)
            rows.append(
                {
                    "case": f"{table}:{column}={value}",
                    "seed": seed,
                    "method": method,
                    "n": n,
                    "c2st_auc": scores["c2st_auc"],
                    "assoc_diff": scores["assoc_diff"],
                    "ks": scores["ks"],
                    "mean_error": mean_error(real_hold, synthetic, frame, numeric),
                    "seconds": seconds if method == "tabdiff" else float("nan"),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--checkpoint", default=None, help="default: the bundled checkpoint")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cases", nargs="+", default=None, help="table:column pairs (default: five bundled cases)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    cases = [tuple(c.split(":", 1)) for c in args.cases] if args.cases else CASES
    rows = []
    for seed in args.seeds:
        for table, column in cases:
            start = time.perf_counter()
            rows += run_case(table, column, seed, args.checkpoint)
            print(f"seed {seed} {table}:{column} {time.perf_counter() - start:.0f} s", flush=True)
    results = pd.DataFrame(rows)
    per_case = results.groupby(["case", "method"])[[*METRICS, "n"]].mean().reset_index()
    wide = per_case.pivot(index="case", columns="method", values="c2st_auc")
    print("\nC2ST AUC per case (seed means; 0.5 = indistinguishable from the real rows with that value):")
    print(wide.round(3).to_string())
    summary = per_case.groupby("method")[METRICS].median()
    summary["c2st below copula"] = [
        f"{int((wide[m] < wide['copula']).sum())}/{len(wide)}" if m != "copula" else "-" for m in summary.index
    ]
    print("\nMedians over cases:")
    print(summary.round(3).to_string())
    print(f"\ntabdiff seconds per conditioned sample (median): {results['seconds'].median():.1f}")


if __name__ == "__main__":
    main()
