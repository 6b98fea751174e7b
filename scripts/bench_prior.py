"""Benchmark the synthetic prior: tables/s and cells/s of PriorSampler, single process, and whether it
keeps up with training: one encoded stream batch against one training step of the `small` model.

    python scripts/bench_prior.py                       # conf/prior/default.yaml and large.yaml
    python scripts/bench_prior.py --configs default --seconds 5 --batch-size 32 --train-steps 10

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


def bench_against_training(batch_size: int, steps: int, seed: int) -> dict:
    """Median ms of one encoded stream batch (prior draw + encoding) and one small-model training step on it."""
    import torch

    from tabdiff.data.stream import PretrainStream
    from tabdiff.diffusion import GaussianDiffusion
    from tabdiff.training.module import TabDiffusionModule

    sampler = instantiate(OmegaConf.load(CONF_DIR / "default.yaml"))
    model = instantiate(OmegaConf.load(CONF_DIR.parent / "model" / "small.yaml"))
    module = TabDiffusionModule(model, GaussianDiffusion(1000, "cosine", learn_variance=True, prediction="x0"))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    stream = PretrainStream(sampler, [], batch_size=batch_size, seed=seed)
    data_ms, step_ms = [], []
    for i in range(steps + 1):
        start = time.perf_counter()
        batch = stream.batch(i)
        data_ms.append(1e3 * (time.perf_counter() - start))
        start = time.perf_counter()
        loss = module.batch_losses(batch, torch.Generator().manual_seed(i))["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        step_ms.append(1e3 * (time.perf_counter() - start))
    return {"data_ms": float(np.median(data_ms[1:])), "step_ms": float(np.median(step_ms[1:]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["default", "large"], help="names under conf/prior/")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0, help="wall time per config")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--train-steps", type=int, default=10, help="steps of the data-vs-training comparison (0: skip)"
    )
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

    if args.train_steps:
        r = bench_against_training(args.batch_size, args.train_steps, args.seed)
        print(
            f"\nbatch of {args.batch_size} (default prior): drawing + encoding {r['data_ms']:.0f} ms, "
            f"small-model training step {r['step_ms']:.0f} ms (median of {args.train_steps}): "
            f"data is {r['data_ms'] / r['step_ms']:.0%} of a step"
        )


if __name__ == "__main__":
    main()
