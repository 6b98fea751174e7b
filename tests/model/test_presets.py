"""Every conf/model preset builds through Hydra; the tiny one stays tiny."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tabdiff.model import TabularDenoiser

CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "model"


@pytest.mark.parametrize("preset", ["tiny", "small", "base"])
def test_preset_instantiates(preset: str) -> None:
    cfg = OmegaConf.load(CONF_DIR / f"{preset}.yaml")
    with torch.device("meta"):  # no memory or init time for base's tens of millions of parameters
        model = instantiate(cfg)
    assert isinstance(model, TabularDenoiser)
    config = model.config
    assert (config.n_channels, config.learn_variance, config.conditional) == (16, True, True)
    n = model.n_parameters()
    bounds = {"tiny": (1, 100_000), "small": (300_000, 1_500_000), "base": (10_000_000, 200_000_000)}
    assert bounds[preset][0] <= n < bounds[preset][1], n


def test_tiny_preset_runs() -> None:
    torch.manual_seed(0)
    model = instantiate(OmegaConf.load(CONF_DIR / "tiny.yaml"))
    out = model(torch.randn(1, 3, 2, 16), torch.tensor([5]))
    assert out.shape == (1, 3, 2, 32)
