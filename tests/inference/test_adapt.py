"""Per-table adaptation: a fine-tuned copy, trained only on cells the estimator is not asked for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from _tables import FAST, assert_known_cells_identical, mixed_frame

from tabdiff import TabDiffClassifier, TabDiffImputer, TabDiffRegressor
from tabdiff.encoding import TableEncoder
from tabdiff.inference.adapt import AdaptSettings, _batch, adapt, update_average


def _weights(checkpoint) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in checkpoint.model.state_dict().items()}


def _structured(n_rows: int = 48, seed: int = 0) -> pd.DataFrame:
    """Columns that predict each other exactly (rank 1), 30% missing."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n_rows, 1))
    frame = pd.DataFrame(z @ rng.normal(size=(1, 4)), columns=list("abcd"))
    return frame.mask(rng.random(frame.shape) < 0.3)


def test_adaptation_trains_a_copy_and_lowers_the_held_back_error(tiny):
    before = _weights(tiny)
    table = _structured()
    encoded = TableEncoder(max_categories=16).fit(table).transform(table)
    settings = AdaptSettings(steps=40, lr=3e-3, max_rows=48, eval_every=10, patience=10, holdout=0.2)
    result = adapt(tiny, encoded, settings=settings, rng=np.random.default_rng(0))
    for name, value in _weights(tiny).items():  # the caller's checkpoint is untouched
        assert torch.equal(value, before[name]), name
    errors = dict(result.history)
    assert result.steps_run == 40 and sorted(errors) == [0, 10, 20, 30, 40]
    assert errors[result.best_step] == min(errors.values()) and errors[result.best_step] < errors[0]
    assert result.checkpoint.model is not tiny.model and not result.checkpoint.model.training
    changed = any(not torch.equal(v, before[k]) for k, v in _weights(result.checkpoint).items())
    assert changed == (result.best_step > 0)


def test_early_stopping_keeps_the_pretrained_weights_when_nothing_helps(tiny):
    table = _structured()
    encoded = TableEncoder(max_categories=16).fit(table).transform(table)
    settings = AdaptSettings(steps=30, lr=10.0, eval_every=5, patience=2)  # a learning rate that only hurts
    result = adapt(tiny, encoded, settings=settings, rng=np.random.default_rng(0))
    assert result.best_step == 0 and result.steps_run < 30
    for name, value in _weights(result.checkpoint).items():
        assert torch.equal(value, _weights(tiny)[name]), name


def test_update_average_is_the_exponential_moving_average():
    torch.manual_seed(0)
    averaged, model = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    start = [p.detach().clone() for p in averaged.parameters()]
    for _ in range(3):  # a fixed target: average_k = current + decay^k (average_0 - current)
        update_average(averaged, model, 0.8)
    for a, a0, m in zip(averaged.parameters(), start, model.parameters(), strict=True):
        torch.testing.assert_close(a, m + 0.8**3 * (a0 - m))


@pytest.mark.parametrize("ema", [-0.1, 1.0])
def test_an_average_that_would_not_move_or_would_grow_is_refused(ema):
    with pytest.raises(ValueError, match=r"ema must be in \[0, 1\)"):
        AdaptSettings(steps=1, ema=ema)


def test_adaptation_keeps_the_averaged_weights(tiny, monkeypatch):
    """One step, scored as an improvement: the kept weights are decay x pretrained + (1 - decay) x the step's
    weights (the plain run takes the same step: the average draws no randomness)."""
    scores = iter(np.linspace(1.0, 0.1, 10))
    monkeypatch.setattr("tabdiff.inference.adapt._heldout_error", lambda *args: float(next(scores)))
    table = _structured()
    encoded = TableEncoder(max_categories=16).fit(table).transform(table)
    runs = {}
    for ema in (0.0, 0.5):
        settings = AdaptSettings(steps=1, lr=3e-3, max_rows=48, eval_every=1, holdout=0.2, ema=ema)
        runs[ema] = adapt(tiny, encoded, settings=settings, rng=np.random.default_rng(0))
    assert runs[0.0].best_step == runs[0.5].best_step == 1
    pretrained, stepped, kept = (_weights(c) for c in (tiny, runs[0.0].checkpoint, runs[0.5].checkpoint))
    assert any(not torch.equal(stepped[name], pretrained[name]) for name in pretrained)
    for name in dict(tiny.model.named_parameters()):
        torch.testing.assert_close(kept[name], 0.5 * pretrained[name] + 0.5 * stepped[name])


@pytest.mark.parametrize("target", [None, 2])
def test_training_batches_hide_only_observed_cells_and_in_prediction_only_the_target(target):
    table = _structured(n_rows=40)
    encoded = TableEncoder(max_categories=16).fit(table).transform(table)
    observed = encoded.known_mask.numpy()
    hideable = observed.copy()
    if target is not None:
        hideable[:, [0, 1, 3]] = False
    settings = AdaptSettings(steps=1, max_rows=16, max_cols=3, batch_size=8)
    rng = np.random.default_rng(1)
    for _ in range(5):
        batch, rows, cols = _batch(encoded, observed, hideable, None, settings, rng, torch.device("cpu"), hide=True,
                                   target=target)  # fmt: skip
        assert batch.shape[:3] == (8, 16, 3)
        hidden = batch.observed_mask & ~batch.known_mask  # the loss cells
        assert hidden.any()
        for b in range(8):
            r, c = torch.nonzero(hidden[b], as_tuple=True)
            assert hideable[rows[b, r].numpy(), cols[b, c].numpy()].all()  # observed (and the target), nothing else
            assert torch.equal(batch.cells[b, r, c], encoded.cells[rows[b, r], cols[b, c]])


def test_imputer_with_adaptation_keeps_known_cells_and_is_reproducible(tiny):
    frame = mixed_frame(60, seed=3)
    first = TabDiffImputer(tiny, adapt_steps=6, **FAST).fit(frame)
    out = first.transform(frame)
    assert_known_cells_identical(frame, out)
    assert not out.isna().any().any()
    again = TabDiffImputer(tiny, adapt_steps=6, **FAST).fit_transform(frame)
    pd.testing.assert_frame_equal(out, again)
    assert first.adapt_history_[0][0] == 0 and 0 <= first.adapt_best_step_ <= 6
    assert TabDiffImputer(tiny, **FAST).fit(frame).adapt_history_ == []  # adapt_steps=0: pure in-context


def test_predictors_adapt_on_their_training_rows(tiny):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(130, 3)), columns=["a", "b", "c"])
    y = X.a * 2 - X.b
    reg = TabDiffRegressor(tiny, adapt_steps=5, **FAST).fit(X[:120], y[:120])
    assert reg.predict(X[120:]).shape == (10,) and len(reg.adapt_history_) >= 2
    labels = np.where(y > 0, "pos", "neg")
    clf = TabDiffClassifier(tiny, adapt_steps=5, **FAST).fit(X[:120], labels[:120])
    proba = clf.predict_proba(X[120:])
    assert proba.shape == (10, 2) and np.allclose(proba.sum(axis=1), 1.0)


def test_a_table_too_small_to_hold_cells_back_is_not_adapted(tiny):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(20, 2)), columns=["a", "b"])
    with pytest.warns(UserWarning, match="adaptation skipped"):
        reg = TabDiffRegressor(tiny, adapt_steps=5, **FAST).fit(X[:14], X.a[:14] - X.b[:14])
    assert reg.checkpoint_ is tiny and reg.adapt_history_ == []


@pytest.mark.parametrize(("name", "value"), [("adapt_steps", -1), ("adapt_steps", 1.5), ("adapt_lr", 0.0)])
def test_bad_adaptation_settings_name_the_argument(tiny, name, value):
    with pytest.raises(ValueError, match=name):
        TabDiffImputer(tiny, **{name: value}, **FAST).fit(mixed_frame(10))
