"""Blending the model's imputations with classical imputers, weighted per table on cells hidden for the purpose.

TabImpute+ and MatrixFormer+ blend their model with other imputers by least squares on the observed cells
(docs/design.md, "Cheap test-time gains"). Here: a share of a table's known numeric cells is hidden, every method
fills them from the rest, and the convex weights (>= 0, summing to 1) that minimise the squared error of the
blend on them, each column's error scaled by its standard deviation (as nRMSE scores it), are applied to the
same methods' fills of the cells actually missing. The cells being imputed are never used to fit the weights.

The classical imputers are scikit-learn's, run on a float matrix (numbers as they are, categories as codes)
with each column standardized: `KNNImputer` ("knn"), `IterativeImputer(BayesianRidge)` ("mice") and
`IterativeImputer(RandomForestRegressor)` ("missforest"); `tabdiff.evaluation.baselines` runs its baselines
through the same functions.
"""

from __future__ import annotations

import itertools
import warnings
from typing import Literal

import numpy as np

Classical = Literal["knn", "mice", "missforest"]
CLASSICAL: tuple[Classical, ...] = ("knn", "mice", "missforest")
MIN_HELD = 10  # fewer hidden cells than this fit no weights: the model's fills are kept
MIN_KNOWN = 5  # a column with fewer known cells keeps them all (none hidden)


def check_blend(blend: object, holdout: object) -> tuple[Classical, ...]:
    """The `blend` argument as a tuple of CLASSICAL names (clear errors otherwise); `holdout` in (0, 1)."""
    names = (blend,) if isinstance(blend, str) else tuple(blend or ())
    unknown = [name for name in names if name not in CLASSICAL]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"blend must name distinct imputers among {list(CLASSICAL)}, got {blend!r}")
    if not isinstance(holdout, (int, float)) or isinstance(holdout, bool) or not 0 < holdout < 1:
        raise ValueError(f"blend_holdout must be a number in (0, 1), got {holdout!r}")
    return names


def classical_imputer(
    name: Classical, *, seed: int = 0, knn_neighbors: int = 5, mice_max_iter: int = 10, forest_trees: int = 100,
    forest_max_iter: int = 10,
) -> object:  # fmt: skip
    """A fresh scikit-learn imputer for `name`, set up as the evaluation's baselines are (imported here: the CLI
    reads CLASSICAL without loading scikit-learn)."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.experimental import enable_iterative_imputer  # noqa: F401 - registers IterativeImputer
    from sklearn.impute import IterativeImputer, KNNImputer
    from sklearn.linear_model import BayesianRidge

    if name == "knn":
        return KNNImputer(n_neighbors=knn_neighbors, keep_empty_features=True)
    if name == "mice":
        return IterativeImputer(BayesianRidge(), max_iter=mice_max_iter, random_state=seed, keep_empty_features=True)
    if name == "missforest":
        forest = RandomForestRegressor(n_estimators=forest_trees, n_jobs=1, random_state=seed)
        return IterativeImputer(forest, max_iter=forest_max_iter, random_state=seed, keep_empty_features=True)
    raise ValueError(f"unknown imputer {name!r}; choose from {list(CLASSICAL)}")


def fill_matrix(imputer: object, x: np.ndarray) -> np.ndarray:
    """(rows, cols) float matrix, NaN = unknown -> the imputer's fill of it, run on standardized columns (a
    column's mean and standard deviation over its known cells) and mapped back."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the mean of a column with no known cell
        mean = np.nan_to_num(np.nanmean(x, axis=0))
    std = column_scale(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return imputer.fit_transform((x - mean) / std) * std + mean


def holdout_mask(known: np.ndarray, columns: np.ndarray, share: float, rng: np.random.Generator) -> np.ndarray:
    """(rows, cols) bool: about `share` of the `known` cells in `columns` ((cols,) bool) hidden at random, none
    in a column with fewer than MIN_KNOWN known cells, and never every known cell of a row."""
    held = known & columns[None, :] & (rng.random(known.shape) < share)
    held[:, known.sum(axis=0) < MIN_KNOWN] = False
    emptied = held.any(axis=1) & ~(known & ~held).any(axis=1)
    for row in np.flatnonzero(emptied):  # give the row back one of its hidden cells
        held[row, rng.choice(np.flatnonzero(held[row]))] = False
    return held


def convex_weights(predictions: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(n, k) predictions of n values by k methods and the (n,) truth -> the (k,) weights w >= 0, sum(w) = 1,
    minimising ||predictions @ w - truth||^2 (exact: every subset of methods as the free set, solved with the
    sum constraint by its KKT system; a tie goes to the earlier subset, the model alone first)."""
    n, k = predictions.shape
    best, best_loss = None, np.inf
    for size in range(1, k + 1):
        for subset in itertools.combinations(range(k), size):
            p = predictions[:, subset]
            kkt = np.zeros((size + 1, size + 1))
            kkt[:size, :size], kkt[:size, size], kkt[size, :size] = p.T @ p, 1.0, 1.0
            rhs = np.append(p.T @ truth, 1.0)
            w = np.linalg.lstsq(kkt, rhs, rcond=None)[0][:size]
            if (w < -1e-12).any():
                continue
            loss = float(np.sum((p @ w - truth) ** 2))
            if best is None or loss < best_loss - 1e-12 * max(1.0, best_loss):
                best, best_loss = np.zeros(k), loss
                best[list(subset)] = np.clip(w, 0.0, None) / np.clip(w, 0.0, None).sum()
    return best


def column_scale(numbers: np.ndarray) -> np.ndarray:
    """(cols,) each column's standard deviation over its known (non-NaN) cells, 1 where that is 0 or undefined:
    the units blend errors and CRPS are counted in, as nRMSE counts them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        scale = np.nanstd(numbers, axis=0)
    return np.where((scale > 0) & np.isfinite(scale), scale, 1.0)


def fit_blend(
    numbers: np.ndarray,
    held: np.ndarray,
    experts: tuple[Classical, ...],
    *,
    seed: int,
    first: np.ndarray | None = None,
    **options: int,
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Blend weights, the experts' fills of a table and the blend's fills of the held cells.

    numbers (rows, cols) float, NaN = unknown; held (rows, cols) bool, the known cells hidden to fit the weights
    (`holdout_mask`); first (n_held,) optional: another method's fills of the held cells (in np.nonzero(held)
    order), the model's in TabDiffImputer. Returns the weights over [first,] *experts (convex; with fewer than
    MIN_HELD held cells all weight on the first method), each expert's fill of `numbers` (rows, cols) and the
    weighted fills of the held cells (n_held,) (empty with fewer than MIN_HELD). `options` go to
    `classical_imputer`.
    """
    full = {name: fill_matrix(classical_imputer(name, seed=seed, **options), numbers) for name in experts}
    n_methods = len(experts) + (first is not None)
    if held.sum() < MIN_HELD:
        return np.eye(n_methods)[0], full, np.empty(0)
    rows, cols = np.nonzero(held)
    hidden = np.where(held, np.nan, numbers)
    predictions = [] if first is None else [first]
    predictions += [fill_matrix(classical_imputer(name, seed=seed, **options), hidden)[rows, cols] for name in experts]
    scale = column_scale(numbers)[cols]
    predictions = np.stack(predictions, axis=1)
    weights = convex_weights(predictions / scale[:, None], numbers[rows, cols] / scale)
    return weights, full, predictions @ weights


def mean_abs_difference(draws: np.ndarray) -> np.ndarray:
    """(m, n) draws -> (n,) E|X - X'| over all m^2 ordered pairs of each column's draws, by the sorted-sample
    identity 2 / m^2 * sum_i (2i - m - 1) x_(i) (O(m log m))."""
    ordered = np.sort(np.asarray(draws, dtype=np.float64), axis=0)
    m = ordered.shape[0]
    return 2.0 / m**2 * ((2 * np.arange(1, m + 1) - m - 1)[:, None] * ordered).sum(axis=0)


def spread_scale(deviations: np.ndarray, center: np.ndarray, truth: np.ndarray, scale: np.ndarray) -> float:
    """The factor s >= 0 for which the draws center + s * deviations have the least mean CRPS on known values.

    deviations (m, n): each of m draws of n cells minus the cells' mean draw; center (n,) a point for each
    cell; truth (n,) the cells' values; scale (n,) the units each cell's CRPS is counted in (its column's
    standard deviation). The CRPS of the m draws (as `tabdiff.evaluation.draws.crps_ensemble` computes it) is
    (1/m) sum_k |e_k| |s - b_k| - s G / 2 per cell, with b_k = (truth - center) / e_k and G the draws' mean
    absolute difference at s = 1: convex and piecewise linear in s, so the minimiser is the weighted quantile of
    the b_k where the weights below reach (W + K) / 2 (W = sum |e_k| / m, K = sum G / 2 over cells), clipped at
    0. Exact, no grid. For draws centred on their mean, as these are, this m^2 form (not the "fair" m (m - 1)
    one, which would widen them) is also the factor that makes the truth's rank among the draws uniform when the
    shapes match (tests/inference/test_blend.py checks both)."""
    e = np.asarray(deviations, dtype=np.float64) / scale[None, :]
    m = e.shape[0]
    gini = mean_abs_difference(e)
    weight = np.abs(e) / m
    nonzero = weight > 0
    if not nonzero.any():
        return 1.0
    residual = np.broadcast_to((np.asarray(truth) - np.asarray(center)) / scale, e.shape)
    breaks = residual[nonzero] / e[nonzero]
    weight = weight[nonzero]
    order = np.argsort(breaks, kind="stable")
    cumulative = np.cumsum(weight[order])
    target = (cumulative[-1] + gini.sum() / 2.0) / 2.0
    at = min(int(np.searchsorted(cumulative, target - 1e-12 * cumulative[-1])), len(order) - 1)
    return float(max(breaks[order][at], 0.0))
