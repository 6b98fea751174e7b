"""Metrics against closed forms on toy inputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from tabdiff.evaluation.supervised import align_proba, classification_metrics, regression_metrics
from tabdiff.evaluation.zero_shot import ImputationTask, categorical_accuracy, normalized_rmse, scored_cells


def _toy_task() -> ImputationTask:
    frame = pd.DataFrame(
        {
            "x": [0.0, 2.0, 0.0, 2.0],  # std 1
            "y": [1.0, 1.0, 1.0, np.nan],  # constant: skipped by nRMSE
            "c": pd.Categorical(["a", "b", "a", "b"]),
        }
    )
    known = np.array([[True, True, True], [False, False, False], [True, True, False], [False, False, True]])
    return ImputationTask("toy", frame, known, ["x", "y"])


def test_imputation_metrics_score_only_masked_observed_cells():
    task = _toy_task()
    assert scored_cells(task) == (3, 2)  # x: rows 1, 3; y: row 1 (row 3 is not observed); c: rows 1, 2
    imputed = task.frame.copy()
    imputed["x"] = [0.0, 0.0, 0.0, 3.0]  # errors 2 and 1 on a std-1 column
    imputed["c"] = pd.Categorical(["a", "b", "b", "b"])  # row 1 right, row 2 wrong
    assert normalized_rmse(task, imputed) == pytest.approx(math.sqrt((4 + 1) / 2))
    assert categorical_accuracy(task, imputed) == 0.5
    assert categorical_accuracy(task, task.frame) == 1.0
    assert math.isnan(categorical_accuracy(ImputationTask("n", task.frame, np.ones((4, 3), bool), ["x", "y"]), imputed))


def test_classification_metrics_closed_forms():
    classes = ["a", "b"]
    y = ["a", "b", "b", "a"]
    proba = np.array([[0.8, 0.2], [0.4, 0.6], [0.7, 0.3], [0.9, 0.1]])
    m = classification_metrics(y, proba, classes)
    assert m["accuracy"] == 0.75
    # positives (b) scored 0.6, 0.3; negatives 0.2, 0.1: every pair ordered -> AUC 1
    assert m["roc_auc"] == 1.0
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.8, 0.6, 0.3, 0.9])))
    # a probability of 0 for the true class is clipped, not infinite
    assert np.isfinite(classification_metrics(["a"], np.array([[0.0, 1.0]]), classes)["log_loss"])
    # ECE: confidences 0.8, 0.6, 0.7, 0.9 fall in bins 8, 6, 7, 9, one row each, right / right / wrong / right:
    # (|1 - 0.8| + |1 - 0.6| + |0 - 0.7| + |1 - 0.9|) / 4
    assert m["ece"] == pytest.approx((0.2 + 0.4 + 0.7 + 0.1) / 4)


def test_calibrated_probabilities_have_an_ece_near_zero():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.5, 1.0, size=50_000)
    y = np.where(rng.random(50_000) < p, "a", "b")
    assert classification_metrics(y, np.c_[p, 1 - p], ["a", "b"])["ece"] < 0.01


def test_multiclass_auc_is_macro_one_vs_rest_over_present_classes():
    rng = np.random.default_rng(0)
    y = rng.choice(["a", "b", "c"], size=40)
    proba = rng.dirichlet(np.ones(3), size=40)
    expected = roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=["a", "b", "c"])
    assert classification_metrics(y, proba, ["a", "b", "c"])["roc_auc"] == pytest.approx(expected)
    # a fourth class absent from y_true is left out of the average instead of failing
    four = np.c_[proba, np.zeros(40)]
    assert classification_metrics(y, four, ["a", "b", "c", "d"])["roc_auc"] == pytest.approx(expected)


def test_align_proba_reorders_and_zero_fills():
    out = align_proba(np.array([[0.3, 0.7]]), ["b", "a"], ["a", "b", "c"])
    np.testing.assert_array_equal(out, [[0.7, 0.3, 0.0]])


def test_regression_metrics_closed_forms():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    pred = np.array([1.0, 2.0, 3.0, 6.0])
    m = regression_metrics(y, pred)
    assert m["rmse"] == pytest.approx(1.0)  # sqrt(4 / 4)
    assert m["r2"] == pytest.approx(1 - 4 / 5)  # SST = 2.25 + 0.25 + 0.25 + 2.25
    assert math.isnan(m["coverage"])
    m = regression_metrics(y, pred, lower=y - 1, upper=np.array([2.0, 3.0, 2.5, 5.0]))
    assert m["coverage"] == 0.75
    assert m["interval_width"] == pytest.approx(np.mean([2.0, 2.0, 0.5, 2.0]) / y.std())
