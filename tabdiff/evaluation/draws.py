"""Scoring multiple imputations (issue 13): how good is the distribution of m draws per hidden cell?

Numeric cells (each column scaled by its standard deviation on the full table, as `normalized_rmse`):
- CRPS of the draws, E|X - y| - E|X - X'| / 2 over the empirical distribution of the m draws (Gneiting &
  Raftery 2007); with one "draw" it is the absolute error, so a point imputation's CRPS is its MAE.
- coverage of the central 50 / 80 / 90% bands of the draws' distribution, from the rank of the true value
  among the draws (randomized PIT: `level` in expectation for calibrated draws, whatever m).
Categorical cells: the Brier score and the log score of the draws' category frequencies, smoothed with one
pseudo-draw spread evenly over the column's categories (so a category never drawn keeps probability > 0).

Draw sources compared with tabdiff's `TabDiffImputer.sample`:
- `marginal`: each hidden cell drawn at random from its column's observed values (knows nothing else);
- `mice`: MICE multiple imputation, `IterativeImputer(BayesianRidge, sample_posterior=True)` run m times
  with different seeds (categories ordinal-coded, as the `mice` baseline).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.experimental import enable_iterative_imputer  # noqa: F401 - enables IterativeImputer
from sklearn.impute import IterativeImputer
from sklearn.linear_model import BayesianRidge

from tabdiff.evaluation.baselines import BaselineOptions, impute_coded
from tabdiff.evaluation.zero_shot import ImputationTask, scored_numeric
from tabdiff.experts.blend import mean_abs_difference

BAND_LEVELS = (0.5, 0.8, 0.9)
DrawReference = Literal["marginal", "mice"]
DRAW_REFERENCES: tuple[DrawReference, ...] = ("marginal", "mice")


def crps_ensemble(draws: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(m, n) draws and (n,) true values -> (n,) CRPS of each cell's empirical draw distribution.

    E|X - y| - E|X - X'| / 2, the second term by the sorted-sample identity (`mean_abs_difference`), O(m log m)."""
    draws = np.asarray(draws, dtype=np.float64)
    return np.abs(draws - truth[None, :]).mean(axis=0) - 0.5 * mean_abs_difference(draws)


def band_coverage(draws: np.ndarray, truth: np.ndarray, level: float, *, seed: int = 0) -> float:
    """Share of cells whose true value falls in the central `level` band of the draws' distribution.

    From each true value's rank among its m draws (the randomized probability integral transform
    u = (rank + V) / (m + 1), V uniform, ties split at random): a calibrated sampler gives u ~ U(0, 1), so
    the share with |u - 1/2| <= level / 2 is `level` in expectation at any m. (Empirical 5-95% quantiles of m
    draws would cover only about (m - 1) / (m + 1) of the level even for perfect draws.)"""
    rng = np.random.default_rng(seed)
    below = (draws < truth[None, :]).sum(axis=0)
    ties = (draws == truth[None, :]).sum(axis=0)
    rank = below + np.floor(rng.random(len(truth)) * (ties + 1))
    u = (rank + rng.random(len(truth))) / (draws.shape[0] + 1)
    return float(np.mean(np.abs(u - 0.5) <= level / 2))


def score_draws(task: ImputationTask, draws: Sequence[pd.DataFrame]) -> dict[str, float]:
    """crps, cov50 / cov80 / cov90 over the task's hidden numeric cells, brier and log_score over its hidden
    categorical cells (NaN where the table has none), and n_draws."""
    observed = task.frame.notna().to_numpy()
    crps, truth_all, draws_all = [], [], []
    for column, scored, truth, scale in scored_numeric(task):
        block = np.stack([d[column].to_numpy(dtype=np.float64, na_value=np.nan)[scored] for d in draws]) / scale
        crps.append(crps_ensemble(block, truth[scored] / scale))
        truth_all.append(truth[scored] / scale)
        draws_all.append(block)
    out: dict[str, float] = {"n_draws": float(len(draws))}
    if crps:
        block, truth = np.concatenate(draws_all, axis=1), np.concatenate(truth_all)
        out["crps"] = float(np.concatenate(crps).mean())
        for level in BAND_LEVELS if len(draws) > 1 else ():  # one value has no band
            out[f"cov{round(level * 100)}"] = band_coverage(block, truth, level)
    brier, log_score = [], []
    for column in task.categorical:
        j = task.frame.columns.get_loc(column)
        scored = observed[:, j] & ~task.known_mask[:, j]
        if not scored.any():
            continue
        categories = pd.Index(pd.unique(task.frame[column].dropna().to_numpy(dtype=object)))
        truth = categories.get_indexer(task.frame[column].to_numpy(dtype=object)[scored])
        counts = np.zeros((int(scored.sum()), len(categories)))
        for d in draws:
            codes = categories.get_indexer(d[column].to_numpy(dtype=object)[scored])
            valid = codes >= 0
            counts[np.flatnonzero(valid), codes[valid]] += 1
        proba = (counts + 1.0 / len(categories)) / (len(draws) + 1.0)
        one_hot = np.eye(len(categories))[truth]
        brier.append(((proba - one_hot) ** 2).sum(axis=1))
        log_score.append(-np.log(proba[np.arange(len(truth)), truth]))
    if brier:
        out["brier"] = float(np.concatenate(brier).mean())
        out["log_score"] = float(np.concatenate(log_score).mean())
    return out


def reference_draws(
    name: DrawReference, given: pd.DataFrame, n: int, *, seed: int, options: BaselineOptions | None = None
) -> list[pd.DataFrame]:
    """n imputations of `given` by reference `name` (known cells unchanged)."""
    rng = np.random.default_rng(seed)
    if name == "marginal":
        out = []
        for _ in range(n):
            filled = given.copy()
            for column in given.columns:
                missing = given[column].isna().to_numpy()
                pool = given[column].dropna().to_numpy(dtype=object)
                if missing.any() and len(pool):
                    values = pool[rng.integers(len(pool), size=int(missing.sum()))]
                    column_values = filled[column].to_numpy(dtype=object).copy()
                    column_values[missing] = values
                    filled[column] = pd.Series(column_values, index=given.index).astype(given[column].dtype)
            out.append(filled)
        return out
    if name == "mice":
        options = options or BaselineOptions()
        return [
            impute_coded(
                IterativeImputer(
                    BayesianRidge(),
                    max_iter=options.mice_max_iter,
                    sample_posterior=True,
                    random_state=seed * 1000 + k,
                    keep_empty_features=True,
                ),  # fmt: skip
                given,
            )
            for k in range(n)
        ]
    raise ValueError(f"unknown draw reference {name!r}; choose from {DRAW_REFERENCES}")
