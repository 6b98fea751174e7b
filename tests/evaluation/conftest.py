"""A tiny random checkpoint for the evaluation tests (exported like a trained one, loads in milliseconds)."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import torch

from tabdiff.diffusion import GaussianDiffusion
from tabdiff.model import DenoiserConfig, TabularDenoiser
from tabdiff.training.export import export_weights


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """Path of an exported x0-model (mixed mode, so every sampler runs) with small random weights."""
    torch.manual_seed(0)
    model = TabularDenoiser(DenoiserConfig(d_model=32, depth=1, n_heads=2, id_dim=8))
    with torch.no_grad():  # off the zero init, so the output depends on the input
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    diffusion = GaussianDiffusion(50, "cosine", learn_variance=True, prediction="x0", clip_x0=5.0)
    config = {
        "format_version": 1,
        "model": asdict(model.config),
        "diffusion": diffusion.config(),
        "encoder": {"max_categories": 16, "clip": 5.0, "n_quantiles": 1000},
        "training": {"mode": "mixed"},
    }
    return export_weights(model.state_dict(), config, tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")
