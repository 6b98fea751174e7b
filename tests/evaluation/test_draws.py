"""Scoring multiple imputations (issue 13): CRPS against its closed form, band coverage of calibrated draws,
the references, and the task end to end through the Hydra config."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from scipy import stats

from tabdiff.evaluation.cli import CONF_DIR, run
from tabdiff.evaluation.draws import band_coverage, crps_ensemble, reference_draws, score_draws
from tabdiff.evaluation.methods import TabDiffSetting
from tabdiff.evaluation.zero_shot import ImputationTask
from tabdiff.inference.inpaint import DRAW_STEPS


def test_crps_of_many_normal_draws_matches_the_closed_form():
    rng = np.random.default_rng(0)
    draws = rng.normal(size=(20_000, 1)) * np.ones((1, 3))
    truth = np.array([0.0, 0.5, 2.0])
    z = truth  # N(0, 1): CRPS = z (2 Phi(z) - 1) + 2 phi(z) - 1 / sqrt(pi)
    exact = z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi)
    np.testing.assert_allclose(crps_ensemble(draws, truth), exact, atol=0.01)


def test_crps_of_one_draw_is_the_absolute_error_and_of_a_pair_by_hand():
    np.testing.assert_allclose(crps_ensemble(np.array([[1.0, -2.0]]), np.array([0.5, 1.0])), [0.5, 3.0])
    # draws {0, 2}, truth 0: E|X - y| = 1, E|X - X'| = (0 + 2 + 2 + 0) / 4 = 1 -> 1 - 0.5
    np.testing.assert_allclose(crps_ensemble(np.array([[0.0], [2.0]]), np.array([0.0])), [0.5])


@pytest.mark.parametrize("m", [5, 10, 40])
def test_calibrated_draws_cover_the_level_whatever_m(m):
    rng = np.random.default_rng(1)
    draws, truth = rng.normal(size=(m, 40_000)), rng.normal(size=40_000)
    for level in (0.5, 0.8, 0.9):
        assert band_coverage(draws, truth, level) == pytest.approx(level, abs=0.01)
    # draws twice too narrow cover less, twice too wide more
    calibrated = band_coverage(draws, truth, 0.9)
    assert (
        band_coverage(0.5 * draws, truth, 0.9)
        < calibrated - 0.05
        < calibrated + 0.05
        < band_coverage(2 * draws, truth, 0.9)
    )


def _task(n: int = 200) -> ImputationTask:
    rng = np.random.default_rng(2)
    x = rng.normal(size=n)
    frame = pd.DataFrame({"x": x, "y": 3 * x + rng.normal(scale=0.3, size=n), "c": np.where(x > 0, "hi", "lo")})
    known = rng.random(frame.shape) > 0.3
    known[0] = True
    return ImputationTask("toy", frame, known, ["x", "y"])


def test_references_keep_known_cells_and_mice_beats_the_marginal():
    task = _task()
    scores = {}
    for name in ("marginal", "mice"):
        draws = reference_draws(name, task.given, 10, seed=0)
        assert len(draws) == 10 and not any(d.isna().any().any() for d in draws)
        for d in draws:
            pd.testing.assert_frame_equal(
                d.where(task.known_mask), task.given.where(task.known_mask), check_dtype=False
            )
        scores[name] = score_draws(task, draws)
    assert scores["mice"]["crps"] < 0.7 * scores["marginal"]["crps"]  # y = 3x: MICE knows it, the marginal does not
    assert 0.5 < scores["marginal"]["cov90"] <= 1.0 and np.isfinite(scores["mice"]["brier"])
    truth = score_draws(task, [task.frame] * 3)  # the truth itself: perfect scores
    assert truth["crps"] == 0 and truth["brier"] < 0.2  # (coverage of draws tied with the truth: ties split at random)


def test_the_task_runs_through_the_config(tiny_checkpoint, tmp_path):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("evaluate", overrides=[
            "evaluation=tiny", "tasks=[multiple_imputation]", "draws.n_draws=3", f"checkpoint={tiny_checkpoint}",
            f"output_dir={tmp_path}", "draws.settings=[{name: tabdiff-mi, sampler: conditional, n_steps: 2, n_ensemble: 1}, "
            "{name: tabdiff-raw, sampler: conditional, n_steps: 2, n_ensemble: 1, draw_centre: draws}]",
        ])  # fmt: skip
    results, _ = run(cfg)
    assert (results.status == "ok").all(), results.loc[results.status != "ok", ["method", "error"]]
    assert set(results.method) == {"marginal", "mice", "tabdiff", "tabdiff-mi", "tabdiff-raw"}
    drawn = results[results.method.isin(["marginal", "mice", "tabdiff-mi", "tabdiff-raw"])]
    assert (drawn.n_draws == 3).all() and drawn[["crps", "cov50", "cov90"]].notna().all().all()
    # the same draws, centred on the one-pass point (the imputer's default) or as the sampler made them
    assert results.loc[results.method == "tabdiff-raw", "draw_centre"].eq("draws").all()
    assert results.loc[results.method == "tabdiff-mi", "draw_centre"].isna().all()  # the estimator's default
    centred, raw = (results.loc[results.method == m, "crps"].to_numpy() for m in ("tabdiff-mi", "tabdiff-raw"))
    assert not np.allclose(centred, raw)
    point = results[results.method == "tabdiff"]
    assert (point.n_draws == 1).all() and point.crps.notna().all() and point.cov90.isna().all()
    assert "## Multiple imputation" in (tmp_path / "report.md").read_text()


def test_a_setting_left_at_the_defaults_draws_with_the_conditional_sampler(tiny_checkpoint, tmp_path):
    """TabDiffSetting's default sampler is the estimators' "auto": its point estimates are one pass and its draws the
    conditional sampler's, and the results rows say which ran."""
    setting = TabDiffSetting(name="defaults")
    assert (setting.sampler, setting.n_steps) == ("auto", None)
    assert setting.steps() == ("ddim", 1) and setting.steps(draws=True) == ("conditional", DRAW_STEPS)
    assert setting.denoiser_calls() == setting.n_ensemble and setting.denoiser_calls(draws=True) == DRAW_STEPS
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose("evaluate", overrides=[
            "evaluation=tiny", "tasks=[multiple_imputation]", "draws.n_draws=3", f"checkpoint={tiny_checkpoint}",
            f"output_dir={tmp_path}", "draws.settings=[{name: tabdiff-mi}]", "tabdiff.settings=[{name: tabdiff}]",
            "draws.references=[]",
        ])  # fmt: skip
    results, _ = run(cfg)
    assert (results.status == "ok").all(), results.loc[results.status != "ok", ["method", "error"]]
    rows = results.set_index(["table", "method"])
    assert set(rows.xs("tabdiff-mi", level="method").sampler) == {"conditional"}
    assert set(rows.xs("tabdiff-mi", level="method").n_steps) == {DRAW_STEPS}
    assert set(rows.xs("tabdiff", level="method").sampler) == {"ddim"}
    assert (rows.xs("tabdiff-mi", level="method").cov90.notna()).all()
