from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from _tables import FAST, mixed_frame, numeric_array

from tabdiff import TabDiffClassifier, TabDiffRegressor


def _xy(n_rows: int = 40, seed: int = 0):
    X = mixed_frame(n_rows, seed=seed)
    rng = np.random.default_rng(seed)
    labels = np.array(["cat", "dog", 7], dtype=object)  # any hashable labels, mixed types included
    return X, labels[rng.integers(0, 3, n_rows)], rng.normal(size=n_rows) * 100 + 50


def test_predict_proba_rows_sum_to_one_in_classes_order(tiny):
    X, y, _ = _xy()
    before = X.copy(deep=True)
    clf = TabDiffClassifier(tiny, **FAST).fit(X[:30], y[:30])
    assert list(clf.classes_) == ["cat", "dog", 7]  # str and int do not compare: ordered by repr
    proba = clf.predict_proba(X[30:])
    assert proba.shape == (10, 3) and np.all(proba >= 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(clf.predict(X[30:])) <= set(clf.classes_)
    np.testing.assert_array_equal(clf.predict(X[30:]), clf.classes_[proba.argmax(axis=1)])
    pd.testing.assert_frame_equal(X, before)


def test_classifier_on_arrays_with_int_labels_and_missing_test_features(tiny):
    X = numeric_array(40, 4)
    y = (np.nan_to_num(X[:, 0]) > 0).astype(int)
    clf = TabDiffClassifier(tiny, sampler="conditional", n_steps=3, **FAST).fit(X[:30], y[:30])
    assert clf.classes_.tolist() == [0, 1] and clf.classes_.dtype.kind == "i"
    assert clf.predict(X[30:]).shape == (10,)


def test_regressor_mean_and_ordered_quantiles(tiny):
    X, _, y = _xy()
    reg = TabDiffRegressor(tiny, sampler="conditional", n_steps=3, **FAST).fit(X[:30], y[:30])
    pred = reg.predict(X[30:])
    assert pred.shape == (10,) and np.isfinite(pred).all()
    assert y[:30].min() <= pred.min() and pred.max() <= y[:30].max()  # decoded into y's observed range
    quantiles = reg.predict_quantiles(X[30:], [0.1, 0.5, 0.9])
    assert quantiles.shape == (10, 3)
    assert (np.diff(quantiles, axis=1) >= 0).all()
    assert reg.predict_quantiles(X[30:], 0.5).shape == (10,)
    draws = reg.sample_y(X[30:], 5)
    assert draws.shape == (10, 5) and np.isfinite(draws).all()


def test_regression_draws_are_centred_on_the_one_pass_prediction(tiny):
    """draw_centre="point": sample_y's draws average to what TabDiffRegressor() predicts, each keeping its deviation
    from the raw draws' mean (draw_centre="draws", the default) widened by sqrt(n / (n - 1)), within y's range."""
    X, _, y = _xy()
    options = {"sampler": "conditional", "n_steps": 3, "n_ensemble": 2, **FAST}
    raw = TabDiffRegressor(tiny, **options).fit(X[:30], y[:30]).sample_y(X[30:], 6)
    centred = TabDiffRegressor(tiny, draw_centre="point", **options).fit(X[:30], y[:30]).sample_y(X[30:], 6)
    point = TabDiffRegressor(tiny, n_ensemble=2, **FAST).fit(X[:30], y[:30]).predict(X[30:])
    expected = point[:, None] + np.sqrt(6 / 5) * (raw - raw.mean(axis=1, keepdims=True))
    inside = (centred > y[:30].min()) & (centred < y[:30].max())
    assert inside.mean() > 0.5
    np.testing.assert_allclose(centred[inside], expected[inside], rtol=1e-9, atol=1e-9)
    assert (centred >= y[:30].min()).all() and (centred <= y[:30].max()).all()
    with pytest.raises(ValueError, match="draw_centre must be one of"):
        TabDiffRegressor(tiny, draw_centre="mean", **FAST).fit(X[:30], y[:30])


def test_quantiles_rest_on_at_least_16_draws_and_say_when_draws_are_means(tiny):
    X, _, y = _xy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default draws are draws: no warning
        assert TabDiffRegressor(tiny, n_ensemble=2, **FAST).fit(X[:30], y[:30]).sample_y(X[30:]).shape == (10, 16)
    reg = TabDiffRegressor(tiny, sampler="ddim", n_ensemble=2, **FAST).fit(X[:30], y[:30])
    with pytest.warns(UserWarning, match="conditional mean"):
        assert reg.sample_y(X[30:]).shape == (10, 16)
    with pytest.warns(UserWarning, match="conditional mean"):
        reg.predict_quantiles(X[30:], [0.1, 0.9])


def test_predictions_are_reproducible(tiny):
    X, y, t = _xy()
    a = TabDiffClassifier(tiny, **FAST).fit(X[:30], y[:30]).predict_proba(X[30:])
    b = TabDiffClassifier(tiny, **FAST).fit(X[:30], y[:30]).predict_proba(X[30:])
    np.testing.assert_array_equal(a, b)
    r1 = TabDiffRegressor(tiny, sampler="conditional", n_steps=2, **FAST).fit(X[:30], t[:30]).predict(X[30:])
    r2 = TabDiffRegressor(tiny, sampler="conditional", n_steps=2, **FAST).fit(X[:30], t[:30]).predict(X[30:])
    np.testing.assert_array_equal(r1, r2)


@pytest.mark.parametrize("context", ["random", "nearest"])
def test_large_training_and_test_sets_are_chunked(tiny, context):
    X, y, t = _xy(90)
    options = {"max_rows": 16, "max_cols": 4, "context": context, **FAST}
    clf = TabDiffClassifier(tiny, batch_size=4, **options).fit(X[:60], y[:60])
    proba = clf.predict_proba(X[60:])
    assert proba.shape == (30, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    reg = TabDiffRegressor(tiny, **options).fit(X[:60], t[:60])
    assert np.isfinite(reg.predict(X[60:])).all()


def test_unseen_test_categories_warn_and_still_predict(tiny):
    X, y, _ = _xy()
    test = X[30:].copy()
    test.loc[test.index[0], "obj"] = "never-seen"
    clf = TabDiffClassifier(tiny, **FAST).fit(X[:30], y[:30])
    with pytest.warns(UserWarning, match="'obj'.*never seen in fit"):
        assert clf.predict(test).shape == (10,)


@pytest.mark.parametrize("m", [16, 40])
def test_intervals_from_calibrated_draws_cover_their_level(m):
    from tabdiff.inference.predictors import predictive_quantiles

    rng = np.random.default_rng(0)
    draws, truth = rng.normal(size=(50_000, m)), rng.normal(size=50_000)
    for low, high in ((0.1, 0.9), (0.25, 0.75), (0.05, 0.95)):
        bounds = predictive_quantiles(draws, np.array([low, high]))
        covered = np.mean((truth >= bounds[:, 0]) & (truth <= bounds[:, 1]))
        # beyond the outer draws the band stops at them: [min, max] of m draws covers (m - 1) / (m + 1)
        assert covered == pytest.approx(min(high - low, (m - 1) / (m + 1)), abs=0.015), (low, high, covered)
