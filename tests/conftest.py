"""Test-wide settings."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from tabdiff.checkpoint import export_weights
from tabdiff.diffusion import GaussianDiffusion
from tabdiff.model import DenoiserConfig, TabularDenoiser

# the tests run many tiny tensor ops: one thread is faster for them, and keeps results stable when the
# machine's other core is busy (a background pretraining run)
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_checkpoint_path(tmp_path_factory) -> Path:
    """An exported x0-model in mixed mode (every sampler runs) with small random weights, loads in milliseconds."""
    torch.manual_seed(0)
    model = TabularDenoiser(DenoiserConfig(d_model=32, depth=1, n_heads=2, id_dim=8))
    with torch.no_grad():  # off the zero init, so outputs depend on the inputs
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    diffusion = GaussianDiffusion(50, "cosine", learn_variance=True, prediction="x0", clip_x0=5.0)
    config = {
        "format_version": 2,
        "model": asdict(model.config),
        "diffusion": diffusion.config(),
        "encoder": {"max_categories": 16, "clip": 5.0, "n_quantiles": 1000},
        "training": {"mode": "mixed"},
    }
    return export_weights(model.state_dict(), config, tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")
