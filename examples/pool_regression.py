"""Multiple imputation for analysts: fit a regression on m imputed tables and pool it with Rubin's rules.

    python examples/pool_regression.py            # airquality (bundled): Ozone ~ Solar.R + Wind + Temp, m = 20

Each of the m tables from `TabDiffImputer().sample(df, m)` is one draw of the missing cells (by default the
conditional sampler's, centred on the one-pass point); the analysis (here ordinary least squares in plain numpy)
runs on each, and Rubin's rules combine the m estimates: the pooled coefficient is their mean, its variance the mean
within-table variance plus (1 + 1/m) times the between-table variance of the estimates. Confidence intervals use
Barnard & Rubin's degrees of freedom. One imputed table (or the one-pass mean) would understate the uncertainty.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats


def ols(frame: pd.DataFrame, target: str, features: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """(coefficients, their variances, residual degrees of freedom) of target ~ 1 + features."""
    x = np.column_stack([np.ones(len(frame)), frame[features].to_numpy(dtype=np.float64)])
    y = frame[target].to_numpy(dtype=np.float64)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    dof = len(y) - x.shape[1]
    sigma2 = float(((y - x @ coef) ** 2).sum() / dof)
    return coef, sigma2 * np.diag(np.linalg.inv(x.T @ x)), dof


def rubin(estimates: np.ndarray, variances: np.ndarray, dof_complete: int, level: float = 0.95) -> pd.DataFrame:
    """Pool (m, p) estimates and within-table variances: estimate, standard error, interval, fraction missing."""
    m = estimates.shape[0]
    pooled = estimates.mean(axis=0)
    within = variances.mean(axis=0)
    between = estimates.var(axis=0, ddof=1) if m > 1 else np.zeros_like(pooled)
    total = within + (1 + 1 / m) * between
    lam = np.where(total > 0, (1 + 1 / m) * between / total, 0.0)  # fraction of information missing
    dof_old = (m - 1) / np.maximum(lam, 1e-12) ** 2
    dof_obs = (dof_complete + 1) / (dof_complete + 3) * dof_complete * (1 - lam)
    dof = 1 / (1 / dof_old + 1 / dof_obs)  # Barnard & Rubin (1999)
    half = stats.t.ppf((1 + level) / 2, dof) * np.sqrt(total)
    return pd.DataFrame(
        {"estimate": pooled, "std_error": np.sqrt(total), "low": pooled - half, "high": pooled + half,
         "missing_info": lam, "dof": dof}
    )  # fmt: skip


def pool_ols(imputations: list[pd.DataFrame], target: str, features: list[str]) -> pd.DataFrame:
    fits = [ols(frame, target, features) for frame in imputations]
    estimates, variances = np.stack([f[0] for f in fits]), np.stack([f[1] for f in fits])
    table = rubin(estimates, variances, fits[0][2])
    table.index = ["intercept", *features]
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-m", type=int, default=20, help="imputations")
    parser.add_argument("--checkpoint", default=None, help="default: the bundled checkpoint")
    args = parser.parse_args()
    from tabdiff import TabDiffImputer

    table = Path(__file__).resolve().parents[1] / "data" / "tables" / "airquality.parquet"
    df = pd.read_parquet(table)[["Ozone", "Solar.R", "Wind", "Temp"]]
    print(f"airquality: {len(df)} rows, missing cells per column: {df.isna().sum().to_dict()}")
    imputer = TabDiffImputer(args.checkpoint, progress=False, random_state=0)
    imputations = imputer.fit(df).sample(df, args.m)
    pooled = pool_ols(imputations, "Ozone", ["Solar.R", "Wind", "Temp"])
    complete = pool_ols([df.dropna()], "Ozone", ["Solar.R", "Wind", "Temp"])
    print(f"\npooled over m = {args.m} imputations (Rubin's rules):")
    print(pooled.round(4).to_string())
    print(f"\ncomplete cases only ({len(df.dropna())} rows):")
    print(complete[["estimate", "std_error"]].round(4).to_string())


if __name__ == "__main__":
    main()
