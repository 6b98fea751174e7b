"""A tiny conditional checkpoint (random weights, exported and loaded back), shared by the inference tests."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import torch

from tabdiff.diffusion import GaussianDiffusion
from tabdiff.inference.checkpoint import LoadedCheckpoint, load_exported
from tabdiff.model import DenoiserConfig, TabularDenoiser
from tabdiff.training.export import export_weights


@pytest.fixture(scope="session")
def checkpoint_path(tmp_path_factory) -> str:
    torch.manual_seed(0)
    model = TabularDenoiser(DenoiserConfig(d_model=32, depth=1, n_heads=2, id_dim=8))
    with torch.no_grad():  # leave the zero init, so outputs depend on the inputs
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    diffusion = GaussianDiffusion(50, "cosine", learn_variance=True, prediction="x0", clip_x0=5.0)
    config = {
        "format_version": 1,
        "model": asdict(model.config),
        "diffusion": diffusion.config(),
        "encoder": {"max_categories": 16, "clip": 5.0, "n_quantiles": 1000},
        "training": {"mode": "conditional"},
    }
    return str(export_weights(model.state_dict(), config, tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"))


@pytest.fixture(scope="session")
def tiny(checkpoint_path) -> LoadedCheckpoint:
    return load_exported(checkpoint_path)
