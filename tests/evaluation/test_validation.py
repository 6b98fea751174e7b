"""The training-time validation: the evaluation's figures, logged by a smoke run."""

from __future__ import annotations

import math

from hydra import compose, initialize_config_dir

from tabdiff.evaluation.cli import CONF_DIR
from tabdiff.evaluation.validation import TransferValidation
from tabdiff.training.train import train


def test_a_smoke_run_logs_imputation_and_probe_figures_from_the_estimators(tmp_path):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(
            "pretrain",
            overrides=[
                "experiment=smoke",
                f"output_dir={tmp_path}",
                "trainer.max_steps=4",
                "trainer.val_check_interval=4",
            ],
        )
    metrics, objects = train(cfg)
    assert math.isfinite(metrics["val/zs_nrmse"]) and 0 < metrics["val/zs_nrmse"] < 3
    assert math.isfinite(metrics["val/icl_r2_share"])
    callback = next(c for c in objects["trainer"].callbacks if isinstance(c, TransferValidation))
    assert [t.name for t in callback.tasks] == ["diabetes", "linnerud"]  # smoke: the first two held-out tables
    assert all(t.frame.shape[0] <= 32 for t in callback.tasks)
    assert len(callback.probe_tasks) == 1 and callback.probe_tasks[0].n_context == 16


def test_by_default_the_whole_tables_and_the_256_row_probe_are_scored():
    callback = TransferValidation(max_tables=1)
    assert callback.task_settings["max_rows"] is None and callback.task_settings["max_cols"] is None
    assert callback.probe.context_rows == (256,) and callback.probe.families == ("linear",)
    assert TransferValidation(probe_rows=None).probe is None
    assert (callback.setting.sampler, callback.setting.n_steps, callback.setting.n_ensemble) == ("ddim", 1, 1)
