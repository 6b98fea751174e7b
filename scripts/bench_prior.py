"""Benchmark the synthetic prior, one process: tables/s of each engine alone, with encoding, and against training.

    python scripts/bench_prior.py                                   # default + large priors, both engines, CPU
    python scripts/bench_prior.py --configs default --engines batched --batch-sizes 32 128 --device cuda

(run from the repository root after `pip install -e .`, or with PYTHONPATH=.)

1. prior alone: whole batches (one shared shape per batch, as the DataModule draws them) for about
   `--seconds` of wall time per engine after a warm-up batch, the same sequence of shapes for every engine,
   interleaved batch by batch so that a shared machine's drift hits all engines alike; `reference` is the
   per-table numpy PriorSampler, `batched` the tensor BatchedPrior on `--device`. "vs <first engine>" is the
   median over batches of the first engine's time / this engine's on the same shape (the robust speed-up).
2. prior + encoding: the pretraining stream's batches (`PretrainStream.batch`, no real tables), i.e. what a
   data worker hands the trainer.
3. data vs training: median ms of one stream batch and of one training step of the `small` model on it
   (on `--device`), so you can see whether the model or the data bounds a run.

Like `tabdiff-pretrain`, the process first sets glibc malloc to keep freed memory (`tabdiff/allocator.py`);
`--system-malloc` leaves the defaults, to see what that setting gives.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tabdiff.allocator import keep_freed_memory

CONF_DIR = Path(__file__).resolve().parents[1] / "conf" / "prior"


def make_prior(name: str, engine: str, device: str):
    cfg = OmegaConf.load(CONF_DIR / f"{name}.yaml")
    cfg.engine, cfg.device = engine, device if engine == "batched" else "cpu"
    return instantiate(cfg)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def shape_stream(prior, seed: int):
    """The same sequence of batch shapes for every engine (drawn from the config's ranges by the reference's
    rule), so that engines are compared on equal tables: one batch of 1,024 x 64 costs as much as hundreds of
    small ones, and a 10-second window holds only a few large batches."""
    from tabdiff.prior.draws import log_uniform_int

    rng, cfg = np.random.default_rng([seed, 1]), prior.config
    while True:
        yield log_uniform_int(rng, *cfg.rows), log_uniform_int(rng, *cfg.cols)


def _draw_batch(prior, rng: np.random.Generator, batch_size: int, rows: int, cols: int) -> tuple[int, int, list]:
    """One batch of a fixed shape -> (tables, cells, family names); tensors stay on the device, as the stream
    uses them."""
    from tabdiff.prior.batched.sampler import FAMILIES

    draw = getattr(prior, "sample_tensors", None)
    if draw is not None:
        batch = draw(rng, batch_size, rows, cols)
        return batch.values.shape[0], batch.values.numel(), [FAMILIES[k] for k in batch.family.tolist()]
    tables = prior.sample_batch(rng, batch_size, rows, cols)
    return len(tables), sum(t.values.size for t in tables), [t.family for t in tables]


def bench_priors(priors: dict, batch_size: int, seconds: float, seed: int, device: str) -> dict[str, dict]:
    """Every engine on the same sequence of batch shapes, interleaved batch by batch (the order alternating), for
    about `seconds` per engine after a warm-up batch each. A shared machine's speed drifts by tens of percent within
    a minute; interleaving puts both engines under the same drift, so their ratio holds even when the absolute
    tables/s do not. Returns per engine tables/s, cells/s, mean cells, family shares and `ratio`, the median over
    batches of (first engine's seconds / this engine's) on the same shape."""
    for prior in priors.values():
        prior.sample_batch(np.random.default_rng(seed), batch_size)  # warm-up: imports, first-call overheads
    names = list(priors)
    stats = {name: {"tables": 0, "cells": 0, "seconds": 0.0, "families": Counter()} for name in names}
    per_batch: dict[str, list[float]] = {name: [] for name in names}
    shapes = shape_stream(next(iter(priors.values())), seed)
    i = 0
    while min(s["seconds"] for s in stats.values()) < seconds:
        rows, cols = next(shapes)
        for name in names if i % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            tables, cells, families = _draw_batch(
                priors[name], np.random.default_rng([seed, 2, i]), batch_size, rows, cols
            )
            _sync(device)
            elapsed = time.perf_counter() - start
            s = stats[name]
            s["tables"], s["cells"], s["seconds"] = s["tables"] + tables, s["cells"] + cells, s["seconds"] + elapsed
            s["families"].update(families)
            per_batch[name].append(elapsed)
        i += 1
    out = {}
    for name, s in stats.items():
        shares = {k: v / s["tables"] for k, v in s["families"].items()}
        out[name] = {
            "tables_per_s": s["tables"] / s["seconds"],
            "cells_per_s": s["cells"] / s["seconds"],
            "mean_cells": s["cells"] / s["tables"],
            "families": ", ".join(f"{k} {v:.2f}" for k, v in sorted(shares.items())),
            "ratio": float(np.median(np.array(per_batch[names[0]]) / np.array(per_batch[name]))),
        }
    return out


def bench_stream(prior, batch_size: int, seconds: float, seed: int, device: str) -> dict:
    from tabdiff.data.stream import PretrainStream

    stream = PretrainStream(prior, [], batch_size=batch_size, seed=seed)
    stream.batch(0)
    n_tables, n_cells, i = 0, 0, 1
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        batch = stream.batch(i)
        n_tables += batch.shape[0]
        n_cells += batch.shape[0] * batch.shape[1] * batch.shape[2]
        i += 1
    _sync(device)
    elapsed = time.perf_counter() - start
    return {"tables_per_s": n_tables / elapsed, "cells_per_s": n_cells / elapsed}


def bench_against_training(prior, batch_size: int, steps: int, seed: int, device: str, bf16: bool = False) -> dict:
    """Median ms of one encoded stream batch and one small-model training step on it (on `device`; with `bf16`
    the forward pass under bfloat16 autocast, as `trainer=gpu`'s precision=bf16-mixed runs it)."""
    from tabdiff.data.stream import PretrainStream
    from tabdiff.diffusion import GaussianDiffusion
    from tabdiff.training.module import TabDiffusionModule

    model = instantiate(OmegaConf.load(CONF_DIR.parent / "model" / "small.yaml")).to(device)
    module = TabDiffusionModule(model, GaussianDiffusion(1000, "cosine", learn_variance=True, prediction="x0"))
    module.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    stream = PretrainStream(prior, [], batch_size=batch_size, seed=seed)
    data_ms, step_ms = [], []
    for i in range(steps + 1):
        start = time.perf_counter()
        batch = stream.batch(i).to(device)
        _sync(device)
        data_ms.append(1e3 * (time.perf_counter() - start))
        start = time.perf_counter()
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            loss = module.batch_losses(batch, torch.Generator(device=device).manual_seed(i))["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        _sync(device)
        step_ms.append(1e3 * (time.perf_counter() - start))
    return {"data_ms": float(np.median(data_ms[1:])), "step_ms": float(np.median(step_ms[1:]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", default=["default", "large"], help="names under conf/prior/")
    parser.add_argument("--engines", nargs="+", default=["reference", "batched"], choices=["reference", "batched"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[32])
    parser.add_argument("--device", default="cpu", help="where the batched prior and the training step run")
    parser.add_argument("--seconds", type=float, default=10.0, help="wall time per measurement")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--train-steps", type=int, default=10, help="steps of the data-vs-training comparison (0: skip)"
    )
    parser.add_argument("--bf16", action="store_true", help="training steps under bfloat16 autocast (bf16-mixed)")
    parser.add_argument(
        "--system-malloc",
        action="store_true",
        help="leave glibc malloc at its defaults (pretraining sets keep_freed_memory: tabdiff/allocator.py)",
    )
    args = parser.parse_args()
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device.replace("auto", "cpu")
    tuned = not args.system_malloc and keep_freed_memory()
    print(
        f"device {device}, torch threads {torch.get_num_threads()}, malloc {'keeps freed memory' if tuned else 'defaults'}"
    )

    first = args.engines[0]
    header = (
        f"{'config':<9}{'engine':<11}{'batch':>6}{'prior tables/s':>16}{'vs ' + first:>14}{'+encoding':>11}"
        f"{'cells/s':>13}{'mean cells':>11}  families"
    )
    print(header)
    print("-" * len(header))
    for name in args.configs:
        priors = {engine: make_prior(name, engine, device) for engine in args.engines}
        for bs in args.batch_sizes:
            results = bench_priors(priors, bs, args.seconds, args.seed, device)
            for engine, r in results.items():
                s = bench_stream(priors[engine], bs, args.seconds, args.seed, device)
                print(
                    f"{name:<9}{engine:<11}{bs:>6}{r['tables_per_s']:>16.1f}{r['ratio']:>13.2f}x{s['tables_per_s']:>11.1f}"
                    f"{r['cells_per_s']:>13,.0f}{r['mean_cells']:>11.0f}  {r['families']}",
                    flush=True,
                )

    if args.train_steps:
        print()
        for engine in args.engines:
            for bs in args.batch_sizes:
                r = bench_against_training(
                    make_prior("default", engine, device), bs, args.train_steps, args.seed, device, bf16=args.bf16
                )
                print(
                    f"default prior, {engine}, batch of {bs}: data {r['data_ms']:.0f} ms, small-model training step "
                    f"{r['step_ms']:.0f} ms on {device}{' (bf16)' if args.bf16 else ''} (medians of {args.train_steps}): data is "
                    f"{r['data_ms'] / r['step_ms']:.0%} of a step",
                    flush=True,
                )


if __name__ == "__main__":
    main()
