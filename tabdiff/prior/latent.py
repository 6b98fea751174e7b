"""Low-rank latent-factor tables: Y = f(U V^T) + noise (TabImpute's `LatentFactorPrior` / `NonLinearFactorPrior`).

Every cell is a function of a few row factors and a few column factors, so each column is predictable
from the others through the shared row factors: the cheapest signal for in-context imputation, and the
prior TabImpute's shipped model was trained on alone (TabImpute, 2025: 5-30 x 5-30 tables of this family).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import betainc, expit

from tabdiff.prior.draws import log_uniform, pick, standardize
from tabdiff.prior.table import RawTable

LatentDist = Literal["gaussian", "laplace", "student_t", "spike_slab", "dirichlet"]
Warp = Literal["tanh", "sigmoid", "relu2", "cubic", "fourier"]


@dataclass(frozen=True)
class LatentFactorConfig:
    max_rank: int = 11  # rank r is uniform in 1..min(max_rank, cols)
    latent_dists: tuple[LatentDist, ...] = ("gaussian", "laplace", "student_t", "spike_slab", "dirichlet")
    warp_prob: float = 0.4  # probability of a nonlinear warp Y = f(U V^T)
    warps: tuple[Warp, ...] = ("tanh", "sigmoid", "relu2", "cubic", "fourier")
    beta_warp_prob: float = 0.3  # probability of Beta-CDF marginal warping (then applied to a random half of columns)
    noise_range: tuple[float, float] = (0.01, 0.3)  # noise std relative to the signal's, log-uniform


def latent_matrix(rng: np.random.Generator, dist: LatentDist, n: int, rank: int) -> np.ndarray:
    """(n, rank) latent factors, one distribution for the whole matrix."""
    if dist == "gaussian":
        return rng.standard_normal((n, rank))
    if dist == "laplace":
        return rng.laplace(0.0, 1.0, (n, rank))
    if dist == "student_t":
        return rng.standard_t(rng.uniform(2.0, 10.0), (n, rank))
    if dist == "spike_slab":
        # sparse factors: each entry is 0 or a wide gaussian, so rows load on few factors
        return (rng.random((n, rank)) < 0.5) * rng.normal(0.0, 3.0, (n, rank))
    if dist == "dirichlet":
        # mixed membership (topic-model-like rows), centred so factors are not all positive; one
        # extra component is dropped, else rank 1 would be the constant 1 (and any rank sum to 1)
        return rng.dirichlet(np.full(rank + 1, rng.uniform(0.2, 2.0)), n)[:, :rank] - 1.0 / (rank + 1)
    raise ValueError(f"unknown latent distribution {dist!r}")


def warp(rng: np.random.Generator, kind: Warp, y: np.ndarray) -> np.ndarray:
    """An elementwise nonlinearity of the standardised low-rank signal `y`."""
    y = y * rng.uniform(0.5, 2.0)  # how far into the nonlinearity the signal reaches
    if kind == "tanh":
        return np.tanh(y)
    if kind == "sigmoid":
        return expit(y + rng.normal())
    if kind == "relu2":
        return np.maximum(y + rng.normal(0.0, 0.5), 0.0) ** 2
    if kind == "cubic":
        a = rng.normal(size=3)
        return a[0] * y + a[1] * y**2 + a[2] * y**3
    if kind == "fourier":
        # a random smooth 1-D function: a few random Fourier features (an approximate GP draw)
        n_feat = int(rng.integers(2, 9))
        w, b, a = rng.normal(0.0, 1.0, n_feat), rng.uniform(0, 2 * np.pi, n_feat), rng.normal(size=n_feat)
        return np.cos(y[..., None] * w + b) @ a
    raise ValueError(f"unknown warp {kind!r}")


def beta_cdf_warp(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """Skew or sharpen one column's marginal through a Beta(a, b) CDF of its min-max-scaled values."""
    lo, hi = x.min(), x.max()
    if hi - lo < 1e-12:
        return x
    u = (x - lo) / (hi - lo)
    a, b = rng.uniform(0.5, 5.5, 2)
    return betainc(a, b, u)


class LatentFactorPrior:
    """Y = f(U V^T / sqrt(r)) + noise with heavy-tailed U, V, optional warps."""

    family = "latent_factor"

    def __init__(self, config: LatentFactorConfig | None = None) -> None:
        self.config = config or LatentFactorConfig()

    def sample(self, rng: np.random.Generator, n_rows: int, n_cols: int) -> RawTable:
        cfg = self.config
        rank = int(rng.integers(1, min(cfg.max_rank, n_cols) + 1))
        u = latent_matrix(rng, pick(rng, cfg.latent_dists), n_rows, rank)  # (rows, r)
        v = latent_matrix(rng, pick(rng, cfg.latent_dists), n_cols, rank)  # (cols, r)
        y = standardize(u @ v.T)  # (rows, cols)
        if rng.random() < cfg.warp_prob:
            y = standardize(warp(rng, pick(rng, cfg.warps), y))
        if rng.random() < cfg.beta_warp_prob:
            for j in np.flatnonzero(rng.random(n_cols) < 0.5):
                y[:, j] = beta_cdf_warp(rng, y[:, j])
            y = standardize(y)
        y = y + log_uniform(rng, *cfg.noise_range) * rng.standard_normal(y.shape)
        return RawTable.numeric(y)
