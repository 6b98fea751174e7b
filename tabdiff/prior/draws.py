"""Random draws and column arithmetic shared by the generator families (numpy only, vectorised)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, TypeVar

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata

Noise = Literal["gaussian", "laplace", "student_t", "uniform"]
K = TypeVar("K")


def log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """A scale drawn uniformly on the log axis, so 0.01 and 0.1 are as likely as 0.1 and 1."""
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def log_uniform_int(rng: np.random.Generator, low: int, high: int) -> int:
    """An integer in [low, high], log-uniform: small sizes are as common per octave as large ones."""
    if low >= high:
        return int(low)
    # draw on [low, high + 1) and floor, so both ends get their share
    return int(min(high, np.floor(np.exp(rng.uniform(np.log(low), np.log(high + 1))))))


def choose(rng: np.random.Generator, weights: Mapping[K, float]) -> K:
    """One key of `weights`, with probability proportional to its (non-negative) weight."""
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=np.float64)
    if (p < 0).any() or p.sum() <= 0:
        raise ValueError(f"weights must be non-negative with a positive sum, got {dict(weights)}")
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]


def pick(rng: np.random.Generator, options: Sequence[K]) -> K:
    """One of `options`, uniformly."""
    return options[int(rng.integers(len(options)))]


def noise(rng: np.random.Generator, kind: Noise, size: int | tuple[int, ...]) -> np.ndarray:
    """Zero-mean noise of unit scale with the given shape of distribution (heavy tails for laplace/student_t)."""
    if kind == "gaussian":
        return rng.standard_normal(size)
    if kind == "laplace":
        return rng.laplace(0.0, 1.0 / np.sqrt(2.0), size)
    if kind == "student_t":
        # df >= 2.5 keeps the variance finite; heavier tails than the laplace at the low end
        return rng.standard_t(rng.uniform(2.5, 10.0), size)
    if kind == "uniform":
        return rng.uniform(-np.sqrt(3.0), np.sqrt(3.0), size)
    raise ValueError(f"unknown noise kind {kind!r}")


def standardize(x: np.ndarray) -> np.ndarray:
    """Columns of `x` (rows, cols) to mean 0 and std 1; constant columns become 0 (never NaN)."""
    x = x - x.mean(axis=0, keepdims=True)
    std = x.std(axis=0, keepdims=True)
    return np.divide(x, std, out=np.zeros_like(x), where=std > 1e-12 * (1.0 + np.abs(x).max(axis=0)))


def normal_scores(x: np.ndarray) -> np.ndarray:
    """Columns of `x` (rows, cols) mapped through their ranks to N(0, 1) quantiles (tied values share one).

    The same monotone map the downstream encoder applies to numeric columns, so checks made on these
    scores see the table as the model will. A constant column maps to 0.
    """
    ranks = rankdata(x, method="average", axis=0)  # 1..rows
    return ndtri((ranks - 0.5) / x.shape[0])
