from __future__ import annotations

import numpy as np
import pandas as pd

from tabdiff.data.manifest import bundled_tables
from tabdiff.diffusion import GaussianDiffusion
from tabdiff.evaluation.zero_shot import impute_task, make_tasks, mean_imputation, normalized_rmse
from tabdiff.model import DenoiserConfig, TabularDenoiser


def test_tasks_use_held_out_tables_only_with_the_requested_missing_rate():
    tasks = make_tasks(missing_rate=0.3, max_rows=100, max_tables=4)
    heldout = {s.name for s in bundled_tables("heldout")}
    assert len(tasks) == 4 and {t.name for t in tasks} <= heldout
    for task in tasks:
        observed = task.frame.notna().to_numpy()
        assert not (task.known_mask & ~observed).any()
        rate = 1 - task.known_mask[observed].mean()
        assert 0.2 < rate < 0.4


def test_normalized_rmse_is_zero_for_the_truth_and_about_one_for_means():
    task = make_tasks(max_rows=200, max_tables=1)[0]
    assert normalized_rmse(task, task.frame) == 0
    assert 0.8 < normalized_rmse(task, mean_imputation(task)) < 1.3
    # by hand on a tiny table: error 2 on a column of std 1 -> 2
    from tabdiff.evaluation.zero_shot import ImputationTask

    frame = pd.DataFrame({"x": [0.0, 2.0, 0.0, 2.0]})
    toy = ImputationTask("toy", frame, np.array([[True], [False], [True], [True]]), ["x"])
    assert normalized_rmse(toy, pd.DataFrame({"x": [0.0, 0.0, 0.0, 2.0]})) == 2.0


def test_impute_task_returns_the_table_with_known_cells_untouched():
    task = make_tasks(max_rows=40, max_tables=1)[0]
    model = TabularDenoiser(DenoiserConfig(d_model=32, depth=1, n_heads=2, id_dim=8)).eval()
    out = impute_task(model, GaussianDiffusion(50, learn_variance=True, prediction="x0"), task)
    assert list(out.columns) == list(task.frame.columns) and out.index.equals(task.frame.index)
    for j, column in enumerate(task.frame.columns):
        known = task.known_mask[:, j]
        pd.testing.assert_series_equal(out[column][known], task.frame[column][known], check_exact=False, rtol=1e-6)
    assert np.isfinite(normalized_rmse(task, out))
