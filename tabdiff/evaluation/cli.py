"""The `tabdiff-evaluate` console script: Hydra over conf/evaluate.yaml, then `run(cfg)`.

tabdiff-evaluate                              # whole held-out tables, 30% MCAR, 1 seed, the ICL probe: minutes
tabdiff-evaluate evaluation=full              # every rate x mechanism x seed, all baselines, sampler sweep
tabdiff-evaluate evaluation=quick             # rows <= 200, columns <= 16: a first look in a minute
tabdiff-evaluate evaluation=tiny              # CI: 2 tables, tiny row caps, seconds
tabdiff-evaluate checkpoint=outputs/cpu_small/export/tabdiff.safetensors tables=[wine,penguins]
"""

from __future__ import annotations

from pathlib import Path

import hydra
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from tabdiff.evaluation.baselines import BaselineOptions
from tabdiff.evaluation.icl_probe import ProbeConfig
from tabdiff.evaluation.methods import TabDiffSetting
from tabdiff.evaluation.runner import DrawsConfig, EvaluationConfig, GenerationConfig, run_evaluation
from tabdiff.resources import resource_dir

CONF_DIR = str(resource_dir("conf"))


def evaluation_config(cfg: DictConfig) -> EvaluationConfig:
    """The plain `EvaluationConfig` of a composed conf/evaluate.yaml."""
    c = OmegaConf.to_container(cfg, resolve=True)
    imputation, supervised, ours = c["imputation"], c["supervised"], c["tabdiff"]
    experts = {"experts": c["experts"]} if c.get("experts") else {}  # one choice for every setting, when given

    def setting(s: dict) -> TabDiffSetting:
        return TabDiffSetting(**(s | experts))

    return EvaluationConfig(
        tables=tuple(c["tables"]) if c.get("tables") else None,
        tasks=tuple(c["tasks"]),
        seeds=tuple(c["seeds"]),
        max_rows=c["max_rows"],
        max_cols=c["max_cols"],
        rates=tuple(float(r) for r in imputation["rates"]),
        mechanisms=tuple(imputation["mechanisms"]),
        imputers=tuple(imputation["baselines"]),
        classifiers=tuple(supervised["classifiers"]),
        regressors=tuple(supervised["regressors"]),
        baseline_options=BaselineOptions(**c["baseline_options"]),
        tabdiff=tuple(setting(s) for s in ours["settings"]),
        sweep=tuple(setting(s) for s in ours["sweep"]),
        sweep_on=tuple((m, float(r)) for m, r in ours["sweep_on"]),
        test_fraction=supervised["test_fraction"],
        interval=supervised["interval"],
        probe=ProbeConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in c["probe"].items()}),
        draws=DrawsConfig(
            n_draws=int(c["draws"]["n_draws"]),
            settings=tuple(setting(s) for s in c["draws"]["settings"]),
            references=tuple(c["draws"]["references"]),
            at=tuple((m, float(r)) for m, r in c["draws"]["at"]),
        ),
        generation=GenerationConfig(
            holdout=float(c["generation"]["holdout"]),
            settings=tuple(setting(s) for s in c["generation"]["settings"]),
            baselines=tuple(c["generation"]["baselines"]),
        ),
        checkpoint=c.get("checkpoint"),
        device=c["device"],
    )


def run(cfg: DictConfig) -> tuple[pd.DataFrame, dict[str, Path]]:
    """Evaluate per `cfg` into `cfg.output_dir`; returns (results, written paths)."""
    config = evaluation_config(cfg)
    options = {"progress": cfg.progress, "plots": cfg.plots, "resume": bool(cfg.get("resume", False))}
    if not cfg.get("threads"):
        return run_evaluation(config, cfg.output_dir, **options)
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(int(cfg.threads))
    try:
        with threadpool_limits(limits=int(cfg.threads)):  # BLAS and OpenMP (scikit-learn's trees and HGB)
            return run_evaluation(config, cfg.output_dir, **options)
    finally:
        torch.set_num_threads(previous)


@hydra.main(config_path=CONF_DIR, config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    results, paths = run(cfg)
    print(f"{len(results)} runs -> {paths['report']}")
    ok = results[(results.task == "imputation") & (results.status == "ok")]
    if len(ok):
        per_table = ok.groupby(["setting", "method", "table"]).nrmse.mean()
        print("median nRMSE over tables:")
        print(per_table.groupby(level=["setting", "method"]).median().round(3).to_string())
