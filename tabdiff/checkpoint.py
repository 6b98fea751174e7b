"""tabdiff checkpoints, read and written: one safetensors file of weights plus a JSON sidecar of settings.

Training writes them (`export_model`, `export_lightning_checkpoint`) and inference reads them (`load_exported`,
`load_pretrained`), both through this module, which needs neither Lightning nor the training config.
`load_pretrained()` with no path loads the checkpoint bundled with the repository
(`data/checkpoints/tabdiff-small.safetensors` and its `.json` sidecar).

The sidecar holds "model" (`DenoiserConfig`), "diffusion", "encoder", "training" and "experts" (`ExpertConfig`:
the in-context experts inference mixes in by default; missing = none). Format 1 kept the experts' settings as
`ridge_*` fields of "model" and two mixing layers (`ridge_proj`, `ridge_gate`) in the weights: a format-1 file is
read as format 2 when those layers are zero (a fixed mix, which the experts reproduce), refused otherwise.
From a Lightning `.ckpt`, the weights exported are the `state_dict` Lightning saved, which is the EMA average when the
EMA callback ran: it swaps the average in before saving.
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
from safetensors.torch import load_file, save_file
from torch import nn

from tabdiff.diffusion import GaussianDiffusion
from tabdiff.experts import ExpertConfig, check_prediction
from tabdiff.model import DenoiserConfig, TabularDenoiser
from tabdiff.resources import resource_dir

FORMAT_VERSION = 2
MODEL_PREFIX = "model."  # where the training module keeps the denoiser in its state_dict
# format 1: the experts' settings as `ridge_*` model fields (-> "experts" keys) and their mixing layers' weights
FORMAT_1_EXPERT_FIELDS = {"ridge_columns": "columns", "ridge_logistic_steps": "logistic_steps",
                          "ridge_gaussian_iters": "gaussian_iters", "ridge_share": "share",
                          "ridge_network_var": "network_var"}  # fmt: skip
FORMAT_1_MIX_LAYERS = ("ridge_proj.", "ridge_gate.")
# the checkpoint that ships with the repository, next to the package (an editable / source install)
BUNDLED_CHECKPOINT = resource_dir("data") / "checkpoints" / "tabdiff-small.safetensors"


@dataclass
class LoadedCheckpoint:
    """A denoiser in eval mode, its training diffusion process, and the settings it was exported with."""

    model: TabularDenoiser
    diffusion: GaussianDiffusion
    config: dict[str, Any]  # the full sidecar: model, diffusion, encoder, training, experts (and card fields, if any)

    @property
    def experts(self) -> ExpertConfig:
        """The in-context experts this checkpoint is used with by default (its "experts" section; none if missing)."""
        return ExpertConfig.from_dict(self.config.get("experts"))


def upgrade_format_1(
    config: dict[str, Any], state_dict: dict[str, torch.Tensor], source: str
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """A format-1 sidecar and weights as format 2 (module docstring); ValueError when its mixing layers were trained."""
    config = json.loads(json.dumps(config))  # a copy
    model = config.get("model") or {}
    ridge = bool(model.pop("ridge_features", False))
    experts = {new: model.pop(old) for old, new in FORMAT_1_EXPERT_FIELDS.items() if old in model}
    trained = [k for k, v in state_dict.items() if k.startswith(FORMAT_1_MIX_LAYERS) and bool(v.abs().max() > 0)]
    if trained:
        raise ValueError(
            f"{source}: a format-1 checkpoint whose experts' mixing layers were trained ({sorted(trained)[:4]}); this "
            f"tabdiff mixes the experts by a fixed rule outside the network and cannot reproduce it"
        )
    state_dict = {k: v for k, v in state_dict.items() if not k.startswith(FORMAT_1_MIX_LAYERS)}
    if ridge:  # format 1's defaults for the fields a file may leave out
        config["experts"] = {"kind": "linear", "columns": "numeric", "logistic_steps": 0, "gaussian_iters": 0,
                             "share": "even", "network_var": 0.5} | experts  # fmt: skip
    config["format_version"] = FORMAT_VERSION
    return config, state_dict


def _build(config: dict[str, Any], state_dict: dict[str, torch.Tensor], source: Path) -> LoadedCheckpoint:
    version = config.get("format_version")
    if version == 1:
        config, state_dict = upgrade_format_1(config, state_dict, str(source))
    elif version != FORMAT_VERSION:
        raise ValueError(f"{source}: checkpoint format_version {version!r}, this tabdiff reads 1 and {FORMAT_VERSION}")
    try:
        model = TabularDenoiser(DenoiserConfig(**config["model"]))
        diffusion = GaussianDiffusion(**config["diffusion"])
    except (KeyError, TypeError) as err:
        raise ValueError(f"{source}: the model/diffusion settings do not match this tabdiff ({err})") from err
    loaded = LoadedCheckpoint(model=model, diffusion=diffusion, config=config)
    check_prediction(loaded.experts, diffusion.prediction, str(source))
    try:
        missing, unexpected = model.load_state_dict(state_dict, strict=False)
    except RuntimeError as err:  # shape mismatches
        raise ValueError(f"{source}: weights do not match the model settings ({str(err)[:500]})") from err
    if missing or unexpected:
        raise ValueError(
            f"{source}: weights do not match the model settings (missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]})"
        )
    model.eval()
    return loaded


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
            f"torch.load(weights_only=False) and tabdiff.checkpoint.export_weights"
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
        loaded = _build(checkpoint["tabdiff"], _denoiser_state(checkpoint), path)
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


# ------------------------------------------------------------------------------------------------------- writing
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
    return export_weights(_denoiser_state(checkpoint), checkpoint["tabdiff"], path)


def _denoiser_state(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The denoiser's weights in a training module's Lightning checkpoint."""
    return {k[len(MODEL_PREFIX) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(MODEL_PREFIX)}
