from __future__ import annotations

import numpy as np
import pandas as pd

from tabdiff.data.manifest import bundled_tables
from tabdiff.evaluation.baselines import impute_mean_mode
from tabdiff.evaluation.zero_shot import make_tasks, normalized_rmse


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
    assert 0.8 < normalized_rmse(task, impute_mean_mode(task.given)) < 1.3
    # by hand on a tiny table: error 2 on a column of std 1 -> 2
    from tabdiff.evaluation.zero_shot import ImputationTask

    frame = pd.DataFrame({"x": [0.0, 2.0, 0.0, 2.0]})
    toy = ImputationTask("toy", frame, np.array([[True], [False], [True], [True]]), ["x"])
    assert normalized_rmse(toy, pd.DataFrame({"x": [0.0, 0.0, 0.0, 2.0]})) == 2.0
