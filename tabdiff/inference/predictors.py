"""TabDiffClassifier and TabDiffRegressor: prediction as inpainting of the target column.

The model sees one table, [X_train | y_train] stacked over [X_test | unknown], and inpaints the target cells
of the test rows. Missing features (in either part) stay unknown and are not returned. Above max_rows rows
the test rows are processed in chunks of at most max_rows // 2, each completed with a random subsample of
training rows as context (test rows carry no target, so half of every chunk is labelled context).
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod

import numpy as np
import pandas as pd
from pandas.api import types as ptypes
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.validation import check_is_fitted

from tabdiff.encoding.categorical import sorted_categories
from tabdiff.inference.aggregate import DrawAggregate, check_draw_centre, draw_centre_doc
from tabdiff.inference.base import PARAMETERS_DOC, TabDiffEstimator
from tabdiff.inference.calibration import (
    Calibration,
    apply_temperature,
    calibration_folds,
    check_calibration,
    fit_temperature,
)
from tabdiff.inference.engine import SamplerSettings
from tabdiff.inference.frames import align_columns, as_frame, prepare_for_encoder

TARGET = "__tabdiff_target__"  # the target column's name inside the model's table
MIN_QUANTILE_DRAWS = 16  # quantiles and intervals rest on at least this many draws


class TabDiffPredictor(TabDiffEstimator, ABC):
    """fit(X, y) keeps the labelled rows; predictions inpaint the target of the query rows."""

    _query_fraction = 0.5

    def fit(self, X: pd.DataFrame | np.ndarray, y: object) -> TabDiffPredictor:
        frame, kind = as_frame(X)
        if TARGET in frame.columns:
            raise ValueError(f"X has a column named {TARGET!r}, which tabdiff reserves for the target; rename it")
        y_series = _as_target(y, len(frame))
        self._load_checkpoint()
        train = self._fit_prep(frame).copy()
        train[TARGET] = self._target_array(y_series)
        self.encoder_ = self._new_encoder().fit(train)
        self._adapt(train, target_col=train.shape[1] - 1)
        self.train_ = train  # X and y of the fitted rows: the labelled context of every prediction
        self.input_kind_ = kind
        self.n_features_in_ = frame.shape[1]
        if kind == "dataframe" and all(isinstance(c, str) for c in frame.columns):
            self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        return self

    @abstractmethod
    def _target_array(self, y: pd.Series) -> object:
        """The target column as the encoder should see it (categories for a classifier, floats for a regressor)."""

    def _draws(
        self, X: object, *, n_members: int, n_samples: int, keep_draws: bool = False,
        sampler: SamplerSettings | None = None,
    ) -> tuple[DrawAggregate, np.ndarray]:  # fmt: skip
        """Inpaint the target of X's rows (`sampler` overrides the estimator's settings); returns the aggregate and
        X's row positions in the model's table."""
        check_is_fitted(self)
        frame, kind = as_frame(X)
        if kind != self.input_kind_:
            raise TypeError(f"the estimator was fitted on a {self.input_kind_}; X is a {kind}")
        frame = align_columns(frame, self.train_.columns[:-1], kind=kind, owner=type(self).__name__)
        unknown = self.train_[TARGET].iloc[:0].reindex(range(len(frame)))  # all-missing, the target's dtype
        test = prepare_for_encoder(self.prep_.view(frame), self.encoder_).assign(**{TARGET: unknown.array})
        table = pd.concat([self.train_, test], ignore_index=True)
        target = np.zeros(table.shape, dtype=bool)
        target[len(self.train_) :, -1] = True
        aggregate = self._inpaint(
            table, target, n_members=n_members, n_samples=n_samples, keep_draws=keep_draws, desc="tabdiff predict",
            sampler=sampler,
        )  # fmt: skip
        return aggregate, np.arange(len(self.train_), len(table))


CALIBRATION_DOC = """
    calibration : "temperature" or None
        "temperature" (default): `fit` scales the class probabilities by one temperature T (p^(1/T),
        renormalized; `temperature_`), fitted to out-of-fold predictions of the training rows: up to 1,000 of
        them in 5 folds, each fold's labels hidden and predicted from the other training rows with the same
        settings as `predict_proba` (costs about one prediction of those rows). It changes the confidence, not
        the predicted class. None, fewer than 30 training rows, or adapt_steps > 0 (the adapted model has
        trained on the labels it would be scored on): T = 1, the model's own probabilities.
"""


class TabDiffClassifier(ClassifierMixin, TabDiffPredictor):
    """Classify in context: y's classes (any hashable labels, at most the checkpoint's max categories).

    `predict_proba` averages the class probabilities of n_samples x n_ensemble draws (columns ordered as
    `classes_`), calibrated by a temperature fitted on the training rows (`calibration`); `predict` is its most
    probable class. Categories of X that fit never saw are treated as missing (with a warning).
    """

    __doc__ = (__doc__ or "") + PARAMETERS_DOC + CALIBRATION_DOC

    def __init__(
        self,
        checkpoint: object = None,
        *,
        experts: str = "checkpoint",
        sampler: str = "auto",
        n_steps: int | None = None,
        jump_length: int = 10,
        jump_n_sample: int = 10,
        n_samples: int = 1,
        n_ensemble: int = 4,
        max_rows: int = 512,
        max_cols: int = 64,
        context: str = "random",
        batch_size: int = 8,
        adapt_steps: int = 0,
        adapt_lr: float = 1e-3,
        calibration: Calibration | None = "temperature",
        non_numeric: str = "error",
        device: str | None = None,
        progress: bool = True,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        super().__init__(
            checkpoint, experts=experts, sampler=sampler, n_steps=n_steps, jump_length=jump_length, jump_n_sample=jump_n_sample,
            n_samples=n_samples, n_ensemble=n_ensemble, max_rows=max_rows, max_cols=max_cols, context=context,
            batch_size=batch_size, adapt_steps=adapt_steps, adapt_lr=adapt_lr, non_numeric=non_numeric,
            device=device, progress=progress, random_state=random_state,
        )  # fmt: skip
        self.calibration = calibration

    def fit(self, X: pd.DataFrame | np.ndarray, y: object) -> TabDiffClassifier:
        check_calibration(self.calibration)
        super().fit(X, y)
        self.temperature_ = self._fit_temperature()
        return self

    def _target_array(self, y: pd.Series) -> object:
        if ptypes.is_float_dtype(y.dtype):
            values = y.to_numpy(dtype=np.float64, na_value=np.nan)
            if not np.isfinite(values).all() or (values != np.round(values)).any():
                raise ValueError(
                    "Unknown label type: y holds continuous (non-integer or infinite) values; use TabDiffRegressor"
                )
        classes = sorted_categories(y.to_numpy(dtype=object))
        self.classes_ = _label_array(classes)
        return pd.Categorical(y.to_numpy(dtype=object), categories=pd.Index(_label_array(classes), dtype=object))

    def _fit_temperature(self) -> float:
        """T from out-of-fold predictions of the training rows (inference/calibration.py); 1 when not calibrating."""
        if self.calibration is None or self.adapt_steps > 0:
            return 1.0
        folds = calibration_folds(len(self.train_), self._rng())
        if not folds:
            return 1.0
        j = self.train_.shape[1] - 1
        labels = self.train_[TARGET].cat.codes.to_numpy()  # codes in classes_ order, as predict_proba's columns
        proba = []
        for fold in folds:
            table = self.train_.copy()
            table.iloc[fold, j] = np.nan  # this fold's labels hidden: predicted from the other training rows
            target = np.zeros(table.shape, dtype=bool)
            target[fold, j] = True
            aggregate = self._inpaint(
                table, target, n_members=self.n_ensemble, n_samples=self.n_samples, desc="tabdiff calibrate"
            )
            proba.append(aggregate.probabilities(j, fold))
        return fit_temperature(np.concatenate(proba), labels[np.concatenate(folds)])

    def predict_proba(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """(rows, n_classes) class probabilities, rows summing to 1, columns in `classes_` order."""
        aggregate, rows = self._draws(X, n_members=self.n_ensemble, n_samples=self.n_samples)
        return apply_temperature(aggregate.probabilities(aggregate.target_mask.shape[1] - 1, rows), self.temperature_)

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """(rows,) the most probable class of each row."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class TabDiffRegressor(RegressorMixin, TabDiffPredictor):
    """Regress in context on a numeric y.

    `predict` is the mean over n_samples x n_ensemble one-pass estimates (in y's units). `predict_quantiles` and
    `sample_y` return draw-based quantiles and draws, by the draws' sampler (`sampler="auto"`: the conditional
    sampler); they use at least 16 draws (more samples per member when n_samples * n_ensemble is smaller). A
    sampler set to one step ("ddim" with n_steps None or 1) makes each draw the model's conditional-mean estimate (a
    warning says so).
    """

    __doc__ = (
        (__doc__ or "")
        + PARAMETERS_DOC
        + draw_centre_doc(
            "Default \"draws\": a target's draws, centred on the point, keep a spread that the point's smaller "
            "error does not need, and their intervals cover more than their level; as drawn, about their level."
        )
    )

    def __init__(
        self,
        checkpoint: object = None,
        *,
        experts: str = "checkpoint",
        sampler: str = "auto",
        n_steps: int | None = None,
        jump_length: int = 10,
        jump_n_sample: int = 10,
        n_samples: int = 1,
        n_ensemble: int = 4,
        max_rows: int = 512,
        max_cols: int = 64,
        context: str = "random",
        batch_size: int = 8,
        adapt_steps: int = 0,
        adapt_lr: float = 1e-3,
        draw_centre: str = "draws",
        non_numeric: str = "error",
        device: str | None = None,
        progress: bool = True,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        super().__init__(
            checkpoint, experts=experts, sampler=sampler, n_steps=n_steps, jump_length=jump_length, jump_n_sample=jump_n_sample,
            n_samples=n_samples, n_ensemble=n_ensemble, max_rows=max_rows, max_cols=max_cols, context=context,
            batch_size=batch_size, adapt_steps=adapt_steps, adapt_lr=adapt_lr, non_numeric=non_numeric,
            device=device, progress=progress, random_state=random_state,
        )  # fmt: skip
        self.draw_centre = draw_centre

    def fit(self, X: pd.DataFrame | np.ndarray, y: object) -> TabDiffRegressor:
        check_draw_centre(self.draw_centre)
        return super().fit(X, y)

    def _target_array(self, y: pd.Series) -> object:
        if not ptypes.is_numeric_dtype(y.dtype) or ptypes.is_bool_dtype(y.dtype):
            raise ValueError(f"y must be numeric for TabDiffRegressor, got dtype {y.dtype}; use TabDiffClassifier")
        values = y.to_numpy(dtype=np.float64, na_value=np.nan)
        if np.isinf(values).any():
            raise ValueError(f"y holds {int(np.isinf(values).sum())} infinite value(s); fit needs finite targets")
        return values

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """(rows,) mean prediction."""
        aggregate, rows = self._draws(X, n_members=self.n_ensemble, n_samples=self.n_samples)
        return aggregate.mean(aggregate.target_mask.shape[1] - 1, rows)

    def sample_y(self, X: pd.DataFrame | np.ndarray, n: int = MIN_QUANTILE_DRAWS) -> np.ndarray:
        """(rows, n) draws of y for each row of X; the n draws spread over the n_ensemble members."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n must be an integer >= 1, got {n!r}")
        check_draw_centre(self.draw_centre)
        self._warn_if_mean_draws()
        members = min(self.n_ensemble, n)
        aggregate, rows = self._draws(X, n_members=members, n_samples=math.ceil(n / members), keep_draws=True)
        target = aggregate.target_mask.shape[1] - 1
        draws = aggregate.draws[target][:n, rows]  # (n, rows)
        if self._centres_on_point(n):
            point, _ = self._draws(X, n_members=self.n_ensemble, n_samples=1, sampler=self._one_pass())
            draws = self._centred_on(TARGET, draws, point.mean(target, rows))
        return draws.T

    def predict_quantiles(self, X: pd.DataFrame | np.ndarray, q: float | list[float] = (0.1, 0.5, 0.9)) -> np.ndarray:
        """(rows, len(q)) quantiles of the predictive distribution ((rows,) for a scalar q), from max(16, n_samples *
        n_ensemble) draws (`predictive_quantiles`: an interval from calibrated draws covers its level)."""
        levels = np.asarray(q, dtype=np.float64)
        if levels.ndim > 1 or not ((levels >= 0) & (levels <= 1)).all():
            raise ValueError(f"q must be a quantile level or a list of them, each in [0, 1], got {q!r}")
        draws = self.sample_y(X, max(MIN_QUANTILE_DRAWS, self.n_samples * self.n_ensemble))  # (rows, n)
        return predictive_quantiles(draws, levels)


def predictive_quantiles(draws: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """(rows, m) draws -> (rows, len(levels)) quantiles of the predictive distribution they sample ((rows,) for a
    scalar level).

    The k-th smallest of m draws is taken as the k / (m + 1) quantile (numpy's "weibull" positions): a new value
    from the same distribution falls below it with exactly that probability. The default "linear" positions put
    it at (k - 1) / (m - 1), which makes an 80% interval from 16 draws cover only about 15/17 x 80% = 71%.
    Levels below 1 / (m + 1) or above m / (m + 1) give the smallest / largest draw."""
    return np.quantile(draws, levels, axis=1, method="weibull").T


def _as_target(y: object, n_rows: int) -> pd.Series:
    """y as a Series of n_rows values; ValueError for no target, a wrong length, or missing values."""
    if y is None:
        raise ValueError(
            "this estimator requires y to be passed, but the target y is None: fit(X, y) needs the target of every row of X"
        )
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise ValueError(f"y must be one column, got a DataFrame with {y.shape[1]} columns")
        y = y.iloc[:, 0]
    if isinstance(y, pd.Series):
        series = y.reset_index(drop=True)
    elif isinstance(y, (list, tuple, pd.Index, pd.Categorical)):
        series = pd.Series(y)  # a list keeps mixed labels as they are (np.asarray would make them all str)
    else:
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            warnings.warn(
                "A column-vector y was passed when a 1d array was expected; pass y.ravel()",
                DataConversionWarning,
                stacklevel=3,
            )
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D, got an array of shape {y.shape}")
        series = pd.Series(y)
    if len(series) != n_rows:
        raise ValueError(f"y has {len(series)} values but X has {n_rows} rows")
    missing = series.isna().to_numpy()
    if missing.any():
        raise ValueError(
            f"y has {int(missing.sum())} missing value(s) (e.g. at row {int(np.flatnonzero(missing)[0])}); fit "
            f"needs the target of every row: drop those rows, or impute y with TabDiffImputer"
        )
    return series


def _label_array(labels: list) -> np.ndarray:
    """A 1-D array of class labels (an object array when numpy would not keep them as scalars)."""
    array = np.asarray(labels)
    if array.ndim != 1 or array.dtype.kind in "OSU" and not all(isinstance(v, str) for v in labels):
        array = np.empty(len(labels), dtype=object)
        array[:] = labels
    return array
