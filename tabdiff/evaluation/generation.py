"""Baselines and quality metrics for generated (synthetic) tables.

Baselines (`generate_baseline`) learn from a real table and return complete rows with its columns and dtypes:

- ``copula``: a Gaussian copula. Each numeric column maps to normal scores through its ranks and back through
  its empirical quantiles (interpolated); each category owns an interval of the column's CDF as wide as its
  frequency (in the declared order of a pandas categorical, else most frequent first). The correlation of the
  normal scores (pairwise-complete) ties the columns together.
- ``bootstrap``: real rows drawn with replacement, numeric cells jittered by 0.1 x the column's std.
- ``smote``: SMOTE-style interpolation between a random real row and one of its 5 nearest neighbours.

Missing cells of a drawn row (bootstrap, smote) take a random observed value of their column. Integer columns
are rounded and clipped to their observed range; categorical columns only take observed values.

Metrics (`generation_metrics`) compare the synthetic rows with the real rows the generator saw (train) and, for
utility and privacy, with real rows it never saw (holdout):

- fidelity: ``ks`` (mean two-sample KS statistic over numeric columns), ``tv`` (mean total variation distance of
  category frequencies), ``assoc_diff`` (mean absolute change of the pairwise associations: Spearman for two
  numbers, Cramer's V for two categories, the correlation ratio eta for a number and a category), and
  ``c2st_auc`` (cross-validated ROC-AUC of a classifier telling real holdout rows from synthetic rows; 0.5 =
  indistinguishable). The real side is the holdout, not train: against train, near-copies of train rows score
  well below 0.5 (a held-out train row's twin sits in the training folds labelled synthetic), which would reward
  copying. Complete synthetic rows take the gaps of random holdout rows first, so filled gaps do not give them away.
- utility (with a target): ``mle_real`` / ``mle_synthetic``, the holdout accuracy or R^2 of HistGradientBoosting
  trained on train / on synthetic rows, and their ratio ``mle_ratio``.
- privacy: ``dcr_synthetic`` / ``dcr_holdout``, the median distance to the closest train row of the synthetic /
  holdout rows, their ratio ``dcr_ratio`` (about 1: synthetic rows sit no closer to train than fresh real rows),
  and the shares of synthetic / holdout rows that are exact copies of a train row.

An association that cannot be measured (a constant column, fewer than two complete rows) counts as 0.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp, norm, rankdata
from scipy.stats.contingency import association
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from tabdiff.evaluation.zero_shot import is_numeric_column

GenerationBaselineName = Literal["copula", "bootstrap", "smote"]
Task = Literal["classification", "regression"]
GENERATION_BASELINES: tuple[GenerationBaselineName, ...] = ("copula", "bootstrap", "smote")

JITTER_SCALE = 0.1  # bootstrap: Gaussian noise std as a fraction of the column std
SMOTE_NEIGHBORS = 5  # smote: k of the k nearest neighbours to interpolate towards
C2ST_MAX_ROWS = 2_000  # detection: rows per side, the larger side subsampled to the smaller
C2ST_FOLDS = 5
HGB_MAX_CATEGORIES = 255  # HistGradientBoosting's native categories are capped at max_bins (255 by default)
OTHER = "<other>"  # the category that stands in for the rarest values of a column over HGB_MAX_CATEGORIES


# --- columns -------------------------------------------------------------------------------------------------


def _values(series: pd.Series, numeric: bool) -> np.ndarray:
    """A column as float64 (numeric, NaN = missing) or object (categorical, None = missing); always a copy."""
    if numeric:
        return series.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    return series.astype(object).where(series.notna(), None).to_numpy(dtype=object, copy=True)


def _observed(series: pd.Series, numeric: bool) -> np.ndarray:
    values = _values(series, numeric)
    return values[~pd.isna(values)]


def _fill_missing(values: np.ndarray, observed: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`values` with each missing cell replaced by a random observed value (frequency-weighted)."""
    missing = pd.isna(values)
    values[missing] = rng.choice(observed, size=int(missing.sum()))
    return values


def _as_object(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(object).where(frame.notna(), np.nan)


def _unit_mismatch(onehot: np.ndarray) -> np.ndarray:
    # two differing one-hot vectors are sqrt(2) apart; scaled, a category mismatch weighs like 1 std of a number
    return onehot / np.sqrt(2.0)


def _feature_space(frame: pd.DataFrame) -> ColumnTransformer:
    """Unfitted: standardized numbers and scaled one-hot categories, missing cells mean / mode filled."""
    numeric = [c for c in frame.columns if is_numeric_column(frame[c])]
    categorical = [c for c in frame.columns if c not in numeric]
    categories = make_pipeline(
        FunctionTransformer(_as_object),  # SimpleImputer reads pandas categories poorly
        SimpleImputer(strategy="most_frequent"),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False),
        FunctionTransformer(_unit_mismatch),
    )
    return ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()), numeric),
            ("cat", categories, categorical),
        ]
    )


# --- baselines -----------------------------------------------------------------------------------------------


def generate_baseline(name: GenerationBaselineName, real: pd.DataFrame, n_rows: int, *, seed: int) -> pd.DataFrame:
    """`n_rows` complete synthetic rows from baseline `name`, with `real`'s columns and dtypes and a RangeIndex."""
    samplers = {"copula": _copula, "bootstrap": _bootstrap, "smote": _smote}
    if name not in samplers:
        raise ValueError(f"unknown generation baseline {name!r}; choose from {GENERATION_BASELINES}")
    if n_rows < 0:
        raise ValueError(f"n_rows must be >= 0, got {n_rows}")
    empty = [c for c in real.columns if not real[c].notna().any()]
    if len(real) == 0 or empty:
        raise ValueError(f"every column needs an observed value to generate from; empty columns: {empty}")
    columns = samplers[name](real, n_rows, np.random.default_rng(seed))
    return _like(real, columns, n_rows)


def _like(real: pd.DataFrame, columns: dict[str, np.ndarray], n_rows: int) -> pd.DataFrame:
    """Generated columns cast back to `real`'s dtypes; integers rounded and clipped to their observed range."""
    out = {}
    for column in real.columns:
        series, values = real[column], columns[column]
        if is_numeric_column(series):
            if pd.api.types.is_integer_dtype(series.dtype):
                observed = _observed(series, numeric=True)
                values = np.clip(np.rint(values), observed.min(), observed.max())
            out[column] = pd.Series(values, dtype=np.float64).astype(series.dtype)
        else:
            out[column] = pd.Series(values, dtype=object).astype(series.dtype)
    return pd.DataFrame(out, columns=real.columns, index=pd.RangeIndex(n_rows))


def _copula(real: pd.DataFrame, n_rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    scores, inverses = [], []  # per column: (rows,) normal scores, NaN = missing; the map from uniforms back
    for column in real.columns:
        numeric = is_numeric_column(real[column])
        values = _values(real[column], numeric)
        known = ~pd.isna(values)
        z = np.full(len(real), np.nan)
        if numeric:
            observed = values[known]
            z[known] = norm.ppf(rankdata(observed) / (len(observed) + 1))  # ranks -> (0, 1), ties averaged
            inverses.append(lambda u, observed=observed: np.quantile(observed, u))  # interpolated quantiles
        else:
            counts = pd.Series(values[known], dtype=object).value_counts()  # most frequent first
            if isinstance(real[column].dtype, pd.CategoricalDtype):  # a declared order (lo < mid < hi) is kept
                counts = counts.reindex([c for c in real[column].cat.categories if c in counts.index])
            upper = np.cumsum(counts.to_numpy()) / counts.sum()  # category k owns the CDF interval [upper_k-1, upper_k)
            lower = np.concatenate([[0.0], upper[:-1]])
            k = counts.index.get_indexer(pd.Index(values[known], dtype=object))
            u = rng.uniform(lower[k], upper[k])  # a normal score drawn inside the category's interval
            z[known] = norm.ppf(np.clip(u, 1e-9, 1 - 1e-9))
            categories = counts.index.to_numpy(dtype=object)
            inverses.append(
                lambda u, upper=upper, categories=categories: categories[
                    np.minimum(np.searchsorted(upper, u, side="right"), len(categories) - 1)
                ]
            )
        scores.append(z)
    corr = pd.DataFrame(np.stack(scores, axis=1)).corr().fillna(0.0).to_numpy(copy=True)  # pairwise-complete
    np.fill_diagonal(corr, 1.0)  # a constant column: correlation NaN -> independent
    z = rng.multivariate_normal(np.zeros(len(scores)), _nearest_correlation(corr), size=n_rows, method="eigh")
    u = norm.cdf(z)  # (n_rows, cols)
    return {column: inverse(u[:, j]) for j, (column, inverse) in enumerate(zip(real.columns, inverses, strict=True))}


def _nearest_correlation(corr: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    """`corr` itself if positive definite, else its eigenvalues clipped at `floor` and the diagonal reset to 1."""
    eigenvalues, eigenvectors = np.linalg.eigh(corr)
    if eigenvalues.min() >= floor:
        return corr
    clipped = (eigenvectors * np.maximum(eigenvalues, floor)) @ eigenvectors.T
    scale = 1.0 / np.sqrt(np.diag(clipped))
    return clipped * np.outer(scale, scale)


def _bootstrap(real: pd.DataFrame, n_rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    rows = rng.integers(len(real), size=n_rows)
    out = {}
    for column in real.columns:
        numeric = is_numeric_column(real[column])
        observed = _observed(real[column], numeric)
        values = _fill_missing(_values(real[column], numeric)[rows], observed, rng)
        if numeric:
            values = values + rng.normal(scale=JITTER_SCALE * observed.std(), size=n_rows)
        out[column] = values
    return out


def _smote(real: pd.DataFrame, n_rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    start = rng.integers(len(real), size=n_rows)
    k = min(SMOTE_NEIGHBORS, len(real) - 1)
    if k > 0:
        features = _feature_space(real).fit_transform(real)  # (rows, features)
        neighbors = NearestNeighbors(n_neighbors=k + 1).fit(features).kneighbors(features, return_distance=False)
        end = neighbors[start, 1 + rng.integers(k, size=n_rows)]  # column 0 is the row itself
    else:
        end = start
    u = rng.random(n_rows)
    out = {}
    for column in real.columns:
        numeric = is_numeric_column(real[column])
        observed, values = _observed(real[column], numeric), _values(real[column], numeric)
        a = _fill_missing(values[start], observed, rng)
        b = _fill_missing(values[end], observed, rng)
        out[column] = a + u * (b - a) if numeric else np.where(u < 0.5, a, b)
    return out


# --- metrics -------------------------------------------------------------------------------------------------


def generation_metrics(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    target: str | None = None,
    task: Task | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Fidelity, utility and privacy of `synthetic` rows (see the module docstring); NaN where not applicable.

    Column kinds come from `train`; `task` defaults to regression for a numeric target, classification otherwise.
    """
    columns = list(train.columns)
    for name, frame in (("holdout", holdout), ("synthetic", synthetic)):
        lacking = [c for c in columns if c not in frame.columns]
        if lacking:
            raise ValueError(f"{name} lacks the train columns {lacking}")
    holdout, synthetic = holdout[columns], synthetic[columns]
    numeric = [c for c in columns if is_numeric_column(train[c])]
    categorical = [c for c in columns if c not in numeric]
    metrics = {
        "ks": _mean([_ks(train[c], synthetic[c]) for c in numeric]),
        "tv": _mean([_total_variation(train[c], synthetic[c]) for c in categorical]),
        "assoc_diff": _assoc_diff(train, synthetic, numeric, categorical),
        "c2st_auc": _c2st_auc(holdout, synthetic, numeric, categorical, seed),
    }
    metrics.update(_mle(train, holdout, synthetic, numeric, target, task, seed))
    metrics.update(_privacy(train, holdout, synthetic, numeric))
    return {key: float(value) for key, value in metrics.items()}


def _mean(values: list[float]) -> float:
    values = [v for v in values if not np.isnan(v)]
    return float(np.mean(values)) if values else np.nan


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator != 0 and np.isfinite(denominator) else np.nan


def _ks(real: pd.Series, synthetic: pd.Series) -> float:
    a, b = _observed(real, numeric=True), _observed(synthetic, numeric=True)
    if not (len(a) and len(b)):
        return np.nan
    with warnings.catch_warnings():  # "exact calculation unsuccessful": only the p-value, unused here, is affected
        warnings.simplefilter("ignore", RuntimeWarning)
        return ks_2samp(a, b).statistic


def _total_variation(real: pd.Series, synthetic: pd.Series) -> float:
    p = real.astype(object).value_counts(normalize=True)
    q = synthetic.astype(object).value_counts(normalize=True)
    return 0.5 * p.sub(q, fill_value=0.0).abs().sum() if len(p) and len(q) else np.nan


def _assoc_diff(train: pd.DataFrame, synthetic: pd.DataFrame, numeric: list[str], categorical: list[str]) -> float:
    if len(numeric) + len(categorical) < 2:
        return np.nan
    diff = np.abs(_associations(train, numeric, categorical) - _associations(synthetic, numeric, categorical))
    return float(diff[np.triu_indices_from(diff, k=1)].mean())


def _associations(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> np.ndarray:
    """(cols, cols) pairwise associations over pairwise-complete rows, numeric columns first; unmeasurable = 0."""
    numbers = np.stack([_values(frame[c], numeric=True) for c in numeric], axis=1) if numeric else None
    codes = [pd.factorize(_values(frame[c], numeric=False), use_na_sentinel=True)[0] for c in categorical]
    d = len(numeric) + len(categorical)
    out = np.zeros((d, d))
    if numeric:
        out[: len(numeric), : len(numeric)] = pd.DataFrame(numbers).corr(method="spearman").to_numpy()
    for i, a in enumerate(codes):
        for j in range(len(numeric)):
            out[j, len(numeric) + i] = _correlation_ratio(a, numbers[:, j])
        for j, b in enumerate(codes[:i]):
            out[len(numeric) + j, len(numeric) + i] = _cramers_v(a, b)
    return np.nan_to_num(out, nan=0.0)


def _cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Cramer's V (no bias correction) of two code arrays (-1 = missing)."""
    both = (a >= 0) & (b >= 0)
    a, b = a[both], b[both]
    if not len(a):
        return 0.0
    width = b.max() + 1
    table = np.bincount(a * width + b, minlength=(a.max() + 1) * width).reshape(-1, width)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]  # categories that co-occur with a known cell
    return association(table, method="cramer") if min(table.shape) > 1 else 0.0


def _correlation_ratio(codes: np.ndarray, y: np.ndarray) -> float:
    """eta = sqrt(between-group / total sum of squares) of numbers `y` grouped by `codes` (-1 = missing)."""
    both = (codes >= 0) & ~np.isnan(y)
    codes, y = codes[both], y[both]
    total = ((y - y.mean()) ** 2).sum() if len(y) else 0.0
    if total <= 0:
        return 0.0
    counts = np.bincount(codes)
    means = np.bincount(codes, weights=y)[counts > 0] / counts[counts > 0]
    between = (counts[counts > 0] * (means - y.mean()) ** 2).sum()
    return float(np.sqrt(min(between / total, 1.0)))


def _hgb_features(frames: list[pd.DataFrame], numeric: list[str], categorical: list[str]) -> list[pd.DataFrame]:
    """`frames` as HistGradientBoosting reads them: numbers float64, each categorical column one `category` dtype
    shared by all frames (values past the HGB_MAX_CATEGORIES - 1 most frequent lumped into OTHER)."""
    out = [pd.DataFrame({c: _values(frame[c], numeric=True) for c in numeric}, index=frame.index) for frame in frames]
    for column in categorical:
        values = [_values(frame[column], numeric=False) for frame in frames]
        counts = pd.Series(np.concatenate(values), dtype=object).value_counts()
        lump = len(counts) > HGB_MAX_CATEGORIES
        kept = counts.index[: HGB_MAX_CATEGORIES - 1] if lump else counts.index
        dtype = pd.CategoricalDtype(kept.append(pd.Index([OTHER], dtype=object)) if lump else kept)
        for features, v in zip(out, values, strict=True):
            if lump:
                v = np.where(pd.isna(v) | pd.Index(v, dtype=object).isin(kept), v, OTHER)
            features[column] = pd.Categorical(v, dtype=dtype)
    return out


def _c2st_auc(
    real: pd.DataFrame, synthetic: pd.DataFrame, numeric: list[str], categorical: list[str], seed: int
) -> float:
    n = min(len(real), len(synthetic), C2ST_MAX_ROWS)
    if n < C2ST_FOLDS:
        return np.nan
    rng = np.random.default_rng(seed)
    real_rows = real.iloc[rng.choice(len(real), n, replace=False)]
    fake_rows = synthetic.iloc[rng.choice(len(synthetic), n, replace=False)]
    if not fake_rows.isna().any().any():
        # complete synthetic rows take the gaps of random real rows: the classifier judges values, not filled gaps
        fake_rows = fake_rows.mask(real_rows.isna().to_numpy()[rng.permutation(n)])
    real_x, fake_x = _hgb_features([real_rows, fake_rows], numeric, categorical)
    x = pd.concat([real_x, fake_x], ignore_index=True)
    is_synthetic = np.repeat([0, 1], n)
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=seed)
    folds = StratifiedKFold(C2ST_FOLDS, shuffle=True, random_state=seed)
    return cross_val_score(model, x, is_synthetic, cv=folds, scoring="roc_auc").mean()


def _mle(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    numeric: list[str],
    target: str | None,
    task: Task | None,
    seed: int,
) -> dict[str, float]:
    """Machine-learning efficacy: holdout accuracy / R^2 of HistGradientBoosting trained on train vs synthetic."""
    nan = {"mle_real": np.nan, "mle_synthetic": np.nan, "mle_ratio": np.nan}
    if target is None:
        return nan
    if target not in train.columns:
        raise ValueError(f"target {target!r} is not a column of train")
    task = task or ("regression" if target in numeric else "classification")
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    features = [c for c in train.columns if c != target]
    if not features:
        return nan
    frames = [frame[frame[target].notna()] for frame in (train, synthetic, holdout)]
    if min(len(frame) for frame in frames) == 0:
        return nan
    xs = _hgb_features(frames, [c for c in numeric if c != target], [c for c in features if c not in numeric])
    ys = [_values(frame[target], numeric=task == "regression") for frame in frames]
    if task == "classification":  # shared integer labels: sklearn rejects object arrays of bools or mixed types
        codes = pd.factorize(np.concatenate(ys))[0]
        ys = np.split(codes, np.cumsum([len(y) for y in ys])[:-1])
    model_cls, score = (
        (HistGradientBoostingRegressor, r2_score)
        if task == "regression"
        else (HistGradientBoostingClassifier, accuracy_score)
    )
    scores = []
    for x, y in zip(xs[:2], ys[:2], strict=True):
        model = model_cls(categorical_features="from_dtype", random_state=seed).fit(x, y)
        scores.append(score(ys[2], model.predict(xs[2])))
    return {"mle_real": scores[0], "mle_synthetic": scores[1], "mle_ratio": _ratio(scores[1], scores[0])}


def _privacy(
    train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, numeric: list[str]
) -> dict[str, float]:
    """Distance to the closest train row (DCR) and exact copies, synthetic vs the holdout reference."""
    space = _feature_space(train).fit(train)
    nearest = NearestNeighbors(n_neighbors=1).fit(space.transform(train))

    def median_dcr(rows: pd.DataFrame) -> float:
        return float(np.median(nearest.kneighbors(space.transform(rows))[0])) if len(rows) else np.nan

    dcr_synthetic, dcr_holdout = median_dcr(synthetic), median_dcr(holdout)
    return {
        "dcr_synthetic": dcr_synthetic,
        "dcr_holdout": dcr_holdout,
        "dcr_ratio": _ratio(dcr_synthetic, dcr_holdout),
        "exact_copies": _copy_share(synthetic, train, numeric),
        "holdout_exact_copies": _copy_share(holdout, train, numeric),
    }


def _copy_share(rows: pd.DataFrame, train: pd.DataFrame, numeric: list[str]) -> float:
    """Share of `rows` equal in every column to some train row: numbers as float64, exactly; NaN matches NaN."""
    if not len(rows):
        return np.nan

    def canonical(frame: pd.DataFrame) -> pd.DataFrame:  # positional column labels: "_merge" cannot collide
        return pd.DataFrame({j: _values(frame[c], c in numeric) for j, c in enumerate(frame.columns)})

    keys = canonical(train).drop_duplicates()
    merged = canonical(rows).merge(keys, how="left", on=list(keys.columns), indicator=True)
    return float((merged["_merge"] == "both").mean())
