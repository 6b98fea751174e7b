"""The in-context-learning probe: regression tables from known models, where the best possible R^2 is known.

Each probe table has `n_features` standard-normal features (with random correlations) and a target drawn
from one of three families, with noise set so that the population R^2 of the true regression function is
`optimal_r2`:

- ``linear``: y = x @ beta + noise (Gaussian).
- ``glm``: a Poisson GLM, y ~ Poisson(exp(a + x @ beta)): counts, the log link, noise fixed by the mean.
  Its population R^2 is var(mu) / (var(mu) + E[mu]); `a` and |beta| are solved so that it is `optimal_r2`.
- ``tree``: a random axis-aligned tree of depth 3 on the features (Gaussian leaf values) plus Gaussian noise.

A table has `n_context` labelled rows and `n_test` test rows. Every method sees the same rows; the oracle
predicts E[y | x] exactly, so its R^2 on the test rows is the Bayes-optimal figure for that sample. The
summary divides tabdiff's R^2 by Ridge's (a practitioner's Ridge: standardized features, alpha chosen by
cross-validation) and by the oracle's, per family and context size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from sklearn.metrics import r2_score  # noqa: F401 - the probe's score, re-exported for its users

from tabdiff.evaluation.supervised import SupervisedTask

ProbeFamily = Literal["linear", "glm", "tree"]
PROBE_FAMILIES: tuple[ProbeFamily, ...] = ("linear", "glm", "tree")


@dataclass(frozen=True)
class ProbeConfig:
    families: tuple[ProbeFamily, ...] = PROBE_FAMILIES  # target models
    context_rows: tuple[int, ...] = (16, 64, 256, 1024)  # labelled rows given as context
    n_test: int = 256  # test rows per table
    n_tables: int = 4  # tables per family and context size (each with its own model and rows)
    n_features: int = 8  # features per table
    optimal_r2: float = 0.8  # population R^2 of E[y | x]

    def __post_init__(self) -> None:
        unknown = set(self.families) - set(PROBE_FAMILIES)
        if unknown:
            raise ValueError(f"unknown probe families {sorted(unknown)}; choose from {PROBE_FAMILIES}")
        if not 0 < self.optimal_r2 < 1:
            raise ValueError(f"optimal_r2 must be in (0, 1), got {self.optimal_r2}")
        if min(self.context_rows, default=2) < 2 or self.n_test < 2 or self.n_features < 1 or self.n_tables < 1:
            raise ValueError("context_rows and n_test need >= 2 rows, n_features and n_tables >= 1")


@dataclass(frozen=True)
class ProbeTask:
    """One probe table split into context (train) and test rows, with the true regression function's values."""

    name: str  # e.g. "linear#2"
    family: ProbeFamily
    n_context: int
    X_train: pd.DataFrame
    y_train: pd.Series
    X_test: pd.DataFrame
    y_test: pd.Series
    oracle_test: np.ndarray  # (n_test,) E[y | x] on the test rows

    def as_supervised(self) -> SupervisedTask:
        """The same rows as a regression task, as the evaluation's regressors take them."""
        return SupervisedTask(self.name, "regression", self.X_train, self.y_train, self.X_test, self.y_test, None)


def make_probe_tasks(config: ProbeConfig, *, seed: int = 0) -> list[ProbeTask]:
    """Every (family, context size, table) of `config`; a task depends only on (seed, family, size, index)."""
    tasks = []
    for f, family in enumerate(config.families):
        for n_context in config.context_rows:
            for index in range(config.n_tables):
                rng = np.random.default_rng([seed, f, n_context, index, 7])
                tasks.append(_task(rng, family, n_context, index, config))
    return tasks


def _task(rng: np.random.Generator, family: ProbeFamily, n_context: int, index: int, config: ProbeConfig) -> ProbeTask:
    d, n = config.n_features, n_context + config.n_test
    # the mixing matrix is drawn once per table; a large reference sample fixes the population variances
    mixing = _correlation_factor(rng, d)
    X = rng.standard_normal((n, d)) @ mixing.T
    reference = rng.standard_normal((20_000, d)) @ mixing.T
    if family == "linear":
        beta = rng.standard_normal(d)
        mu, mu_ref = X @ beta, reference @ beta
        y = mu + rng.standard_normal(n) * _noise_sd(np.var(mu_ref), config.optimal_r2)
    elif family == "tree":
        tree = _random_tree(rng, d, depth=3)
        mu, mu_ref = tree(X), tree(reference)
        y = mu + rng.standard_normal(n) * _noise_sd(np.var(mu_ref), config.optimal_r2)
    elif family == "glm":
        direction = rng.standard_normal(d)
        direction /= np.std(reference @ direction)  # a standardized linear predictor
        scale, intercept = _poisson_calibration(reference @ direction, config.optimal_r2)
        mu = np.exp(intercept + scale * (X @ direction))
        y = rng.poisson(mu).astype(np.float64)
    else:
        raise ValueError(f"unknown probe family {family!r}; choose from {PROBE_FAMILIES}")
    columns = [f"x{j}" for j in range(d)]
    frame = pd.DataFrame(X, columns=columns)
    target = pd.Series(y, name="y")
    train, test = slice(0, n_context), slice(n_context, n)
    return ProbeTask(
        name=f"{family}#{index}",
        family=family,
        n_context=n_context,
        X_train=frame.iloc[train].reset_index(drop=True),
        y_train=target.iloc[train].reset_index(drop=True),
        X_test=frame.iloc[test].reset_index(drop=True),
        y_test=target.iloc[test].reset_index(drop=True),
        oracle_test=np.asarray(mu[test], dtype=np.float64),
    )


def _correlation_factor(rng: np.random.Generator, d: int) -> np.ndarray:
    """(d, d) L with L @ L.T a random correlation matrix (unit variances, random correlations)."""
    a = rng.standard_normal((d, d)) / np.sqrt(d)
    cov = a @ a.T + np.eye(d)
    scale = np.sqrt(np.diag(cov))
    return np.linalg.cholesky(cov / scale[:, None] / scale[None, :])


def _noise_sd(signal_var: float, optimal_r2: float) -> float:
    """The noise sd that makes signal_var / (signal_var + noise_var) = optimal_r2."""
    return float(np.sqrt(signal_var * (1 - optimal_r2) / optimal_r2))


def _poisson_calibration(eta: np.ndarray, optimal_r2: float, mean_count: float = 5.0) -> tuple[float, float]:
    """(scale s, intercept a) of mu = exp(a + s * eta) with E[mu] = mean_count and var(mu) / (var(mu) + E[mu]) =
    optimal_r2, on a reference sample of the standardized linear predictor `eta` (Poisson: var(y | x) = mu)."""

    def moments(s: float) -> tuple[float, float]:
        m = np.exp(s * eta)
        a = np.log(mean_count / m.mean())
        mu = np.exp(a) * m
        return a, float(np.var(mu) / (np.var(mu) + mu.mean()))

    scale = brentq(lambda s: moments(s)[1] - optimal_r2, 1e-4, 5.0)
    return float(scale), float(moments(scale)[0])


def _random_tree(rng: np.random.Generator, d: int, depth: int):
    """A function (n, d) -> (n,): a full binary tree of `depth` random axis splits at N(0, 0.5) thresholds."""
    n_internal = 2**depth - 1
    features = rng.integers(d, size=n_internal)
    thresholds = rng.normal(0.0, 0.5, size=n_internal)
    leaves = rng.standard_normal(2**depth)

    def predict(X: np.ndarray) -> np.ndarray:
        node = np.zeros(len(X), dtype=np.int64)  # heap order: children of k are 2k+1, 2k+2
        for _ in range(depth):
            right = X[np.arange(len(X)), features[node]] > thresholds[node]
            node = 2 * node + 1 + right
        return leaves[node - n_internal]

    return predict


def probe_summary(results: pd.DataFrame, *, reference: str = "ridge", method: str = "tabdiff") -> pd.DataFrame:
    """(family, n_context) rows: each method's mean R^2 over tables, and `method`'s share of the reference's and
    of the oracle's mean R^2 (shares of means: a single table's R^2 near 0 cannot blow a ratio up)."""
    ok = results[(results.task == "icl_probe") & (results.status == "ok")]
    if ok.empty:
        return pd.DataFrame()
    ok = ok.astype({"n_context": int})  # a float column in a results frame that also holds other tasks
    means = ok.pivot_table(index=["probe_family", "n_context"], columns="method", values="r2", aggfunc="mean")
    if method in means and reference in means:
        means[f"{method} / {reference}"] = means[method] / means[reference]
    if method in means and "oracle" in means:
        means[f"{method} / oracle"] = means[method] / means["oracle"]
    return means
