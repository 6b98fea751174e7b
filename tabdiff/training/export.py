"""Export the denoiser for inference: one safetensors file of weights plus a JSON sidecar of settings.

The pair loads without Lightning or the training config (`tabdiff.inference.checkpoint.load_exported`).
From a Lightning `.ckpt`, the weights exported are the `state_dict` Lightning saved, which is the EMA
average when the EMA callback (`ForeachEMA`, a Lightning `EMAWeightAveraging`) ran: it swaps the average in before saving.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from tabdiff.inference.checkpoint import read_lightning_checkpoint

MODEL_PREFIX = "model."  # where TabDiffusionModule keeps the denoiser in its state_dict


def sidecar_path(weights_path: str | Path) -> Path:
    """`x.safetensors` -> `x.json`."""
    return Path(weights_path).with_suffix(".json")


def export_weights(state_dict: dict[str, torch.Tensor], config: dict[str, Any], path: str | Path) -> Path:
    """Write `path` (.safetensors) and its JSON sidecar; returns the weights path."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"export path must end in .safetensors, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {name: tensor.detach().to("cpu", torch.float32).contiguous() for name, tensor in state_dict.items()}
    save_file(tensors, str(path), metadata={"format": "tabdiff", "format_version": str(config["format_version"])})
    sidecar_path(path).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return path


def export_model(model: nn.Module, config: dict[str, Any], path: str | Path) -> Path:
    """Export a denoiser module with the settings of `TabDiffusionModule.export_config()`."""
    return export_weights(model.state_dict(), config, path)


def export_lightning_checkpoint(ckpt_path: str | Path, path: str | Path) -> Path:
    """Export the denoiser weights (EMA when trained with it) of a Lightning `.ckpt` written by tabdiff."""
    checkpoint = read_lightning_checkpoint(ckpt_path)  # weights_only: a planted pickle is refused, not run
    state = {k[len(MODEL_PREFIX) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(MODEL_PREFIX)}
    return export_weights(state, checkpoint["tabdiff"], path)
