"""Zero-shot imputation on held-out real tables: the number that decides whether pretraining transfers.

A task is a held-out table (rows subsampled, columns capped) with a fixed MCAR mask over its observed
cells. The score is the normalized RMSE over the masked numeric cells: each column's error divided by the
column's standard deviation on the full table, so that imputing column means scores about 1.0.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import Callback

from tabdiff.data.manifest import bundled_tables
from tabdiff.encoding import TableEncoder
from tabdiff.inference.inpaint import Sampler, inpaint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImputationTask:
    name: str
    frame: pd.DataFrame  # the ground truth (with its own real NaNs)
    known_mask: np.ndarray  # (rows, cols) bool: the cells given to the imputer
    numeric: list[str]  # numeric columns scored by nRMSE


def make_tasks(
    *,
    missing_rate: float = 0.3,
    max_rows: int = 200,
    max_cols: int = 16,
    seed: int = 0,
    max_tables: int | None = None,
) -> list[ImputationTask]:
    """MCAR tasks on the first `max_tables` held-out bundled tables (never the pretraining ones)."""
    tasks = []
    for source in bundled_tables("heldout")[:max_tables]:
        rng = np.random.default_rng([seed, len(tasks)])
        frame = source.load()
        frame = frame.iloc[np.sort(rng.permutation(len(frame))[:max_rows])].iloc[:, :max_cols]
        observed = frame.notna().to_numpy()
        known = observed & (rng.random(observed.shape) >= missing_rate)
        # every column keeps a known cell (the encoder needs one to fit on)
        for j in np.flatnonzero(~known.any(axis=0) & observed.any(axis=0)):
            known[rng.choice(np.flatnonzero(observed[:, j])), j] = True
        numeric = [
            c
            for c in frame.columns
            if pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
        ]
        tasks.append(ImputationTask(source.name, frame, known, numeric))
    return tasks


def normalized_rmse(task: ImputationTask, imputed: pd.DataFrame) -> float:
    """RMSE over masked, observed numeric cells, each column scaled by its std on the full table."""
    errors = []
    observed = task.frame.notna().to_numpy()
    for column in task.numeric:
        j = task.frame.columns.get_loc(column)
        scored = observed[:, j] & ~task.known_mask[:, j]
        truth = task.frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
        scale = np.nanstd(truth)
        if not scored.any() or scale == 0:
            continue
        pred = imputed[column].to_numpy(dtype=np.float64, na_value=np.nan)
        errors.append(((pred[scored] - truth[scored]) / scale) ** 2)
    return float(np.sqrt(np.concatenate(errors).mean())) if errors else float("nan")


def mean_imputation(task: ImputationTask) -> pd.DataFrame:
    """The yardstick: every numeric column's known mean."""
    out = task.frame.copy()
    for column in task.numeric:
        j = task.frame.columns.get_loc(column)
        values = task.frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
        out[column] = np.where(task.known_mask[:, j], values, np.nanmean(values[task.known_mask[:, j]]))
    return out


@torch.no_grad()
def impute_task(
    model: torch.nn.Module,
    diffusion,
    task: ImputationTask,
    *,
    encoder_settings: dict | None = None,
    sampler: Sampler = "ddim",
    n_steps: int = 1,
    seed: int = 0,
) -> pd.DataFrame:
    """Encode with statistics of the known cells only (as a user's table would be), inpaint, decode."""
    given = task.frame.mask(~task.known_mask)
    encoder = TableEncoder(**(encoder_settings or {})).fit(given)
    encoded = encoder.transform(given)
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    cells = inpaint(
        model,
        diffusion,
        encoded.cells[None].to(device),
        encoded.known_mask[None].to(device),
        channel_mask=encoded.channel_mask[None].to(device),
        column_kind=encoded.column_kind[None].to(device),
        sampler=sampler,
        n_steps=n_steps,
        generator=generator,
    )
    return encoder.inverse_transform(cells[0].cpu(), index=task.frame.index)


class ZeroShotImputation(Callback):
    """Logs `val/zs_nrmse` (median over held-out tables) at every validation, with the EMA weights.

    Place it after the EMA callback: it runs in `on_validation_epoch_start`, once EMA has swapped its
    average in. Rank 0 only; the figure is cheap (one forward pass per table with the default sampler).
    """

    def __init__(
        self,
        *,
        missing_rate: float = 0.3,
        max_rows: int = 200,
        max_cols: int = 16,
        max_tables: int | None = None,
        sampler: Sampler = "ddim",
        n_steps: int = 1,
        seed: int = 0,
    ) -> None:
        self.settings = {
            "missing_rate": missing_rate,
            "max_rows": max_rows,
            "max_cols": max_cols,
            "seed": seed,
            "max_tables": max_tables,
        }
        self.sampler, self.n_steps, self.seed = sampler, n_steps, seed
        self.tasks: list[ImputationTask] | None = None

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        if self.tasks is None:
            self.tasks = make_tasks(**self.settings)
        encoder = {k: v for k, v in (pl_module.hparams.get("encoder") or {}).items()}
        scores = {}
        for task in self.tasks:
            imputed = impute_task(
                pl_module.model, pl_module.diffusion, task, encoder_settings=encoder,
                sampler=self.sampler, n_steps=self.n_steps, seed=self.seed,
            )  # fmt: skip
            scores[task.name] = normalized_rmse(task, imputed)
        finite = [v for v in scores.values() if np.isfinite(v)]
        median = float(np.median(finite)) if finite else float("nan")
        pl_module.log("val/zs_nrmse", median, rank_zero_only=True)
        log.info("zero-shot nRMSE (median %.4f): %s", median, {k: round(v, 3) for k, v in scores.items()})
