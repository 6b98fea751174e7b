"""Classification and regression on held-out tables: train/test splits and their metrics.

A task is a held-out table whose manifest names a target (rows with a missing target dropped, rows
subsampled, feature columns capped), split into train and test rows per seed (stratified when every class
has two rows). Metrics are computed here, from probabilities or predictions, so every method is scored the
same way: accuracy (argmax of the probabilities), ROC-AUC (one-vs-rest per class present in the test rows,
macro-averaged: the binary AUC for two classes), log loss; RMSE, R^2 and the coverage and relative width of
a central prediction interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from tabdiff.evaluation.zero_shot import heldout_sources

SupervisedKind = Literal["classification", "regression"]
ECE_BINS = 10
LOG_LOSS_EPS = 1e-15  # probabilities are clipped to [eps, 1] before the log


@dataclass(frozen=True)
class SupervisedTask:
    name: str
    kind: SupervisedKind
    X_train: pd.DataFrame
    y_train: pd.Series
    X_test: pd.DataFrame
    y_test: pd.Series
    classes: list | None  # classification: the labels seen in the table, in category order

    @property
    def n_rows(self) -> int:
        return len(self.X_train) + len(self.X_test)


def make_supervised_tasks(
    kind: SupervisedKind,
    *,
    tables: Sequence[str] | None = None,
    max_rows: int | None = None,
    max_cols: int | None = None,
    seed: int = 0,
    test_fraction: float = 0.3,
) -> list[SupervisedTask]:
    """One task per held-out table of this kind (`tables` by name: the others are skipped).

    `max_rows` / `max_cols` cap the rows (a random subset per seed) and columns (the target plus the first
    `max_cols - 1` features); None keeps the whole table, as a user would give it.
    """
    tasks = []
    for position, source in heldout_sources(tables):
        if source.entry.task != kind:
            continue
        target = source.entry.target
        rng = np.random.default_rng([seed, position, 1])  # a stream apart from the imputation tasks'
        frame = source.load()
        frame = frame[frame[target].notna()]
        frame = frame.iloc[np.sort(rng.permutation(len(frame))[:max_rows])]
        features = [c for c in frame.columns if c != target][: None if max_cols is None else max_cols - 1]
        X, y = frame[features], frame[target]
        classes = None
        if kind == "classification":
            y = y.astype("category") if not isinstance(y.dtype, pd.CategoricalDtype) else y
            y = y.cat.remove_unused_categories()
            classes = list(y.cat.categories)
        stratify = y if kind == "classification" and y.value_counts().min() >= 2 else None
        split_seed = int(rng.integers(2**31))
        try:
            X_tr, X_te, y_tr, y_te = train_test_split(
                X, y, test_size=test_fraction, random_state=split_seed, stratify=stratify
            )
        except ValueError:  # a test share smaller than the number of classes
            X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_fraction, random_state=split_seed)
        tasks.append(SupervisedTask(source.name, kind, X_tr, y_tr, X_te, y_te, classes))
    return tasks


def align_proba(proba: np.ndarray, model_classes: Sequence, classes: Sequence) -> np.ndarray:
    """(n, len(model_classes)) probabilities -> (n, len(classes)) in `classes` order, 0 for unseen classes."""
    out = np.zeros((proba.shape[0], len(classes)))
    index = {label: k for k, label in enumerate(classes)}
    for k, label in enumerate(model_classes):
        if label in index:
            out[:, index[label]] = proba[:, k]
    return out


def classification_metrics(y_true: Sequence, proba: np.ndarray, classes: Sequence) -> dict[str, float]:
    """accuracy, roc_auc (macro one-vs-rest over the classes present in y_true), log_loss and ece (expected
    calibration error of the top-class confidence over ECE_BINS equal-width bins: sum over bins of the bin's
    share of rows times |its accuracy - its mean confidence|; 0 for calibrated probabilities)."""
    y = np.asarray(y_true, dtype=object)
    labels = np.asarray(classes, dtype=object)
    proba = np.asarray(proba, dtype=np.float64)
    total = proba.sum(axis=1, keepdims=True)
    proba = np.divide(proba, total, out=np.full_like(proba, 1 / proba.shape[1]), where=total > 0)
    accuracy = float(np.mean(labels[proba.argmax(axis=1)] == y))
    aucs = []
    for k, label in enumerate(labels):
        positive = y == label
        if positive.any() and not positive.all():
            aucs.append(roc_auc_score(positive, proba[:, k]))
    index = {label: k for k, label in enumerate(labels)}
    p_true = proba[np.arange(len(y)), [index[v] for v in y]]
    log_loss = float(-np.mean(np.log(np.clip(p_true, LOG_LOSS_EPS, 1.0))))
    confidence = proba.max(axis=1)
    correct = labels[proba.argmax(axis=1)] == y
    bins = np.minimum((confidence * ECE_BINS).astype(np.int64), ECE_BINS - 1)
    ece = sum(
        np.mean(bins == b) * abs(correct[bins == b].mean() - confidence[bins == b].mean())
        for b in range(ECE_BINS)
        if (bins == b).any()
    )
    return {
        "accuracy": accuracy,
        "roc_auc": float(np.mean(aucs)) if aucs else float("nan"),
        "log_loss": log_loss,
        "ece": float(ece),
    }


def regression_metrics(
    y_true: Sequence, pred: np.ndarray, lower: np.ndarray | None = None, upper: np.ndarray | None = None
) -> dict[str, float]:
    """rmse, r2 (against the test mean), and with an interval its coverage and width / std(y_true)."""
    y = np.asarray(y_true, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    sse = float(np.sum((y - pred) ** 2))
    sst = float(np.sum((y - y.mean()) ** 2))
    out = {
        "rmse": float(np.sqrt(sse / len(y))),
        "r2": 1.0 - sse / sst if sst > 0 else float("nan"),
        "coverage": float("nan"),
        "interval_width": float("nan"),
    }
    if lower is not None and upper is not None:
        lower, upper = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
        out["coverage"] = float(np.mean((y >= lower) & (y <= upper)))
        scale = y.std()
        out["interval_width"] = float(np.mean(upper - lower) / scale) if scale > 0 else float("nan")
    return out
