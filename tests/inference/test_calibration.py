"""Temperature scaling of TabDiffClassifier's probabilities (tabdiff/inference/calibration.py)."""

from __future__ import annotations

import numpy as np
import pytest
from _tables import FAST, mixed_frame
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax

from tabdiff import TabDiffClassifier
from tabdiff.evaluation.supervised import classification_metrics, make_supervised_tasks
from tabdiff.inference.calibration import (
    FOLDS,
    MAX_ROWS,
    MIN_ROWS,
    apply_temperature,
    calibration_folds,
    fit_temperature,
)


def _labelled(n: int, temperature: float, seed: int = 0):
    """Labels drawn from softmax(logits); the probabilities given are softmax(logits * temperature), i.e. the true
    ones seen at temperature 1 / temperature: the fitted T should undo it."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(n, 4))
    truth = softmax(logits, axis=1)
    labels = (truth.cumsum(axis=1) < rng.random((n, 1))).sum(axis=1)
    return softmax(logits * temperature, axis=1), labels


@pytest.mark.parametrize("distortion", [0.5, 1.0, 2.0])
def test_fitted_temperature_undoes_a_known_distortion(distortion):
    # probabilities softened (0.5: T should be 0.5), exact (1) or sharpened (2: T should be 2)
    proba, labels = _labelled(20_000, distortion)
    assert fit_temperature(proba, labels) == pytest.approx(distortion, rel=0.06)


def test_few_rows_that_all_look_right_do_not_drive_the_temperature_to_zero():
    proba = np.tile([[0.7, 0.2, 0.1]], (8, 1))
    t = fit_temperature(proba, np.zeros(8, dtype=int))
    assert 0.2 < t < 1.0  # sharper, but the prior on log T holds it (the likelihood alone would go to T_MIN)
    assert fit_temperature(np.empty((0, 3)), np.empty(0, dtype=int)) == 1.0


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    rows=st.integers(1, 20),
    classes=st.integers(2, 6),
    temperature=st.floats(0.05, 20.0),
)
def test_temperature_keeps_rows_summing_to_one_the_ranking_and_impossible_classes(seed, rows, classes, temperature):
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.ones(classes), size=rows)
    proba[:, -1] = np.where(rng.random(rows) < 0.5, 0.0, proba[:, -1])  # some classes a row cannot hold
    proba /= proba.sum(axis=1, keepdims=True)
    scaled = apply_temperature(proba, temperature)
    np.testing.assert_allclose(scaled.sum(axis=1), 1.0)
    assert (scaled[proba == 0] == 0).all()
    np.testing.assert_array_equal(np.argsort(-scaled, axis=1, kind="stable")[:, 0], proba.argmax(axis=1))
    np.testing.assert_array_equal(apply_temperature(proba, 1.0), proba)


def test_folds_are_disjoint_cover_at_most_max_rows_and_none_below_min_rows():
    rng = np.random.default_rng(0)
    assert calibration_folds(MIN_ROWS - 1, rng) == []
    folds = calibration_folds(3 * MAX_ROWS, rng)
    assert len(folds) == FOLDS
    chosen = np.concatenate(folds)
    assert len(chosen) == MAX_ROWS == len(np.unique(chosen)) and chosen.max() < 3 * MAX_ROWS
    assert sum(len(f) for f in calibration_folds(100, rng)) == 100


def test_calibration_changes_confidence_not_the_predicted_class(tiny):
    X = mixed_frame(80, seed=1)
    y = np.where(np.nan_to_num(X.iloc[:, 0].to_numpy(dtype=float)) > 0, "yes", "no")
    plain = TabDiffClassifier(tiny, calibration=None, **FAST).fit(X[:60], y[:60])
    calibrated = TabDiffClassifier(tiny, **FAST).fit(X[:60], y[:60])
    assert plain.temperature_ == 1.0 and calibrated.temperature_ != 1.0
    p, q = plain.predict_proba(X[60:]), calibrated.predict_proba(X[60:])
    np.testing.assert_allclose(q, apply_temperature(p, calibrated.temperature_))
    np.testing.assert_array_equal(plain.predict(X[60:]), calibrated.predict(X[60:]))
    small = TabDiffClassifier(tiny, **FAST).fit(X[: MIN_ROWS - 1], y[: MIN_ROWS - 1])
    assert small.temperature_ == 1.0


def test_bad_calibration_is_named():
    X = mixed_frame(10, seed=0)
    with pytest.raises(ValueError, match="calibration must be None or one of"):
        TabDiffClassifier(calibration="isotonic", **FAST).fit(X, np.arange(10) % 2)


def test_calibration_improves_the_bundled_models_probabilities_on_a_held_out_table():
    # wine, seed 0: the bundled model's averaged probabilities are underconfident (all tables: module docstring)
    (task,) = make_supervised_tasks("classification", tables=["wine"], seed=0)
    scores = {}
    for calibration in (None, "temperature"):
        clf = TabDiffClassifier(calibration=calibration, **FAST).fit(task.X_train, task.y_train)
        scores[calibration] = classification_metrics(task.y_test, clf.predict_proba(task.X_test), list(clf.classes_))
    assert clf.temperature_ < 0.7
    assert scores["temperature"]["log_loss"] < 0.8 * scores[None]["log_loss"]
    assert scores["temperature"]["ece"] < 0.7 * scores[None]["ece"]
    assert scores["temperature"]["accuracy"] == scores[None]["accuracy"]
