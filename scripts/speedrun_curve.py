"""A recipe's learning curve by steps: experiment=speedrun for a fixed number of steps, scored every few steps.

The speedrun (scripts/speedrun.py) judges a recipe at a wall-time budget with one point at its end. This draws the
curve behind it, cheaply: every `--every` steps the training-time validation (`TransferValidation`, with the EMA
weights) imputes the first held-out tables (30% MCAR, capped rows) and runs the linear in-context probe at 256 rows,
so that recipes trained side by side (one thread each) compare at equal steps whatever the machine's load.

    python scripts/speedrun_curve.py --steps 600 --every 150 --out outputs/curve-base
    python scripts/speedrun_curve.py --steps 600 --every 150 --out outputs/curve-a -- 'prior.rows=[32,256]' \
        data.batch_size=16 module.p_top_t=0.8 module.vb_weight=0.01

Prints one line per validation: step, `val/zs_nrmse` (median nRMSE of the network alone over the tables), and
`val/icl_r2_share` (its R^2 over Ridge's); the cosine decays over `--steps`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from tabdiff.speedrun import speedrun_config
from tabdiff.training.train import train

COLUMNS = ["step", "val/zs_nrmse", "val/icl_r2_share"]


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Train and validate per `argv`; prints and returns the curve (one row per validation)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600, help="training steps (the cosine ends there)")
    parser.add_argument("--every", type=int, default=150, help="steps between validations")
    parser.add_argument("--out", required=True, help="the run's folder (CSV metrics, export)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: two recipes side by side)")
    parser.add_argument("--tables", type=int, default=8, help="held-out tables imputed at each validation")
    parser.add_argument("--max-rows", type=int, default=300, help="rows of each held-out table (a random subset)")
    parser.add_argument("--probe-rows", type=int, default=256, help="context rows of the linear ICL probe")
    parser.add_argument("--probe-tables", type=int, default=4, help="linear probe tables")
    parser.add_argument("--ema", type=float, default=0.99, help="EMA decay of the validated weights")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of experiment=speedrun (after --)")
    args = parser.parse_args(argv)

    out = Path(args.out)
    validation = (f"callbacks.zero_shot={{_target_: tabdiff.evaluation.validation.TransferValidation, "
                  f"max_tables: {args.tables}, max_rows: {args.max_rows}, probe_rows: {args.probe_rows}, "
                  f"probe_tables: {args.probe_tables}}}")  # fmt: skip
    cfg = speedrun_config(minutes=600, seed=args.seed, out=out, threads=args.threads, overrides=[
        f"trainer.max_steps={args.steps}", "trainer.max_time=null", f"trainer.val_check_interval={args.every}",
        "trainer.limit_val_batches=1", "module.decay_minutes=null", f"module.decay_steps={args.steps}",
        validation, f"callbacks.ema.decay={args.ema}", *args.overrides,
    ])  # fmt: skip
    start = time.perf_counter()
    train(cfg)
    metrics = pd.read_csv(sorted(out.rglob("metrics.csv"))[-1])
    curve = metrics[[c for c in COLUMNS if c in metrics]].dropna(subset=["val/zs_nrmse"])
    print(curve.to_string(index=False))
    print(f"wall {time.perf_counter() - start:.0f} s, {args.threads} thread(s)")
    return curve


if __name__ == "__main__":
    main()
