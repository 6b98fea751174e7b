"""Benchmark the synthetic prior: tables/s and cells/s of PriorSampler, single process.

    python scripts/bench_prior.py                       # conf/prior/default.yaml and large.yaml
    python scripts/bench_prior.py --configs default --seconds 5 --batch-size 32

(run from the repository root after `pip install -e .`, or with PYTHONPATH=.)

Each config draws whole batches (one shared shape per batch, as the DataModule does) for about
`--seconds` of wall time after one warm-up batch. The sampler holds numpy's BLAS to
`blas_threads` (1 by default) while drawing; see PriorSampler.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import numpy as np
from hydra.utils import instantiate
from omegaconf import OmegaConf

CONF_DIR = Path(__file__).resolve().parents[1] / "conf" / "prior"


def bench(name: str, batch_size: int, seconds: float, seed: int) -> dict:
    sampler = instantiate(OmegaConf.load(CONF_DIR / f"{name}.yaml"))
    rng = np.random.default_rng(seed)
    sampler.sample_batch(rng, batch_size)  # warm-up: imports, first-call overheads
    n_tables = n_cells = 0
    families: Counter[str] = Counter()
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for t in sampler.sample_batch(rng, batch_size):
            n_tables += 1
            n_cells += t.values.size
            families[t.family] += 1
    elapsed = time.perf_counter() - start
    return {
        "config": name,
        "tables": n_tables,
        "tables_per_s": n_tables / elapsed,
        "cells_per_s": n_cells / elapsed,
        "mean_cells": n_cells / n_tables,
        "ms_per_batch": 1e3 * elapsed * batch_size / n_tables,
        "families": ", ".join(f"{k} {v / n_tables:.2f}" for k, v in sorted(families.items())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["default", "large"], help="names under conf/prior/")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0, help="wall time per config")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rows = [bench(name, args.batch_size, args.seconds, args.seed) for name in args.configs]
    header = f"{'config':<10}{'tables':>8}{'tables/s':>11}{'cells/s':>13}{'mean cells':>12}{'ms/batch':>10}  families"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['config']:<10}{r['tables']:>8}{r['tables_per_s']:>11.1f}{r['cells_per_s']:>13,.0f}"
            f"{r['mean_cells']:>12.0f}{r['ms_per_batch']:>10.1f}  {r['families']}"
        )


if __name__ == "__main__":
    main()
