"""Configs: every standalone group config instantiates; every experiment composes and resolves."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[1] / "conf"
# group configs that stand alone (no ${...} reaching into the composed config)
STANDALONE = sorted(p for p in CONF.rglob("*.yaml") if "_target_" in OmegaConf.load(p) and "${" not in p.read_text())
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def test_there_are_configs_to_check():
    groups = {p.parent.name for p in STANDALONE}
    assert {"diffusion", "model", "prior"} <= groups
    assert {"smoke", "cpu_small", "gpu_base", "cluster"} <= set(EXPERIMENTS)


@pytest.mark.parametrize("path", STANDALONE, ids=lambda p: str(p.relative_to(CONF)))
def test_standalone_config_instantiates(path):
    assert instantiate(OmegaConf.load(path)) is not None


def test_diffusion_default_is_the_repaint_setting():
    d = instantiate(OmegaConf.load(CONF / "diffusion" / "default.yaml"))
    assert d.num_timesteps == 1000 and d.learn_variance and d.prediction == "eps"


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_composes_and_resolves(experiment, tmp_path):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        required = {"finetune": ["tables=data/tables"]}.get(experiment, [])  # the user's folder is mandatory
        cfg = compose("pretrain", overrides=[f"experiment={experiment}", f"output_dir={tmp_path}", *required])
    resolved = OmegaConf.to_container(cfg, resolve=True)
    assert resolved["name"] == experiment
    assert resolved["encoder"]["max_categories"] == resolved["model"]["n_channels"]
    assert resolved["trainer"]["_target_"] == "lightning.Trainer"
    # the stream's encoder settings and the prior's category cap fit the model's channels
    assert resolved["prior"]["columns"]["max_categories"] <= resolved["model"]["n_channels"]


def test_the_gpu_recipe_draws_its_prior_on_cpu_workers_sized_to_the_machine(tmp_path):
    """experiment=gpu_small: a batched prior on CPU workers (one per CPU less two), pinned batches of 128."""
    from tabdiff.data.datamodule import resolve_workers
    from tabdiff.prior.batched.sampler import BatchedPrior

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("pretrain", overrides=["experiment=gpu_small", f"output_dir={tmp_path}", "data.real_fraction=0"])
    data = instantiate(cfg.data)
    assert isinstance(data.prior, BatchedPrior) and data.prior.device.type == "cpu"
    assert data.num_workers == resolve_workers("auto") >= 1 and data.pin_memory
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):  # the same stream in this process
        cfg = compose(
            "pretrain",
            overrides=[
                "experiment=gpu_small",
                f"output_dir={tmp_path}",
                "data.real_fraction=0",
                "data.num_workers=0",
                "data.pin_memory=false",
            ],
        )
    data = instantiate(cfg.data)
    data.setup()
    batch = next(iter(data.train_dataloader()))
    assert batch.shape[0] == 128 and batch.cells.device.type == "cpu"
