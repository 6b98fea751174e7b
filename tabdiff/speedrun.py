"""The speedrun (docs/speedrun.md): compose `experiment=speedrun` with a budget, train from scratch, score the export
on the fixed probes (`tabdiff.evaluation.speedrun`), record the run (`tabdiff.evaluation.speedrun_records`).

scripts/speedrun.py is its command line; `run_speedrun` returns the record it prints and appends.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import subprocess
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from lightning.pytorch.callbacks import Timer
from omegaconf import DictConfig, OmegaConf
from threadpoolctl import threadpool_limits

from tabdiff.checkpoint import load_exported
from tabdiff.evaluation.baselines import BaselineOptions
from tabdiff.evaluation.icl_probe import ProbeConfig
from tabdiff.evaluation.speedrun import SpeedrunProbes, baseline_results, meets_targets, score_network
from tabdiff.evaluation.speedrun_records import append_record
from tabdiff.resources import REPO, resource_dir
from tabdiff.training.callbacks import TablesSeen

log = logging.getLogger(__name__)
CONF_DIR = resource_dir("conf")
EXPORT_NAME = "speedrun.safetensors"  # and its sidecar speedrun.json, in the run's folder
BASELINES = resource_dir("data") / "speedrun_baselines.json"
DOCS = REPO / "docs"


def speedrun_config(
    *, minutes: float, seed: int, out: str | Path, threads: int = 2, overrides: Sequence[str] = ()
) -> DictConfig:
    """conf/pretrain.yaml with experiment=speedrun, the budget, seed and folder, then `overrides` (the recipe change)."""
    out = Path(out).resolve()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(
            "pretrain",
            overrides=[
                "experiment=speedrun",
                f"speedrun.minutes={minutes}",
                f"seed={seed}",
                f"output_dir={out}",
                f"export_path={out / EXPORT_NAME}",
                f"threads={threads}",
                *overrides,
            ],
        )


def speedrun_probes(cfg: DictConfig) -> SpeedrunProbes:
    """The probes of `cfg.speedrun.probes`, with the baselines' settings of conf/evaluate.yaml (`baseline_options`:
    the reduced evaluation's MissForest, 50 trees x 5 rounds)."""
    probes = OmegaConf.to_container(cfg.speedrun.probes, resolve=True)
    options = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "evaluate.yaml").baseline_options, resolve=True)
    return SpeedrunProbes(
        seed=int(probes["seed"]),
        tables=tuple(probes["tables"]) if probes.get("tables") else None,
        missing_rate=float(probes["missing_rate"]),
        max_rows=probes.get("max_rows"),
        max_cols=probes.get("max_cols"),
        probe=ProbeConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in probes["probe"].items()}),
        baseline_options=BaselineOptions(**options),
    )


@contextlib.contextmanager
def limited_threads(threads: int | None) -> Iterator[None]:
    """torch and BLAS/OpenMP threads limited to `threads` (None: as they are)."""
    if not threads:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        with threadpool_limits(limits=int(threads)):
            yield
    finally:
        torch.set_num_threads(previous)


def refresh_baselines(cfg: DictConfig, path: str | Path = BASELINES, *, progress: bool = True) -> float:
    """Compute the probes' baselines again into `path`; returns the seconds it took."""
    start = time.perf_counter()
    with limited_threads(cfg.get("threads")):
        baseline_results(speedrun_probes(cfg), path, refresh=True, progress=progress)
    return time.perf_counter() - start


def run_speedrun(
    cfg: DictConfig,
    *,
    change: str = "",
    overrides: Sequence[str] = (),
    docs_dir: str | Path | None = DOCS,
    baselines_path: str | Path = BASELINES,
    progress: bool = False,
) -> dict:
    """Train per `cfg` (a `speedrun_config`), score its export, append the record to `docs_dir` (None: nowhere);
    returns the record. The baselines come from `baselines_path`, computed there first when missing or stale."""
    from tabdiff.training.train import train

    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    _, objects = train(cfg)
    train_wall = time.perf_counter() - start
    trainer, module = objects["trainer"], objects["module"]
    if objects["export"] is None:
        raise RuntimeError("the speedrun needs its export: export_path must not be null")
    timer = next((cb for cb in trainer.callbacks if isinstance(cb, Timer)), None)
    seen = next((cb.tables for cb in trainer.callbacks if isinstance(cb, TablesSeen)), None)

    probes = speedrun_probes(cfg)
    with limited_threads(cfg.get("threads")):
        start = time.perf_counter()
        baselines, built = baseline_results(probes, baselines_path, progress=progress)
        baseline_wall = time.perf_counter() - start
        # the export as a user loads it: the network alone, through the estimators' defaults
        checkpoint = load_exported(objects["export"])
        start = time.perf_counter()
        figures, results = score_network(checkpoint, probes, baselines, progress=progress)
        probe_wall = time.perf_counter() - start
    results.to_csv(out / "probes.csv", index=False)

    record = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "change": change,
        "overrides": list(overrides),
        "minutes": float(cfg.speedrun.minutes),
        "seed": int(cfg.seed),
        "steps": int(trainer.global_step),
        "tables_seen": int(seen) if seen is not None else None,
        "parameters": sum(p.numel() for p in module.model.parameters()),
        "train_seconds": round(timer.time_elapsed("train") if timer else train_wall, 1),
        "train_wall_seconds": round(train_wall, 1),  # with set-up and export
        "probe_seconds": round(probe_wall, 1),
        "baselines_seconds": round(baseline_wall, 1),
        "baselines_built": built,
        "baselines_key": probes.key,
        "out": str(out),
        "figures": {name: None if isinstance(v, float) and math.isnan(v) else v for name, v in figures.items()},
        "targets_met": meets_targets(figures),
    }
    (out / "record.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    if docs_dir is not None:
        append_record(record, docs_dir)
    return record


def git_commit() -> str:
    """The short commit of the source tree, `-dirty` with uncommitted changes to tracked files; `unknown` outside git."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=10", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")
