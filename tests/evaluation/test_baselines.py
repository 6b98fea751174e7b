"""Every baseline fills every gap of a small mixed table and leaves the known cells alone."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabdiff.evaluation.baselines import (
    CLASSIFIERS,
    IMPUTERS,
    REGRESSORS,
    BaselineOptions,
    impute_baseline,
    make_classifier,
    make_regressor,
)

FAST = BaselineOptions(mice_max_iter=3, forest_trees=5, forest_max_iter=2)


def _table(n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "x": x,
            "y": 2 * x + rng.normal(scale=0.1, size=n),
            "k": rng.integers(0, 5, size=n),  # int64
            "c": pd.Categorical(rng.choice(["lo", "mid", "hi"], size=n), categories=["lo", "mid", "hi", "never"]),
            "s": rng.choice(["u", "v"], size=n).astype(object),
            "b": rng.random(n) < 0.5,
        }
    )
    return frame


@pytest.mark.parametrize("name", IMPUTERS)
def test_imputer_fills_every_gap_and_keeps_known_cells(name):
    truth = _table()
    known = np.random.default_rng(1).random(truth.shape) > 0.3
    known[0] = True  # every column keeps a known cell
    given = truth.mask(~known)
    out = impute_baseline(name, given, seed=0, options=FAST)
    assert out.shape == given.shape and list(out.columns) == list(given.columns) and out.index.equals(given.index)
    assert not out.isna().any().any()
    for j, column in enumerate(given.columns):
        rows = known[:, j]
        assert list(out[column].to_numpy(object)[rows]) == list(truth[column].to_numpy(object)[rows]), column
    assert out["c"].dtype == truth["c"].dtype  # the categorical dtype (and its unused category) survives
    assert set(out["s"]) <= {"u", "v"} and set(out["b"]) <= {True, False}
    assert given.isna().any().any()  # the input was not modified


def test_imputer_is_exact_where_the_table_is_complete_and_mean_fills_means():
    given = pd.DataFrame({"x": [1.0, np.nan, 3.0], "c": pd.Categorical(["a", "a", None])})
    out = impute_baseline("mean", given)
    assert out["x"].tolist() == [1.0, 2.0, 3.0] and out["c"].tolist() == ["a", "a", "a"]
    with pytest.raises(ValueError, match="unknown imputation baseline"):
        impute_baseline("magic", given)


def test_supervised_baselines_fit_mixed_features_with_missing_cells():
    frame = _table(60)
    frame.loc[::7, "x"] = np.nan
    frame.loc[::5, "c"] = None
    X, y_class, y_reg = frame.drop(columns=["y", "s"]), frame["s"], frame["y"]
    for name in CLASSIFIERS:
        model = make_classifier(name, X, options=FAST).fit(X, y_class)
        proba = model.predict_proba(X)
        assert proba.shape == (60, 2) and np.allclose(proba.sum(axis=1), 1)
    for name in REGRESSORS:
        assert np.isfinite(make_regressor(name, X, options=FAST).fit(X, y_reg).predict(X)).all()
    lower = make_regressor("hgb", X, quantile=0.1).fit(X, y_reg).predict(X)
    upper = make_regressor("hgb", X, quantile=0.9).fit(X, y_reg).predict(X)
    assert (lower <= upper + 1e-9).mean() > 0.9
    with pytest.raises(ValueError, match="quantile"):
        make_regressor("ridge", X, quantile=0.1)
