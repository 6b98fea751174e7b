"""Task builders: held-out tables only, the requested mechanisms and rates, reproducible per table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabdiff.evaluation.supervised import make_supervised_tasks
from tabdiff.evaluation.zero_shot import heldout_sources, make_tasks


def test_a_pretraining_or_unknown_table_is_refused():
    with pytest.raises(ValueError, match="pretraining table"):
        make_tasks(tables=["iris"])
    with pytest.raises(ValueError, match="no held-out table"):
        make_supervised_tasks("classification", tables=["no_such_table"])
    assert [s.name for _, s in heldout_sources(["wine", "diabetes"])] == ["wine", "diabetes"]


@pytest.mark.parametrize("mechanism", ["mcar", "mar", "mnar"])
@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_mechanisms_hide_about_the_requested_share_of_observed_cells(mechanism, rate):
    task = make_tasks(missing_rate=rate, max_rows=150, tables=["wine"], mechanism=mechanism)[0]
    observed = task.frame.notna().to_numpy()
    assert not (task.known_mask & ~observed).any()
    assert task.known_mask.any(axis=0).all()
    hidden = 1 - task.known_mask[observed].mean()
    # mar keeps its driver columns (up to half) fully known, so the table-wide share can be lower
    low = 0.2 * rate if mechanism == "mar" else 0.6 * rate
    assert low < hidden < 1.4 * rate


def test_mnar_hides_large_or_small_values_more_often():
    task = make_tasks(missing_rate=0.3, max_rows=200, tables=["diabetes"], mechanism="mnar")[0]
    gaps = []
    for j, column in enumerate(task.numeric):
        values = task.frame[column].to_numpy(np.float64)
        gaps.append(abs(values[~task.known_mask[:, j]].mean() - values[task.known_mask[:, j]].mean()) / values.std())
    assert np.median(gaps) > 0.5  # about 1.2 here; 0.1 under MCAR


def test_a_table_gets_the_same_task_alone_or_among_all():
    alone = make_tasks(tables=["glass"], seed=3, max_rows=50)[0]
    among = {t.name: t for t in make_tasks(seed=3, max_rows=50)}["glass"]
    pd.testing.assert_frame_equal(alone.frame, among.frame)
    np.testing.assert_array_equal(alone.known_mask, among.known_mask)


def test_supervised_tasks_split_the_rows_of_matching_tables():
    tasks = make_supervised_tasks("classification", tables=["penguins", "diabetes"], max_rows=100, max_cols=5)
    assert [t.name for t in tasks] == ["penguins"]  # diabetes is a regression table
    task = tasks[0]
    assert task.n_rows == 100 and task.X_train.shape[1] == 4 and "species" not in task.X_train
    assert len(task.X_test) == 30 and not set(task.X_train.index) & set(task.X_test.index)
    assert set(task.y_test) <= set(task.classes) and task.y_train.notna().all()
    reg = make_supervised_tasks("regression", tables=["diabetes"], max_rows=80)[0]
    assert reg.classes is None and pd.api.types.is_numeric_dtype(reg.y_train)


def test_mcar_tasks_are_the_ones_the_training_callback_always_scored():
    # the draws of the original builder, so val/zs_nrmse stays comparable across versions
    task = make_tasks(missing_rate=0.3, max_rows=60, seed=2, max_tables=2)[1]
    rng = np.random.default_rng([2, 1])
    frame = heldout_sources()[1][1].load()
    frame = frame.iloc[np.sort(rng.permutation(len(frame))[:60])].iloc[:, :16]
    observed = frame.notna().to_numpy()
    known = observed & (rng.random(observed.shape) >= 0.3)
    for j in np.flatnonzero(~known.any(axis=0) & observed.any(axis=0)):
        known[rng.choice(np.flatnonzero(observed[:, j])), j] = True
    pd.testing.assert_frame_equal(task.frame, frame)
    np.testing.assert_array_equal(task.known_mask, known)
