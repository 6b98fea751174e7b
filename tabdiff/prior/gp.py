"""Gaussian-process function tables: every column is a smooth random function of a few hidden row inputs.

Rows are points t in R^d (d small); column j is f_j(t) + noise with f_j drawn from a GP with an RBF
kernel. The GP is approximated with random Fourier features (Rahimi & Recht 2007), so a table costs
O(rows * features * cols) instead of a Cholesky of the rows x rows kernel. Columns are then related
nonlinearly through t: a smooth, low-dimensional manifold rather than a low-rank plane.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tabdiff.prior.draws import log_uniform, standardize
from tabdiff.prior.table import RawTable


@dataclass(frozen=True)
class GPConfig:
    max_input_dim: int = 3  # hidden input dimension d is uniform in 1..max_input_dim
    length_scale_range: tuple[float, float] = (0.3, 2.0)  # RBF length scale (inputs ~ N(0, I)), log-uniform
    n_features: int = 64  # random Fourier features approximating the kernel
    noise_range: tuple[float, float] = (0.01, 0.3)  # observation noise std relative to the signal, log-uniform


class GPPrior:
    """Columns f_j(t) with f_j ~ GP(0, RBF(length_scale)), via random Fourier features."""

    family = "gp"

    def __init__(self, config: GPConfig | None = None) -> None:
        self.config = config or GPConfig()

    def sample(self, rng: np.random.Generator, n_rows: int, n_cols: int) -> RawTable:
        cfg = self.config
        d = int(rng.integers(1, cfg.max_input_dim + 1))
        t = rng.standard_normal((n_rows, d))  # (rows, d) hidden inputs
        # RBF spectral density: frequencies ~ N(0, 1 / length_scale^2); one length scale per column
        length = np.array([log_uniform(rng, *cfg.length_scale_range) for _ in range(n_cols)])  # (cols,)
        omega = rng.standard_normal((n_cols, cfg.n_features, d)) / length[:, None, None]  # (cols, D, d)
        phase = rng.uniform(0.0, 2 * np.pi, (n_cols, cfg.n_features))  # (cols, D)
        amp = rng.standard_normal((n_cols, cfg.n_features))  # (cols, D)
        feats = np.cos(np.einsum("rd,cfd->rcf", t, omega) + phase)  # (rows, cols, D)
        y = standardize(np.einsum("rcf,cf->rc", feats, amp))  # (rows, cols)
        y = y + log_uniform(rng, *cfg.noise_range) * rng.standard_normal(y.shape)
        return RawTable.numeric(y)
