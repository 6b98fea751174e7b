"""Reject tables whose cells nothing predicts (TabICLv2's `filter_unpredictable_datasets`, ~25% dropped there).

A table of independent noise teaches the denoiser only to output the marginal; a model trained on many of
them learns to ignore the context. The check here is cheap: on a row subsample, predict each of a few
columns from all the others by ridge regression and score it by its leave-one-out R^2 (closed form, no
refitting). Numeric columns enter as rank normal scores (the encoder's view, robust to heavy tails) plus
their squares (so U-shaped relations count), categorical ones one-hot. The table's score is the mean of
the per-column R^2, each clipped at 0 so that one unpredictable column does not sink a good table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tabdiff.prior.draws import normal_scores


@dataclass(frozen=True)
class FilterConfig:
    enabled: bool = True  # redraw tables that score below min_score
    min_score: float = 0.05  # lenient: pure noise scores ~0, a low-rank table ~0.5-1
    max_rows: int = 256  # rows subsampled for the check (its cost is cubic in these or in the predictors)
    max_targets: int = 8  # columns scored per table (a random subset when there are more)
    ridge_per_row: float = 0.05  # ridge penalty / rows: X^T X grows with the rows, so the penalty does too
    max_redraws: int = 10  # give up and keep the last draw after this many rejections (never loops forever)
    precision: str = "float32"  # the batched engine's linear algebra: float32 (scores within ~1e-4 of float64's,
    # ~1.5x faster on a CPU, measured on 64 large-prior tables) or float64 (equal to this reference to 1e-9)


def _blocks(values: np.ndarray, n_categories: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per column: its target block (rows, q) and its predictor block (rows, p), both centred."""
    scores = normal_scores(values)  # (rows, cols); categorical codes are replaced below
    targets, predictors = [], []
    for j, k in enumerate(n_categories):
        if k > 0:
            one_hot = (values[:, j, None] == np.arange(k)).astype(np.float64)
            block = one_hot - one_hot.mean(axis=0)
            targets.append(block)
            predictors.append(block)
        else:
            z = scores[:, j : j + 1]
            targets.append(z)
            sq = z**2
            predictors.append(np.hstack([z, sq - sq.mean()]))
    return targets, predictors


def loo_ridge_r2(x: np.ndarray, y: np.ndarray, ridge: float) -> float:
    """Leave-one-out R^2 of ridge regression y ~ x, without refitting. x (n, p), y (n, q), both centred.

    Primal (p < n): with A = (x^T x + ridge I)^-1 x^T, the hat matrix is H = x A, so
    e_loo = (y - x A y) / (1 - diag(x A)). Dual (p >= n): with M = (x x^T + ridge I)^-1, e_loo = M y / diag(M).
    Either way one solve of the smaller of (p, p) and (n, n), and never the (n, n) hat matrix itself.
    """
    n, p = x.shape
    if p == 0:
        return 0.0
    if p < n:
        a = np.linalg.solve(x.T @ x + ridge * np.eye(p), x.T)  # (p, n)
        leverage = np.einsum("np,pn->n", x, a)  # diag(H)
        resid = (y - x @ (a @ y)) / np.maximum(1.0 - leverage, 1e-6)[:, None]
    else:
        m = np.linalg.inv(x @ x.T + ridge * np.eye(n))  # (n, n)
        resid = (m @ y) / np.diag(m)[:, None]
    total = float((y**2).sum())
    return 1.0 - float((resid**2).sum()) / total if total > 1e-12 else 0.0


def predictability(
    rng: np.random.Generator, values: np.ndarray, n_categories: np.ndarray, config: FilterConfig
) -> float:
    """Mean clipped leave-one-out R^2 of predicting a few columns from the others; 0 = nothing predicts."""
    n_rows, n_cols = values.shape
    if n_rows > config.max_rows:
        values = values[rng.choice(n_rows, size=config.max_rows, replace=False)]
    targets, predictors = _blocks(values, n_categories)
    candidates = [j for j in range(n_cols) if (targets[j] ** 2).sum() > 1e-12]  # constant columns say nothing
    if len(candidates) < 2:
        return 0.0
    if len(candidates) > config.max_targets:
        candidates = list(rng.choice(candidates, size=config.max_targets, replace=False))
    r2 = []
    for j in candidates:
        x = np.hstack([predictors[i] for i in range(n_cols) if i != j])
        r2.append(max(0.0, loo_ridge_r2(x, targets[j], config.ridge_per_row * len(values))))
    return float(np.mean(r2))
