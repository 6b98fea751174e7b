"""Gaussian-mixture tables: rows drawn from a few clusters, each with its own full covariance.

The simplest family with a non-trivial joint: within a cluster the columns are linearly related, and the
cluster identity couples all columns at once (a hidden categorical cause), so a row's known cells say
which cluster it is in and hence where its unknown cells lie.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tabdiff.prior.draws import standardize
from tabdiff.prior.table import RawTable


@dataclass(frozen=True)
class MixtureConfig:
    max_components: int = 6  # number of clusters is uniform in 1..max_components
    separation_range: tuple[float, float] = (0.5, 4.0)  # std of cluster means (in units of a cluster's spread), uniform
    concentration_range: tuple[float, float] = (
        0.5,
        5.0,
    )  # Dirichlet concentration of cluster weights (low = unbalanced)
    max_rank_frac: float = 1.0  # covariance factor A is (cols, r) with r uniform in 1..cols*max_rank_frac


class GaussianMixturePrior:
    """x = mu_z + A_z e, z ~ Categorical(pi), e ~ N(0, I): each cluster has a random full covariance A_z A_z^T."""

    family = "mixture"

    def __init__(self, config: MixtureConfig | None = None) -> None:
        self.config = config or MixtureConfig()

    def sample(self, rng: np.random.Generator, n_rows: int, n_cols: int) -> RawTable:
        cfg = self.config
        k = int(rng.integers(1, cfg.max_components + 1))
        weights = rng.dirichlet(np.full(k, rng.uniform(*cfg.concentration_range)))
        z = rng.choice(k, size=n_rows, p=weights)  # (rows,)
        means = rng.normal(0.0, rng.uniform(*cfg.separation_range), (k, n_cols))  # (k, cols)
        rank = int(rng.integers(1, max(1, int(n_cols * cfg.max_rank_frac)) + 1))
        # low-rank-plus-diagonal factors: correlated columns with a little independent spread each
        a = rng.standard_normal((k, n_cols, rank)) / np.sqrt(rank)  # (k, cols, r)
        diag = rng.uniform(0.05, 0.5, (k, n_cols))  # (k, cols)
        e = rng.standard_normal((n_rows, rank))  # (rows, r)
        x = means[z] + np.einsum("ncr,nr->nc", a[z], e) + diag[z] * rng.standard_normal((n_rows, n_cols))
        return RawTable.numeric(standardize(x))
