"""Training throughput of a recipe with one process and with DDP over 2 CPU processes (gloo).

    python scripts/bench_train.py [--experiment cpu_small] [--steps 80] [--engines reference batched] [--no-ddp]
    python scripts/bench_train.py --experiment gpu_small --no-ddp --without-data   # with and without the data cost
    python scripts/bench_train.py --experiment gpu_small --no-ddp --without-data --set prior=large data.batch_size=32

Runs the real `tabdiff-pretrain` (Lightning, the recipe's data stream included) for `--steps` steps per
setting and prints the mean of the `perf/tables_per_s` / `perf/cells_per_s` windows the TableThroughput
callback logged (all ranks together). One process uses 2 threads; each DDP process 1 (2 cores here).
`--engines` runs each setting once per prior engine (`prior.engine=...`: the per-table numpy reference or the
batched tensor prior), so the two can be compared in one run on the same machine. `--without-data` adds a run per
setting on the same `--steps` batches drawn before training starts (`data.repeat_batches`): the training step
inside Lightning without the data pipeline, so "stream" vs "drawn" says whether the data or the step bounds the
recipe.
`--set` passes further Hydra overrides to every run (e.g. `trainer=gpu`, which gpu experiments already set).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(
    experiment: str, steps: int, ddp: bool, out: Path, engine: str | None = None, extra: list[str] | None = None
) -> dict[str, float]:
    overrides = [
        f"experiment={experiment}",
        *([f"prior.engine={engine}"] if engine else []),
        *(extra or []),
        f"output_dir={out}",
        f"trainer.max_steps={steps}",
        f"trainer.val_check_interval={steps}",
        "trainer.enable_progress_bar=false",
        "trainer.log_every_n_steps=10",
        "callbacks.zero_shot=null",
        "callbacks.model_checkpoint=null",
        "callbacks.throughput.window=10",
        "data.val_batches=1",
        "export_path=null",
    ]
    if ddp:
        overrides.append("trainer=ddp_cpu")
    env = {**os.environ, "OMP_NUM_THREADS": "1" if ddp else "2", "PYTHONWARNINGS": "ignore"}
    subprocess.run([sys.executable, str(ROOT / "scripts" / "pretrain.py"), *overrides], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    rows = list(csv.DictReader(open(next(out.glob("csv/version_*/metrics.csv")))))
    tables = [float(r["perf/tables_per_s"]) for r in rows if r.get("perf/tables_per_s")]
    cells = [float(r["perf/cells_per_s"]) for r in rows if r.get("perf/cells_per_s")]
    return {"tables_per_s": sum(tables) / len(tables), "cells_per_s": sum(cells) / len(cells), "windows": len(tables)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", default="cpu_small")
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--engines", nargs="+", default=[None], help="prior engines to compare (default: the config's)")
    parser.add_argument("--no-ddp", action="store_true", help="only the one-process setting")
    parser.add_argument("--without-data", action="store_true",
                        help="also time each setting on the same batches drawn before training (no data cost)")  # fmt: skip
    parser.add_argument("--set", nargs="+", default=[], metavar="OVERRIDE", help="more Hydra overrides for every run")
    args = parser.parse_args()
    settings = [("1 process", False)] + ([] if args.no_ddp else [("DDP, 2 CPU processes", True)])
    data = [("stream", [])] + ([("drawn", [f"data.repeat_batches={args.steps}"])] if args.without_data else [])
    print(f"{'setting':<22}{'prior':<11}{'data':<10}{'tables/s':>10}{'cells/s':>12}{'windows':>9}")
    for name, ddp in settings:
        for engine in args.engines:
            for data_name, data_overrides in data:
                with tempfile.TemporaryDirectory() as tmp:
                    r = run(args.experiment, args.steps, ddp, Path(tmp), engine, [*args.set, *data_overrides])
                label = engine or "config"
                print(
                    f"{name:<22}{label:<11}{data_name:<10}{r['tables_per_s']:>10.1f}{r['cells_per_s']:>12,.0f}"
                    f"{r['windows']:>9}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
