"""Benchmark tabdiff inference and training; prints figures (not a test).

    python scripts/bench.py --checkpoint /tmp/eval_ckpt/tabdiff.safetensors          # modest sizes, minutes
    python scripts/bench.py --full                                                    # rows to 10,000, cols to 200
    python scripts/bench.py --sections rows samplers --device cuda

Sections:
- rows / cols: `TabDiffImputer` (default settings: one-step DDIM, 4 ensemble members, sub-tables of at most
  512 rows x 64 columns) on a synthetic low-rank table with 30% MCAR cells, as rows grow (cols 16) and as
  columns grow (rows 200), against MissForest on the same table. Every size and method runs in a fresh
  subprocess: peak memory is the growth of the process's ru_maxrss during the run over its value after
  imports, checkpoint loading and table creation (on CUDA: max_memory_allocated over the allocation before).
  MissForest is skipped above --missforest-max-cells cells (it grows with rows x cols x columns).
- samplers: sampler settings (steps, jump_length, jump_n_sample) against nRMSE on a held-out table at 30%
  MCAR, with the baselines' figures and times (the evaluation's own runner, `tabdiff.evaluation.runner`).
- training: tables/s and cells/s of the cpu_small recipe (small model, its data stream) for a few steps.

Times are wall-clock on a machine that may be shared (say so when quoting them).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("rows", "cols", "samplers", "training")
SIZES = {  # (modest, full)
    "rows": ([100, 300, 1000], [100, 300, 1000, 3000, 10000]),
    "cols": ([5, 20, 50], [5, 10, 20, 50, 100, 200]),
}
SAMPLERS = {  # (name, sampler, n_steps, jump_length, jump_n_sample, n_ensemble)
    "modest": [
        ("ddim-1", "ddim", 1, 10, 10, 1),
        ("ddim-1 x4", "ddim", 1, 10, 10, 4),
        ("ddim-10", "ddim", 10, 10, 10, 1),
        ("cond-10", "conditional", 10, 10, 10, 1),
        ("repaint-10 j5x2", "repaint", 10, 5, 2, 1),
    ],
    "full": [
        ("ddim-5", "ddim", 5, 10, 10, 1),
        ("ddim-50", "ddim", 50, 10, 10, 1),
        ("cond-50", "conditional", 50, 10, 10, 1),
        ("repaint-50 j10x5", "repaint", 50, 10, 5, 1),
        ("repaint-250 j10x10", "repaint", 250, 10, 10, 1),
    ],
}


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def synthetic_table(n_rows: int, n_cols: int, *, seed: int = 0, rate: float = 0.3):
    """(truth, given): a rank-3 numeric table plus noise, and the same with `rate` of its cells hidden."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    values = rng.standard_normal((n_rows, 3)) @ rng.standard_normal((3, n_cols)) + 0.3 * rng.standard_normal(
        (n_rows, n_cols)
    )
    truth = pd.DataFrame(values, columns=[f"x{j}" for j in range(n_cols)])
    known = rng.random(values.shape) >= rate
    known[0] = True  # every column keeps a known cell
    return truth, truth.mask(~known)


def worker(spec: dict) -> None:
    """Impute one synthetic table with one method; print one JSON line."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(spec["threads"])
    threadpool_limits(spec["threads"])  # BLAS / OpenMP, as torch
    truth, given = synthetic_table(spec["rows"], spec["cols"])
    cuda = spec["device"].startswith("cuda")
    if spec["method"] == "tabdiff":
        from tabdiff.inference import TabDiffImputer, load_pretrained

        checkpoint = load_pretrained(spec["checkpoint"], device=spec["device"])
        model = TabDiffImputer(checkpoint, device=spec["device"], progress=False, random_state=0)
        run = lambda: model.fit_transform(given)  # noqa: E731
    else:
        from tabdiff.evaluation.baselines import impute_baseline

        run = lambda: impute_baseline(spec["method"], given, seed=0)  # noqa: E731
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() / 2**20
    else:
        base = max_rss_mib()
    start = time.perf_counter()
    imputed = run()
    if cuda:
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    peak = (torch.cuda.max_memory_allocated() / 2**20 if cuda else max_rss_mib()) - base
    hidden = given.isna().to_numpy()
    err = ((imputed.to_numpy(np.float64) - truth.to_numpy()) / truth.to_numpy().std(axis=0))[hidden]
    print(json.dumps({"wall_s": wall, "peak_mib": peak, "nrmse": float(np.sqrt(np.mean(err**2)))}))


def run_worker(args: argparse.Namespace, method: str, rows: int, cols: int) -> dict:
    spec = {"method": method, "rows": rows, "cols": cols, "threads": args.threads, "device": args.device,
            "checkpoint": args.checkpoint}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True, cwd=ROOT
    )
    if proc.returncode:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_scaling(args: argparse.Namespace, section: str) -> None:
    sizes = SIZES[section][1 if args.full else 0]
    fixed = {"rows": 16, "cols": 200}[section]  # the other dimension
    print(
        f"\n## {section} grow ({'cols' if section == 'rows' else 'rows'} = {fixed}), 30% MCAR, synthetic rank-3 table"
    )
    print(f"{'rows':>6} {'cols':>5} | {'tabdiff s':>9} {'peak MiB':>9} {'nRMSE':>6} | {'MissForest s':>12} "
          f"{'peak MiB':>9} {'nRMSE':>6} | {'time ratio':>10}")  # fmt: skip
    for size in sizes:
        rows, cols = (size, fixed) if section == "rows" else (fixed, size)
        ours = run_worker(args, "tabdiff", rows, cols)
        theirs = {"error": "skipped (size)"}
        if rows * cols <= args.missforest_max_cells:
            theirs = run_worker(args, "missforest", rows, cols)

        def cells(r: dict) -> str:
            if "error" in r:
                return f"{'–':>9} {'–':>9} {'–':>6}" if "skipped" in r["error"] else f"error: {r['error'][:60]}"
            return f"{r['wall_s']:>9.2f} {r['peak_mib']:>9.0f} {r['nrmse']:>6.3f}"

        ratio = ours["wall_s"] / theirs["wall_s"] if "wall_s" in ours and "wall_s" in theirs else float("nan")
        print(f"{rows:>6} {cols:>5} | {cells(ours)} | {cells(theirs):>30} | {ratio:>10.3f}", flush=True)


def bench_samplers(args: argparse.Namespace) -> None:
    from tabdiff.evaluation.methods import TabDiffSetting
    from tabdiff.evaluation.runner import EvaluationConfig, evaluate
    from tabdiff.inference import load_pretrained

    grid = SAMPLERS["modest"] + (SAMPLERS["full"] if args.full else [])
    sweep = tuple(
        TabDiffSetting(name=name.replace(" ", "_"), sampler=s, n_steps=n, jump_length=jl, jump_n_sample=jn,
                       n_ensemble=ens)
        for name, s, n, jl, jn, ens in grid
    )  # fmt: skip
    config = EvaluationConfig(
        tables=tuple(args.tables), tasks=("imputation",), seeds=tuple(range(args.seeds)), max_rows=200,
        tabdiff=(), sweep=sweep, device=args.device,
    )  # fmt: skip
    checkpoint = load_pretrained(args.checkpoint, device=args.device)
    results = evaluate(config, checkpoint=checkpoint, progress=False)
    results["calls"] = results.denoiser_calls
    per = results.groupby(["method", "family"], sort=False).agg(
        nrmse=("nrmse", "mean"), wall_s=("wall_s", "mean"), calls=("calls", "first")
    )
    forest = per.loc[("missforest", "baseline"), "wall_s"]
    print(f"\n## samplers on {', '.join(args.tables)} (<= 200 rows x 16 cols, 30% MCAR, {args.seeds} seed(s), mean over "
          "tables and seeds; calls = denoiser calls per sub-table x draws)")  # fmt: skip
    print("(baselines at their usual settings: MissForest 100 trees x 10 rounds, KNN k=5, MICE 10 rounds)")
    print(f"{'method':>20} {'calls':>6} {'nRMSE':>7} {'wall s':>8} {'x MissForest time':>18}")
    for (method, _), row in per.iterrows():
        calls = "" if np.isnan(row.calls) else f"{int(row.calls)}"
        print(f"{method:>20} {calls:>6} {row.nrmse:>7.3f} {row.wall_s:>8.2f} {row.wall_s / forest:>18.3f}")


def bench_training(args: argparse.Namespace) -> None:
    import torch
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from tabdiff.training.module import TabDiffusionModule

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("pretrain", overrides=["experiment=cpu_small", "output_dir=/tmp/tabdiff-bench"])
    encoder = OmegaConf.to_container(cfg.encoder, resolve=True)
    model = instantiate(cfg.model).to(args.device)
    module = TabDiffusionModule(model, instantiate(cfg.diffusion), encoder=encoder, mode="mixed").to(args.device)
    datamodule = instantiate(cfg.data, encoder=encoder)
    datamodule.setup()
    batches = iter(datamodule.train_dataloader())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    data_s = step_s = 0.0
    tables = cells = 0
    for step in range(args.train_steps + 1):  # the first step is warm-up, not counted
        start = time.perf_counter()
        batch = next(batches).to(args.device)
        fetched = time.perf_counter()
        loss = module.batch_losses(batch, module.step_generator(step))["loss"]
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        if step:
            data_s += fetched - start
            step_s += time.perf_counter() - fetched
            tables += batch.shape[0]
            cells += int(((~batch.row_pad_mask).sum(1) * (~batch.col_pad_mask).sum(1)).sum())
    total = data_s + step_s
    print(f"\n## training throughput (cpu_small recipe: {model.n_parameters():,} parameters, batch "
          f"{cfg.data.batch_size}, {args.train_steps} steps after 1 warm-up)")  # fmt: skip
    print(f"  {tables / total:.1f} tables/s, {cells / total:,.0f} cells/s (data + step); "
          f"step only {tables / step_s:.1f} tables/s; {1000 * step_s / args.train_steps:.0f} ms/step model, "
          f"{1000 * data_s / args.train_steps:.0f} ms/step data")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=None, help="export or .ckpt; default: the bundled checkpoint")
    parser.add_argument("--full", action="store_true", help="the full size sweep and sampler grid")
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS/OpenMP threads (1: as the evaluation)")
    parser.add_argument("--tables", nargs="+", default=["wine"], help="held-out tables for the sampler section")
    parser.add_argument("--seeds", type=int, default=1, help="seeds for the sampler section")
    parser.add_argument("--missforest-max-cells", type=int, default=20_000, help="skip MissForest above rows*cols")
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # one size in a fresh subprocess
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)  # the in-process sections (samplers, training); workers set their own
    threadpool_limits(args.threads)
    print(f"tabdiff bench: device {args.device}, {args.threads} threads, checkpoint {args.checkpoint or 'bundled'}")
    for section in args.sections:
        if section in ("rows", "cols"):
            bench_scaling(args, section)
        elif section == "samplers":
            bench_samplers(args)
        else:
            bench_training(args)


if __name__ == "__main__":
    main()
