"""Real pretraining (minutes): the cpu_small recipe learns the prior. `make test-full` runs it; CI runs the smoke tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from tabdiff.training.train import train

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.mark.slow
def test_cpu_small_recipe_learns_the_prior(tmp_path):
    overrides = [
        "experiment=cpu_small",
        f"output_dir={tmp_path}",
        "trainer.max_steps=400",
        "trainer.val_check_interval=400",
        "trainer.enable_progress_bar=false",
        "callbacks.zero_shot.max_tables=4",
        # the EMA weights are what validation and export see; at the recipe's 0.999 they would still be 0.999^400
        # = 67% the untrained start after 400 steps (measured: val mse 0.900 -> 0.858), at 0.99 the trained weights
        "callbacks.ema.decay=0.99",
    ]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("pretrain", overrides=overrides)
    metrics, objects = train(cfg)
    module, datamodule = objects["module"], objects["datamodule"]
    batch = datamodule.val_dataloader().dataset[0]
    fresh = train(compose_fresh(tmp_path))[1]["module"]
    before = fresh.batch_losses(batch, fresh.step_generator(-1, 0))["mse"].item()
    after = module.batch_losses(batch, module.step_generator(-1, 0))["mse"].item()
    assert after < 0.8 * before, (before, after)
    assert metrics["val/zs_nrmse"] < 1.5


def compose_fresh(tmp_path):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(
            "pretrain",
            overrides=[
                "experiment=cpu_small",
                f"output_dir={tmp_path / 'fresh'}",
                "trainer.max_steps=0",
                "callbacks.zero_shot=null",
            ],
        )
