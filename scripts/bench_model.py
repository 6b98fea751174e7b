"""Benchmark the table denoiser: forward+backward time and peak memory per table shape.

    python scripts/bench_model.py                       # small preset, CPU, 2 threads
    python scripts/bench_model.py --device cuda --preset base --shapes 512x64 2048x64

(run from the repository root after `pip install -e .`, or with PYTHONPATH=.)

Each shape runs in a fresh subprocess, so one shape's memory high-water mark cannot hide another's.
Peak memory on CPU is the growth of the process's ru_maxrss during the timed steps over its value
after imports, model construction and input creation; on CUDA it is max_memory_allocated over the
memory allocated before the first step.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

CONF_DIR = Path(__file__).resolve().parents[1] / "conf" / "model"
PRESETS = ("tiny", "small", "base")


def build(preset: str, device: str) -> torch.nn.Module:
    return instantiate(OmegaConf.load(CONF_DIR / f"{preset}.yaml")).to(device)


def make_batch(batch_size: int, n_rows: int, n_cols: int, n_channels: int, device: str) -> dict:
    """Random conditional inputs: ~20% categorical columns, half of the cells known."""
    gen = torch.Generator().manual_seed(0)
    B, R, C, K = batch_size, n_rows, n_cols, n_channels
    column_kind = (torch.rand(B, C, generator=gen) < 0.2).long()
    n_used = torch.where(column_kind == 1, torch.randint(2, K + 1, (B, C), generator=gen), 1)
    known_mask = torch.rand(B, R, C, generator=gen) < 0.5
    batch = dict(
        x_t=torch.randn(B, R, C, K, generator=gen),
        t=torch.randint(0, 1000, (B,), generator=gen),
        known_mask=known_mask,
        x_known=torch.randn(B, R, C, K, generator=gen),
        channel_mask=torch.arange(K) < n_used[..., None],
        column_kind=column_kind,
    )
    return {name: value.to(device) for name, value in batch.items()}


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def worker(args: argparse.Namespace) -> None:
    """Time one shape; print one JSON line."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    n_rows, n_cols = map(int, args.shape.split("x"))
    model = build(args.preset, args.device).train()
    batch = make_batch(args.batch_size, n_rows, n_cols, model.config.n_channels, args.device)
    cuda = args.device.startswith("cuda")

    def step() -> None:
        inputs = dict(batch)
        out = model(inputs.pop("x_t"), inputs.pop("t"), **inputs)
        out.square().mean().backward()
        model.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()

    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base_mem = torch.cuda.memory_allocated() / 2**20
    else:
        base_mem = max_rss_mib()
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    peak = (torch.cuda.max_memory_allocated() / 2**20 if cuda else max_rss_mib()) - base_mem
    print(json.dumps(dict(shape=args.shape, median_s=statistics.median(times), peak_mib=peak)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="small", choices=PRESETS)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--shapes", nargs="+", default=["128x16", "512x16", "512x64"], help="ROWSxCOLS")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shape", help=argparse.SUPPRESS)  # set in the per-shape subprocess
    args = parser.parse_args()
    if args.shape:
        worker(args)
        return

    print("parameters:")
    for preset in PRESETS:
        with torch.device("meta"):  # count without allocating
            n = build(preset, "meta").n_parameters()
        print(f"  {preset:<6} {n:>12,}")
    print(
        f"\n{args.preset} preset, forward+backward, batch size {args.batch_size}, device {args.device}, "
        f"{args.threads} threads, median of {args.repeats} after {args.warmup} warm-up"
    )
    print(f"{'rows x cols':>12} {'time (ms)':>10} {'peak mem (MiB)':>15}")
    common = [
        f"--preset={args.preset}",
        f"--device={args.device}",
        f"--batch-size={args.batch_size}",
        f"--threads={args.threads}",
        f"--warmup={args.warmup}",
        f"--repeats={args.repeats}",
    ]
    for shape in args.shapes:
        proc = subprocess.run([sys.executable, __file__, f"--shape={shape}", *common], capture_output=True, text=True)
        if proc.returncode:
            print(f"{shape:>12} failed:\n{proc.stderr[-2000:]}")
            continue
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{shape:>12} {1000 * result['median_s']:>10.1f} {result['peak_mib']:>15.1f}")


if __name__ == "__main__":
    main()
