"""Every Hydra config with a `_target_` builds its object with hydra.utils.instantiate."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

CONF = Path(__file__).resolve().parents[1] / "conf"
TARGETED = sorted(p for p in CONF.rglob("*.yaml") if "_target_" in OmegaConf.load(p))


def test_there_are_configs_to_check():
    assert any(p.parent.name == "diffusion" for p in TARGETED)


@pytest.mark.parametrize("path", TARGETED, ids=lambda p: str(p.relative_to(CONF)))
def test_config_instantiates(path):
    assert instantiate(OmegaConf.load(path)) is not None


def test_diffusion_default_is_the_repaint_setting():
    d = instantiate(OmegaConf.load(CONF / "diffusion" / "default.yaml"))
    assert d.num_timesteps == 1000 and d.learn_variance and d.prediction == "eps"
