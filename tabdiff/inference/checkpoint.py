"""Load an exported tabdiff checkpoint (safetensors + JSON) or a Lightning `.ckpt`, without Lightning.

`load_pretrained()` with no path loads the checkpoint bundled with the repository
(`data/checkpoints/tabdiff-small.safetensors` and its `.json` sidecar).
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from tabdiff.diffusion import GaussianDiffusion
from tabdiff.model import DenoiserConfig, TabularDenoiser
from tabdiff.model.ridge import check_prediction
from tabdiff.resources import resource_dir

FORMAT_VERSION = 1
# the checkpoint that ships with the repository, next to the package (an editable / source install)
BUNDLED_CHECKPOINT = resource_dir("data") / "checkpoints" / "tabdiff-small.safetensors"


@dataclass
class LoadedCheckpoint:
    """A denoiser in eval mode, its training diffusion process, and the settings it was exported with."""

    model: TabularDenoiser
    diffusion: GaussianDiffusion
    config: dict[str, Any]  # the full sidecar: model, diffusion, encoder, training (and card fields, if any)


def _build(config: dict[str, Any], state_dict: dict[str, torch.Tensor], source: Path) -> LoadedCheckpoint:
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(f"{source}: checkpoint format_version {version!r}, this tabdiff reads {FORMAT_VERSION}")
    try:
        model = TabularDenoiser(DenoiserConfig(**config["model"]))
        diffusion = GaussianDiffusion(**config["diffusion"])
    except (KeyError, TypeError) as err:
        raise ValueError(f"{source}: the model/diffusion settings do not match this tabdiff ({err})") from err
    check_prediction(model.config.ridge_features, diffusion.prediction, str(source))
    try:
        missing, unexpected = model.load_state_dict(state_dict, strict=False)
    except RuntimeError as err:  # shape mismatches
        raise ValueError(f"{source}: weights do not match the model settings ({str(err)[:500]})") from err
    if missing or unexpected:
        raise ValueError(
            f"{source}: weights do not match the model settings (missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]})"
        )
    return LoadedCheckpoint(model=model.eval(), diffusion=diffusion, config=config)


def read_lightning_checkpoint(path: str | Path) -> dict[str, Any]:
    """The contents of a Lightning `.ckpt` written by tabdiff's training, unpickled with `weights_only=True`.

    A `.ckpt` is a pickle, and a pickle can run code when it is loaded; PyTorch's weights-only unpickler accepts
    only tensors and plain containers (which is all tabdiff's checkpoints hold) and refuses anything else
    before it runs. A refused file gets a ValueError that says how to get a safe export instead.
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "global" not in str(err).lower():  # garbage bytes, not a refused Python object
            raise ValueError(f"{path} is not a readable Lightning checkpoint (UnpicklingError)") from None
        raise ValueError(
            f"{path} was refused: it holds Python objects other than tensors and plain containers, which could run "
            f"code when loaded, so tabdiff does not unpickle it. Use a .safetensors export instead (tabdiff's "
            f"training writes one to outputs/<run>/export/); only if you trust the file, export it yourself with "
            f"torch.load(weights_only=False) and tabdiff.training.export.export_weights"
        ) from None
    except Exception as err:  # noqa: BLE001 - any other failure means a corrupt or foreign file
        raise ValueError(f"{path} is not a readable Lightning checkpoint ({type(err).__name__})") from None
    if not isinstance(checkpoint, dict) or "tabdiff" not in checkpoint or "state_dict" not in checkpoint:
        raise ValueError(f"{path} has no 'tabdiff' settings: it was not written by tabdiff's training")
    return checkpoint


def load_exported(path: str | Path, *, device: torch.device | str = "cpu") -> LoadedCheckpoint:
    """Load `x.safetensors` and its sidecar `x.json`, or a Lightning `.ckpt` written by tabdiff's training."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if path.suffix == ".ckpt":
        checkpoint = read_lightning_checkpoint(path)
        state = {k[len("model.") :]: v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")}
        loaded = _build(checkpoint["tabdiff"], state, path)
    else:
        sidecar = path.with_suffix(".json")
        if not sidecar.exists():
            raise FileNotFoundError(f"{path} needs its settings file {sidecar} next to it")
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError) as err:
            raise ValueError(f"{path} is not a readable safetensors file ({err})") from err
        try:
            config = json.loads(sidecar.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{sidecar} is not valid JSON ({err})") from err
        loaded = _build(config, state, path)
    loaded.model.to(device)
    return loaded


def default_device() -> str:
    """The default inference device: cuda when a GPU is visible, else cpu."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_pretrained(path: str | Path | None = None, device: torch.device | str | None = None) -> LoadedCheckpoint:
    """Load a checkpoint for inference: the bundled one (no path), an export (`.safetensors` + `.json`) or a `.ckpt`.

    `device` defaults to "cuda" when available, else "cpu".
    """
    device = default_device() if device is None else device
    if path is None:
        if not BUNDLED_CHECKPOINT.exists():
            raise FileNotFoundError(
                f"the bundled checkpoint {BUNDLED_CHECKPOINT} is not there (it is not in this checkout or "
                f"install yet); pass a checkpoint path instead, e.g. load_pretrained('outputs/<run>/export/"
                f"tabdiff.safetensors'), or `checkpoint=PATH` to an estimator, `--checkpoint PATH` to the CLI"
            )
        path = BUNDLED_CHECKPOINT
    return load_exported(path, device=device)


def resolve_checkpoint(
    checkpoint: LoadedCheckpoint | str | Path | None, device: torch.device | str | None
) -> LoadedCheckpoint:
    """An estimator's `checkpoint` argument -> a loaded checkpoint on `device` (loads are cached per path/device).

    A `LoadedCheckpoint` object is used as it is; with `device` given, its model is moved there (in place).
    """
    if isinstance(checkpoint, LoadedCheckpoint):
        if device is not None:
            checkpoint.model.to(device)
        return checkpoint
    if checkpoint is not None and not isinstance(checkpoint, (str, Path)):
        raise TypeError(
            f"checkpoint must be None (the bundled one), a path or a LoadedCheckpoint, got {type(checkpoint).__name__}"
        )
    device = str(default_device() if device is None else device)
    path = None if checkpoint is None else str(Path(checkpoint).resolve())
    return _load_cached(path, device)


@lru_cache(maxsize=4)
def _load_cached(path: str | None, device: str) -> LoadedCheckpoint:
    return load_pretrained(path, device)
