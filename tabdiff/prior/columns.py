"""Column post-processing shared by all families: mixed types, skewed marginals, and a few oddities.

Families make continuous numeric columns. Real tables are not like that: about a fifth of their columns
are categorical (TabICL's `cat_prob` 0.2), counts and ratings are integers, money is log-normal, some
columns repeat or never vary, and one column is often a noisy function of the others (the thing someone
wanted to predict). Every step starts from standardised columns so that the transforms stay finite.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from tabdiff.prior.draws import log_uniform, standardize
from tabdiff.prior.mechanisms import MechanismConfig, apply_mechanism
from tabdiff.prior.table import RawTable

CategoricalMethod = Literal["quantile", "argmax"]
Skew = Literal["exp", "power"]


@dataclass(frozen=True)
class ColumnConfig:
    categorical_frac: float = 0.2  # mean fraction of categorical columns; per table the rate is uniform in [0, 2x]
    max_categories: int = 10  # cardinality cap K (2..K); must not exceed the encoder's max_categories (16)
    argmax_prob: float = 0.3  # categorical by argmax over random projections of a few columns, else quantile bins
    target_prob: float = 0.3  # add a "target" column that is a noisy function of others (if the family gave none)
    target_categorical_prob: float = 0.4  # a target column is categorical with this probability (classification)
    target_noise_range: tuple[float, float] = (0.01, 0.5)  # target noise std relative to its signal, log-uniform
    integer_prob: float = 0.15  # probability a numeric column is rounded to integers after a random scale
    skew_prob: float = 0.2  # probability a numeric column gets a heavy-tailed / skewed transform (exp, power)
    duplicate_prob: float = 0.05  # probability per table that one column duplicates another
    constant_prob: float = 0.02  # probability per table that one column is constant
    mechanism: MechanismConfig = field(default_factory=MechanismConfig)  # the target column's random function


def to_categorical(
    rng: np.random.Generator, x: np.ndarray, j: int, n_categories: int, method: CategoricalMethod
) -> np.ndarray:
    """Integer codes (rows,) for column j of the standardised table x; labels in random order, not yet compacted."""
    if method == "quantile":
        # cut at random quantiles: uneven class sizes, ordered by value before the labels are shuffled
        cuts = np.quantile(x[:, j], np.sort(rng.uniform(0.0, 1.0, n_categories - 1)))
        return np.searchsorted(cuts, x[:, j], side="right")
    if method == "argmax":
        # a nearest-prototype partition of (x_j, a few other columns): an unordered, multi-column category
        n_cols = x.shape[1]
        others = rng.choice(np.delete(np.arange(n_cols), j), size=min(3, n_cols - 1), replace=False)
        src = x[:, np.concatenate([[j], others])]  # (rows, s)
        w = rng.standard_normal((src.shape[1], n_categories))
        w[0] *= 2.0  # the column itself dominates, so the category still carries mostly its information
        return np.argmax(src @ w + rng.normal(0.0, 0.5, n_categories), axis=1)
    raise ValueError(f"unknown categorical method {method!r}")


def compact_codes(rng: np.random.Generator, codes: np.ndarray) -> tuple[np.ndarray, int]:
    """Relabel the categories present to 0..K'-1 in a random order; returns (codes as float, K')."""
    present, inverse = np.unique(codes, return_inverse=True)
    order = rng.permutation(len(present))
    return order[inverse].astype(np.float64), len(present)


def skew(rng: np.random.Generator, kind: Skew, x: np.ndarray) -> np.ndarray:
    """A skewed or heavy-tailed monotone-ish transform of a standardised column."""
    x = np.clip(x, -8.0, 8.0)  # bounds exp(a x) by e^12: finite even in float32
    if kind == "exp":
        return np.exp(rng.uniform(0.3, 1.5) * x)  # log-normal-like: incomes, prices, durations
    if kind == "power":
        return np.sign(x) * np.abs(x) ** rng.uniform(0.5, 3.0)
    raise ValueError(f"unknown skew {kind!r}")


class ColumnProcessor:
    """Turns a family's numeric RawTable into a mixed-type one (the same step for every family)."""

    def __init__(self, config: ColumnConfig | None = None) -> None:
        self.config = config or ColumnConfig()

    def apply(self, rng: np.random.Generator, raw: RawTable) -> RawTable:
        cfg = self.config
        x = standardize(raw.values)  # (rows, cols)
        n_rows, n_cols = x.shape
        target_col = raw.target_col
        if target_col is None and n_cols >= 2 and rng.random() < cfg.target_prob:
            target_col = int(rng.integers(n_cols))
            x[:, target_col] = self._target(rng, np.delete(x, target_col, axis=1))
        protected = set() if target_col is None else {target_col}
        constant = self._oddities(rng, x, protected)

        n_categories = np.zeros(n_cols, dtype=np.int64)
        cat_rate = min(1.0, rng.uniform(0.0, 2.0 * cfg.categorical_frac))
        make_cat = rng.random(n_cols) < cat_rate
        if target_col is not None:
            make_cat[target_col] = rng.random() < cfg.target_categorical_prob
        values = x.copy()
        for j in np.flatnonzero(make_cat & ~constant):
            k = int(rng.integers(2, min(cfg.max_categories, n_rows) + 1))
            method: CategoricalMethod = "argmax" if rng.random() < cfg.argmax_prob else "quantile"
            codes, k_present = compact_codes(rng, to_categorical(rng, x, j, k, method))
            if k_present >= 2:  # a category that never varies would be a constant column
                values[:, j], n_categories[j] = codes, k_present

        is_integer = np.zeros(n_cols, dtype=bool)
        for j in np.flatnonzero(n_categories == 0):
            if constant[j]:
                values[:, j] = np.round(rng.normal(0.0, 10.0), 2)
                continue
            col = x[:, j]
            if rng.random() < cfg.skew_prob:
                col = standardize(skew(rng, "exp" if rng.random() < 0.5 else "power", col)[:, None])[:, 0]
            if rng.random() < cfg.integer_prob:
                # counts, ratings, years: a few to a few hundred distinct values
                scale, offset = log_uniform(rng, 1.0, 30.0), float(rng.integers(-5, 100))
                values[:, j], is_integer[j] = np.round(col * scale + offset), True
            else:
                # real units vary by orders of magnitude; the encoder's quantile map undoes this
                scale = log_uniform(rng, 1e-2, 1e3)
                values[:, j] = col * scale + rng.normal(0.0, 2.0) * scale
        return replace(raw, values=values, n_categories=n_categories, is_integer=is_integer, target_col=target_col)

    def _target(self, rng: np.random.Generator, others: np.ndarray) -> np.ndarray:
        """A noisy MLP or tree function of a few of the other (standardised) columns: (rows, c) -> (rows,)."""
        n_inputs = int(rng.integers(1, min(others.shape[1], 6) + 1))
        src = others[:, rng.choice(others.shape[1], size=n_inputs, replace=False)]
        kind = "tree" if rng.random() < 0.3 else "mlp"
        signal = standardize(apply_mechanism(rng, self.config.mechanism, kind, src)[:, None])[:, 0]
        return signal + log_uniform(rng, *self.config.target_noise_range) * rng.standard_normal(len(signal))

    def _oddities(self, rng: np.random.Generator, x: np.ndarray, protected: set[int]) -> np.ndarray:
        """Occasionally overwrite a column of x in place with a copy of another or a constant.

        Returns the (cols,) bool array of constant columns.
        """
        n_cols = x.shape[1]
        free = [j for j in range(n_cols) if j not in protected]
        constant = np.zeros(n_cols, dtype=bool)
        if len(free) >= 1 and n_cols >= 2 and rng.random() < self.config.duplicate_prob:
            dst = free[int(rng.integers(len(free)))]
            src = int(rng.choice(np.delete(np.arange(n_cols), dst)))
            x[:, dst] = x[:, src]
        if len(free) >= 1 and n_cols >= 3 and rng.random() < self.config.constant_prob:
            constant[free[int(rng.integers(len(free)))]] = True
        return constant
