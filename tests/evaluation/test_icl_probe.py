"""The in-context-learning probe: tables whose best possible R^2 is known, and its rows in the evaluation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabdiff.evaluation.icl_probe import PROBE_FAMILIES, ProbeConfig, make_probe_tasks, probe_summary, r2_score
from tabdiff.evaluation.runner import EvaluationConfig, evaluate


@pytest.mark.parametrize("family", PROBE_FAMILIES)
@pytest.mark.parametrize("optimal_r2", [0.5, 0.8])
def test_the_oracle_reaches_the_configured_r2_on_a_large_sample(family, optimal_r2):
    config = ProbeConfig(families=(family,), context_rows=(16,), n_test=40_000, n_tables=2, optimal_r2=optimal_r2)
    for task in make_probe_tasks(config, seed=3):
        assert r2_score(task.y_test, task.oracle_test) == pytest.approx(optimal_r2, abs=0.02)
        assert task.X_train.shape == (16, config.n_features) and len(task.y_train) == 16
        assert np.allclose(task.X_test.std(), 1.0, atol=0.03)  # standard-normal marginals


def test_glm_targets_are_counts_and_tasks_are_reproducible():
    config = ProbeConfig(context_rows=(32, 64), n_test=50, n_tables=2)
    first, again = make_probe_tasks(config, seed=1), make_probe_tasks(config, seed=1)
    assert [t.name for t in first] == [f"{f}#{i}" for f in PROBE_FAMILIES for _ in (32, 64) for i in range(2)]
    for a, b in zip(first, again, strict=True):
        pd.testing.assert_frame_equal(a.X_train, b.X_train)
        assert np.array_equal(a.oracle_test, b.oracle_test)
    glm = [t for t in first if t.family == "glm"]
    assert all((t.y_train >= 0).all() and (t.y_train == t.y_train.round()).all() for t in glm)
    other_seed = make_probe_tasks(config, seed=2)
    assert not np.array_equal(first[0].y_train, other_seed[0].y_train)


def test_bad_probe_settings_are_refused():
    with pytest.raises(ValueError, match="unknown probe families"):
        ProbeConfig(families=("spline",))
    with pytest.raises(ValueError, match="optimal_r2"):
        ProbeConfig(optimal_r2=1.0)


def test_the_probe_runs_every_method_and_the_summary_divides_by_ridge_and_the_oracle(tiny_checkpoint):
    probe = ProbeConfig(families=("linear",), context_rows=(16, 64), n_test=24, n_tables=2, n_features=3)
    config = EvaluationConfig(tasks=("icl_probe",), probe=probe, checkpoint=str(tiny_checkpoint))
    results = evaluate(config, progress=False)
    assert (results.status == "ok").all(), results.loc[results.status != "ok", ["method", "error"]]
    assert set(results.method) == {"oracle", "ridge", "hgb", "tabdiff"} and len(results) == 4 * 4
    assert results.r2.notna().all() and set(results.n_context) == {16, 64}
    summary = probe_summary(results)
    assert list(summary.index) == [("linear", 16), ("linear", 64)]
    assert np.allclose(summary["tabdiff / ridge"], summary["tabdiff"] / summary["ridge"])
    assert np.allclose(summary["tabdiff / oracle"], summary["tabdiff"] / summary["oracle"])
