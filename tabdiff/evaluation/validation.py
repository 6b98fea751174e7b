"""The training-time validation that steers pretraining by the same figures `tabdiff-evaluate` reports.

`TransferValidation` logs, at every validation and with the EMA weights:

- `val/zs_nrmse`: the median normalized RMSE of zero-shot imputation (30% MCAR) on the held-out tables,
  whole by default, imputed through `TabDiffImputer` with the checkpoint being trained, so that chunking,
  encoding and decoding are exactly what a user gets (one ensemble member: a cheaper, slightly worse figure
  than the estimator's default of four).
- `val/icl_r2_share`: on the linear family of the in-context-learning probe at `probe_rows` context rows,
  tabdiff's mean R^2 divided by Ridge's (issue 12's target: >= 0.9 at 256 rows).
"""

from __future__ import annotations

import logging

import lightning as L
import numpy as np
from lightning.pytorch.callbacks import Callback

from tabdiff.checkpoint import LoadedCheckpoint
from tabdiff.evaluation.baselines import make_regressor
from tabdiff.evaluation.icl_probe import ProbeConfig, ProbeTask, make_probe_tasks, r2_score
from tabdiff.evaluation.methods import TabDiffSetting, tabdiff_impute, tabdiff_regress
from tabdiff.evaluation.zero_shot import ImputationTask, make_tasks, normalized_rmse
from tabdiff.inference.inpaint import Sampler

log = logging.getLogger(__name__)


class TransferValidation(Callback):
    """Place it after the EMA callback: it runs in `on_validation_epoch_start`, once EMA has swapped its
    average in. Rank 0 only.

    Args:
        missing_rate: share of each held-out table's observed cells hidden (MCAR).
        max_rows, max_cols: cap the held-out tables (None: whole tables, as the evaluation does).
        max_tables: the first held-out tables only (None: all).
        sampler, n_steps, n_ensemble: the estimator setting that imputes and predicts.
        probe_rows: context rows of the ICL probe (None: no probe); probe_tables: linear tables scored.
        seed: fixes the tables, masks and probe tables, so the curve compares like with like.
    """

    def __init__(
        self,
        *,
        missing_rate: float = 0.3,
        max_rows: int | None = None,
        max_cols: int | None = None,
        max_tables: int | None = None,
        sampler: Sampler = "ddim",
        n_steps: int = 1,
        n_ensemble: int = 1,
        probe_rows: int | None = 256,
        probe_tables: int = 4,
        seed: int = 0,
    ) -> None:
        self.task_settings = {"missing_rate": missing_rate, "max_rows": max_rows, "max_cols": max_cols,
                              "max_tables": max_tables, "seed": seed}  # fmt: skip
        self.setting = TabDiffSetting(name="validation", sampler=sampler, n_steps=n_steps, n_ensemble=n_ensemble)
        self.probe = None if probe_rows is None else ProbeConfig(families=("linear",), context_rows=(probe_rows,),
                                                                  n_tables=probe_tables)  # fmt: skip
        self.seed = seed
        self.tasks: list[ImputationTask] | None = None
        self.probe_tasks: list[ProbeTask] = []
        self.ridge_r2: float | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.tasks is None and trainer.is_global_zero:
            self.tasks = make_tasks(**self.task_settings)
            if self.probe is not None:
                self.probe_tasks = make_probe_tasks(self.probe, seed=self.seed)
                self.ridge_r2 = float(np.mean([_r2(t, _ridge(t, self.seed)) for t in self.probe_tasks]))

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        checkpoint = LoadedCheckpoint(pl_module.model, pl_module.diffusion, pl_module.export_config())
        scores = {}
        for task in self.tasks or []:
            imputed = tabdiff_impute(checkpoint, self.setting, task, seed=self.seed, device=None)
            scores[task.name] = normalized_rmse(task, imputed)
        finite = [v for v in scores.values() if np.isfinite(v)]
        median = float(np.median(finite)) if finite else float("nan")
        pl_module.log("val/zs_nrmse", median, rank_zero_only=True)
        log.info("zero-shot nRMSE (median %.4f): %s", median, {k: round(v, 3) for k, v in scores.items()})
        if self.probe_tasks:
            r2 = [_r2(t, self._predict(checkpoint, t)) for t in self.probe_tasks]
            share = float(np.mean(r2)) / self.ridge_r2 if self.ridge_r2 else float("nan")
            pl_module.log("val/icl_r2_share", share, rank_zero_only=True)
            log.info("ICL probe (linear, %d rows): R^2 %.3f, Ridge %.3f", self.probe.context_rows[0],
                     float(np.mean(r2)), self.ridge_r2)  # fmt: skip

    def _predict(self, checkpoint: LoadedCheckpoint, task: ProbeTask) -> np.ndarray:
        pred, _, _ = tabdiff_regress(checkpoint, self.setting, task.as_supervised(), seed=self.seed, interval=0.8,
                                     device=None, quantiles=False)  # fmt: skip
        return pred


def _ridge(task: ProbeTask, seed: int) -> np.ndarray:
    return make_regressor("ridge", task.X_train, seed=seed).fit(task.X_train, task.y_train).predict(task.X_test)


def _r2(task: ProbeTask, pred: np.ndarray) -> float:
    return r2_score(task.y_test, pred)
