"""Conditioning patterns: which cells of a complete table are given (`known_mask` True) and which to inpaint.

The four mechanisms of Rubin's taxonomy plus the supervised-learning pattern:

- **mcar**: each cell unknown with probability p, independently of everything.
- **mar**: a few "driver" columns stay fully known; in every other column a cell's probability of being
  unknown is a logistic function of a random projection of the drivers in its row.
- **mnar**: self-masking; a cell's probability is a logistic function of its own value.
- **target**: one column (the table's natural target when it has one) is unknown on a random subset of
  query rows and every other cell is known: classification / regression as inpainting (docs/design.md).

For mar and mnar the logistic intercept of each column is solved by bisection so that the column's
*expected* unknown fraction is exactly p (a slope alone would change the rate with the data), so p means
the same thing under every mechanism: the fraction of maskable cells that are unknown (for mar the
driver columns are not maskable). The notes recommend mostly MCAR (TabImpute shipped an MCAR-only model).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit

from tabdiff.prior.draws import choose, normal_scores, standardize
from tabdiff.prior.table import MaskKind, RawTable


@dataclass(frozen=True)
class MissingnessConfig:
    weights: Mapping[MaskKind, float] = field(
        default_factory=lambda: {"mcar": 0.7, "mar": 0.1, "mnar": 0.1, "target": 0.1}
    )  # how often each mechanism is drawn
    rate_range: tuple[float, float] = (0.1, 0.6)  # unknown fraction p of the maskable cells, uniform per table
    max_driver_frac: float = 0.5  # mar: 1..max(1, floor(cols * this)) fully known driver columns
    mar_strength_range: tuple[float, float] = (0.5, 3.0)  # mar: logit slope on the standardised driver signal
    mnar_strength_range: tuple[float, float] = (1.0, 3.0)  # mnar: |logit slope| on the cell's own standardised value
    target_col_prob: float = 0.8  # target: use the table's target column when it has one, else a random column


def column_signal(rng: np.random.Generator, values: np.ndarray, n_categories: np.ndarray) -> np.ndarray:
    """(rows, cols) standardised per-cell signal for the logistic models.

    Numeric columns give rank normal scores, so a heavy tail cannot make a few outliers carry the whole
    pattern; categorical columns give a random effect per category.
    """
    signal = normal_scores(values)
    for j in np.flatnonzero(n_categories > 0):
        effect = rng.standard_normal(int(n_categories[j]))
        signal[:, j] = effect[values[:, j].astype(np.int64)]
    return standardize(signal)


def calibrated_probs(logit: np.ndarray, rate: float, n_iter: int = 30) -> np.ndarray:
    """sigmoid(logit + a_j) with a per-column intercept a_j chosen by bisection so each column's mean is `rate`.

    logit (rows, cols) -> probabilities (rows, cols). The mean is increasing in a_j, so bisection converges;
    30 halvings of a width-60+ interval leave an intercept error below 1e-7.
    """
    lo = np.full(logit.shape[1], -30.0) - logit.max(axis=0)
    hi = np.full(logit.shape[1], 30.0) - logit.min(axis=0)
    for _ in range(n_iter):
        mid = 0.5 * (lo + hi)
        too_high = expit(logit + mid).mean(axis=0) > rate
        hi, lo = np.where(too_high, mid, hi), np.where(too_high, lo, mid)
    return expit(logit + 0.5 * (lo + hi))


def mcar_mask(rng: np.random.Generator, shape: tuple[int, int], rate: float) -> np.ndarray:
    return rng.random(shape) >= rate


def mnar_mask(rng: np.random.Generator, signal: np.ndarray, rate: float, cfg: MissingnessConfig) -> np.ndarray:
    """Self-masking: P(unknown) = sigmoid(s_j * value + a_j), large (or, for s_j < 0, small) values go missing."""
    n_cols = signal.shape[1]
    slope = rng.uniform(*cfg.mnar_strength_range, n_cols) * rng.choice([-1.0, 1.0], n_cols)
    return rng.random(signal.shape) >= calibrated_probs(signal * slope, rate)


def mar_mask(
    rng: np.random.Generator, signal: np.ndarray, rate: float, cfg: MissingnessConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Missing at random given fully known drivers (needs cols >= 2). Returns (known_mask, drivers: (cols,) bool)."""
    n_rows, n_cols = signal.shape
    max_drivers = min(n_cols - 1, max(1, int(n_cols * cfg.max_driver_frac)))  # leave a column to mask
    n_drivers = int(rng.integers(1, max_drivers + 1))
    drivers = np.zeros(n_cols, dtype=bool)
    drivers[rng.choice(n_cols, size=n_drivers, replace=False)] = True
    # one random direction of the drivers per masked column: (rows, d) @ (d, m) -> (rows, m)
    proj = standardize(signal[:, drivers] @ rng.standard_normal((n_drivers, n_cols - n_drivers)))
    logit = proj * rng.uniform(*cfg.mar_strength_range, n_cols - n_drivers)
    known_mask = np.ones((n_rows, n_cols), dtype=bool)
    known_mask[:, ~drivers] = rng.random(logit.shape) >= calibrated_probs(logit, rate)
    return known_mask, drivers


def target_mask(rng: np.random.Generator, shape: tuple[int, int], rate: float, target_col: int) -> np.ndarray:
    """Column `target_col` unknown on round(rate * rows) query rows (at least 1, at most rows - 1)."""
    n_rows, n_cols = shape
    n_query = int(np.clip(round(rate * n_rows), 1, n_rows - 1))
    known_mask = np.ones(shape, dtype=bool)
    known_mask[rng.choice(n_rows, size=n_query, replace=False), target_col] = False
    return known_mask


def ensure_valid(rng: np.random.Generator, known_mask: np.ndarray, maskable: np.ndarray) -> np.ndarray:
    """Every column keeps a known cell, and at least one maskable cell is unknown. Modifies and returns known_mask.

    maskable: (cols,) bool, the columns a cell may be hidden in when none is unknown.
    """
    n_rows = known_mask.shape[0]
    for j in np.flatnonzero(~known_mask.any(axis=0)):
        known_mask[rng.integers(n_rows), j] = True
    if known_mask.all():
        j = int(rng.choice(np.flatnonzero(maskable)))
        known_mask[rng.integers(n_rows), j] = False
    return known_mask


class MaskSampler:
    """Draws a mechanism and a rate, and returns the known_mask of a complete table."""

    def __init__(self, config: MissingnessConfig | None = None) -> None:
        self.config = config or MissingnessConfig()

    def sample(self, rng: np.random.Generator, table: RawTable) -> tuple[np.ndarray, MaskKind]:
        """(known_mask (rows, cols) bool, the mechanism's name). Needs rows >= 2."""
        cfg = self.config
        kind: MaskKind = choose(rng, cfg.weights)
        rate = float(rng.uniform(*cfg.rate_range))
        shape = table.values.shape
        if shape[0] < 2:
            raise ValueError("a table needs at least 2 rows to have both a known and an unknown cell per column")
        maskable = np.ones(shape[1], dtype=bool)
        if kind == "mcar":
            known_mask = mcar_mask(rng, shape, rate)
        elif kind == "mnar":
            known_mask = mnar_mask(rng, column_signal(rng, table.values, table.n_categories), rate, cfg)
        elif kind == "mar":
            if shape[1] < 2:  # no column left to drive the pattern; fall back to its nearest relative
                kind, known_mask = "mcar", mcar_mask(rng, shape, rate)
            else:
                signal = column_signal(rng, table.values, table.n_categories)
                known_mask, drivers = mar_mask(rng, signal, rate, cfg)
                maskable = ~drivers
        elif kind == "target":
            has_target = table.target_col is not None and rng.random() < cfg.target_col_prob
            col = table.target_col if has_target else int(rng.integers(shape[1]))
            return target_mask(rng, shape, rate, int(col)), kind  # type: ignore[arg-type]
        else:
            raise ValueError(f"unknown missingness {kind!r}")
        return ensure_valid(rng, known_mask, maskable), kind
