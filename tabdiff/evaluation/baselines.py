"""The baselines a user would reach for instead of tabdiff, all from scikit-learn.

Imputers take the table as given (NaN = unknown) and return it complete, known cells untouched:

- ``mean``: the column mean (numeric) or mode (categorical).
- ``knn``: ``KNNImputer`` on standardized columns.
- ``mice``: ``IterativeImputer(BayesianRidge)``, the usual MICE stand-in.
- ``missforest``: ``IterativeImputer(RandomForestRegressor)``, the usual MissForest stand-in.
- ``mice+knn``: MICE and KNN blended per table as ``TabDiffImputer(blend=("mice", "knn"))`` blends them with the
  model (`tabdiff.experts.blend`), without the model: what the blend gives without pretraining.

The sklearn imputers work on numbers, so categorical columns are ordinal-coded (codes in the category
order), imputed as numbers, then rounded and clipped back to a category. For mean/mode the categorical
fill is the mode, not a rounded mean.

Supervised baselines are pipelines that take the raw mixed-type features, set up as a practitioner would:
``logreg`` / ``ridge`` and ``rf`` (median / mode imputation, one-hot categories, standardized numbers; ridge's
alpha chosen by leave-one-out cross-validation over `RIDGE_ALPHAS`), ``hgb`` (native NaN and category
handling). ``hgb`` also gives intervals through two quantile-loss models.

``hyperimpute`` and ``tabpfn`` are accepted names that are always skipped (`MethodUnavailable`, a "skipped"
row in the results), for the reasons in `UNAVAILABLE`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, OrdinalEncoder, StandardScaler

from tabdiff.evaluation.zero_shot import is_numeric_column
from tabdiff.experts.blend import CLASSICAL, classical_imputer, fill_matrix, fit_blend, holdout_mask

# checked with `pip download --no-deps` and the wheels' metadata (hyperimpute 0.1.17, tabpfn 0.1.9 / 0.1.11)
UNAVAILABLE = {
    "hyperimpute": "hyperimpute does not install cleanly here: it requires miracle-imputation (which pulls "
    "tensorflow), xgboost (whose Linux wheel pulls nvidia-nccl-cu12), catboost, lightgbm, jupyter and notebook",
    "tabpfn": "no tabpfn release ships its weights inside the package: the 0.1.x wheels (~150 kB) download the "
    "checkpoint on first use and 2.x fetches it from Hugging Face, which this machine cannot reach",
}


class MethodUnavailable(RuntimeError):
    """A method that cannot run in this install (recorded in the results as skipped, not as a failure)."""


ImputerName = Literal["mean", "knn", "mice", "missforest", "mice+knn"]
ClassifierName = Literal["logreg", "rf", "hgb"]
RegressorName = Literal["ridge", "rf", "hgb"]
IMPUTERS: tuple[ImputerName, ...] = ("mean", "knn", "mice", "missforest", "mice+knn")
BLEND_HOLDOUT = 0.1  # share of known numeric cells hidden to fit a blend's weights (TabDiffImputer's default)
CLASSIFIERS: tuple[ClassifierName, ...] = ("logreg", "rf", "hgb")
REGRESSORS: tuple[RegressorName, ...] = ("ridge", "rf", "hgb")


RIDGE_ALPHAS = np.logspace(-3, 3, 13)  # ridge: the penalty a practitioner tunes, by efficient leave-one-out CV


@dataclass(frozen=True)
class BaselineOptions:
    knn_neighbors: int = 5  # KNNImputer n_neighbors
    mice_max_iter: int = 10  # IterativeImputer rounds for MICE
    forest_trees: int = 100  # trees per column model (MissForest) and in the rf baselines
    forest_max_iter: int = 10  # IterativeImputer rounds for MissForest (it stops early at tol)


# --- imputation ----------------------------------------------------------------------------------------------


def impute_mean_mode(given: pd.DataFrame) -> pd.DataFrame:
    """Numeric columns: the known mean; other columns: the known mode."""
    fills = {}
    for column in given.columns:
        series = given[column]
        if series.notna().any():
            fills[column] = series.mean() if is_numeric_column(series) else series.mode(dropna=True).iloc[0]
    return _fill(given, {c: np.full(len(given), v, dtype=object) for c, v in fills.items()})


def impute_baseline(
    name: ImputerName, given: pd.DataFrame, *, seed: int = 0, options: BaselineOptions | None = None
) -> pd.DataFrame:
    """`given` with every NaN filled by baseline `name`; known cells come back unchanged."""
    if name in UNAVAILABLE:
        raise MethodUnavailable(UNAVAILABLE[name])
    if name == "mean":
        return impute_mean_mode(given)
    options = asdict(options or BaselineOptions())
    if name == "mice+knn":
        return impute_blend(given, ("mice", "knn"), seed=seed, options=options)
    if name not in CLASSICAL:
        raise ValueError(f"unknown imputation baseline {name!r}; choose from {IMPUTERS}")
    return impute_coded(classical_imputer(name, seed=seed, **options), given)


def impute_blend(given: pd.DataFrame, experts: tuple, *, seed: int, options: dict) -> pd.DataFrame:
    """`given` filled by classical imputers blended per table (`tabdiff.experts.blend.fit_blend`, weights fit on
    BLEND_HOLDOUT of the known numeric cells); categorical cells take the first imputer's fills."""
    codes = OrdinalCodes(given)
    x = codes.to_array(given)
    numeric = np.array([column not in codes.categories for column in given.columns], dtype=bool)
    held = holdout_mask(~np.isnan(x), numeric, BLEND_HOLDOUT, np.random.default_rng(seed))
    weights, full, _ = fit_blend(x, held, experts, seed=seed, **options)
    blended = full[experts[0]].copy()
    blended[:, numeric] = sum(w * full[name][:, numeric] for w, name in zip(weights, experts, strict=True))
    return codes.from_array(blended, given)


def impute_coded(imputer: object, given: pd.DataFrame) -> pd.DataFrame:
    """`given` filled by a scikit-learn imputer run on its ordinal codes, standardized per column."""
    codes = OrdinalCodes(given)
    return codes.from_array(fill_matrix(imputer, codes.to_array(given)), given)


class OrdinalCodes:
    """A mixed table as a float matrix: numbers as they are, categories as codes 0..K-1 (NaN = unknown)."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.categories: dict[str, list] = {}
        for column in frame.columns:
            series = frame[column]
            if is_numeric_column(series):
                continue
            if isinstance(series.dtype, pd.CategoricalDtype):
                self.categories[column] = list(series.cat.categories)
            else:
                self.categories[column] = sorted(series.dropna().unique().tolist())

    def to_array(self, frame: pd.DataFrame) -> np.ndarray:
        columns = []
        for column in frame.columns:
            if column in self.categories:
                codes = pd.Categorical(frame[column], categories=self.categories[column]).codes.astype(np.float64)
                columns.append(np.where(codes < 0, np.nan, codes))
            else:
                columns.append(frame[column].to_numpy(dtype=np.float64, na_value=np.nan))
        return np.stack(columns, axis=1) if columns else np.zeros((len(frame), 0))

    def from_array(self, array: np.ndarray, given: pd.DataFrame) -> pd.DataFrame:
        """Fill `given`'s NaNs from `array` (rows, cols): categorical codes rounded and clipped to a category."""
        fills = {}
        for j, column in enumerate(given.columns):
            if column in self.categories:
                categories = self.categories[column]
                if not categories:
                    continue
                codes = np.clip(np.rint(np.nan_to_num(array[:, j])), 0, len(categories) - 1).astype(np.int64)
                fills[column] = np.asarray(categories, dtype=object)[codes]
            else:
                fills[column] = array[:, j]
        return _fill(given, fills)


def _fill(given: pd.DataFrame, fills: dict[str, np.ndarray]) -> pd.DataFrame:
    """`given` with NaN cells of each column in `fills` taken from it; numeric columns become float64."""
    out = given.copy()
    for column, values in fills.items():
        series = given[column]
        unknown = series.isna().to_numpy()
        if not unknown.any():
            continue
        if is_numeric_column(series):
            filled = series.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
            filled[unknown] = np.asarray(values, dtype=np.float64)[unknown]
            out[column] = filled
        else:
            out[column] = series.where(~unknown, pd.Series(values, index=given.index, dtype=object))
            if isinstance(series.dtype, pd.CategoricalDtype):
                out[column] = out[column].astype(series.dtype)
    return out


# --- classification and regression ---------------------------------------------------------------------------


def _split_columns(X: pd.DataFrame) -> tuple[list[str], list[str]]:
    numeric = [c for c in X.columns if is_numeric_column(X[c])]
    return numeric, [c for c in X.columns if c not in numeric]


def _as_object(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.astype(object).where(frame.notna(), np.nan)


def _dense_features(X: pd.DataFrame) -> ColumnTransformer:
    """Median-imputed standardized numbers and mode-imputed one-hot categories."""
    numeric, categorical = _split_columns(X)
    to_object = FunctionTransformer(_as_object)  # SimpleImputer reads pandas categories poorly
    return ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            (
                "cat",
                make_pipeline(
                    to_object,
                    SimpleImputer(strategy="most_frequent"),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                categorical,
            ),
        ]
    )


def _hgb(X: pd.DataFrame, model_cls: type, **kwargs) -> Pipeline:
    """HistGradientBoosting on numbers and ordinal-coded categories, NaN handled natively."""
    numeric, categorical = _split_columns(X)
    codes = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan, encoded_missing_value=np.nan)
    features = ColumnTransformer(
        [("num", "passthrough", numeric), ("cat", make_pipeline(FunctionTransformer(_as_object), codes), categorical)]
    )
    is_categorical = [False] * len(numeric) + [True] * len(categorical)
    return make_pipeline(features, model_cls(categorical_features=is_categorical or None, **kwargs))


def make_classifier(name: ClassifierName, X: pd.DataFrame, *, seed: int = 0, options: BaselineOptions | None = None):
    """An unfitted classifier pipeline for features shaped like `X`."""
    if name in UNAVAILABLE:
        raise MethodUnavailable(UNAVAILABLE[name])
    options = options or BaselineOptions()
    if name == "logreg":
        return make_pipeline(_dense_features(X), LogisticRegression(max_iter=2000))
    if name == "rf":
        forest = RandomForestClassifier(n_estimators=options.forest_trees, n_jobs=1, random_state=seed)
        return make_pipeline(_dense_features(X), forest)
    if name == "hgb":
        return _hgb(X, HistGradientBoostingClassifier, random_state=seed)
    raise ValueError(f"unknown classification baseline {name!r}; choose from {CLASSIFIERS}")


def make_regressor(
    name: RegressorName, X: pd.DataFrame, *, seed: int = 0, options: BaselineOptions | None = None, quantile=None
):
    """An unfitted regressor pipeline; `quantile` (only for hgb) gives the pinball-loss model of that quantile."""
    options = options or BaselineOptions()
    if quantile is not None and name != "hgb":
        raise ValueError("only the hgb baseline has quantile models")
    if name == "ridge":
        return make_pipeline(_dense_features(X), RidgeCV(alphas=RIDGE_ALPHAS))
    if name == "rf":
        forest = RandomForestRegressor(n_estimators=options.forest_trees, n_jobs=1, random_state=seed)
        return make_pipeline(_dense_features(X), forest)
    if name == "hgb":
        loss = {"loss": "quantile", "quantile": quantile} if quantile is not None else {}
        return _hgb(X, HistGradientBoostingRegressor, random_state=seed, **loss)
    raise ValueError(f"unknown regression baseline {name!r}; choose from {REGRESSORS}")
