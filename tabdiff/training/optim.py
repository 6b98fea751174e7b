"""Optimizers of the training module: AdamW, or Muon for the hidden weight matrices with AdamW for the rest.

Muon (Jordan et al., 2024; `torch.optim.Muon`) orthogonalizes each 2-D weight update by Newton-Schulz iterations.
It is meant for the hidden matrices only: embeddings, the output head, biases and norms stay with AdamW. Lightning's
automatic optimization takes one optimizer, so `MuonAdamW` steps both as one; its `param_groups` are the two
optimizers' own groups, so a learning-rate scheduler drives both (Muon's learning rate scaled to match AdamW's
update size, `adjust_lr_fn="match_rms_adamw"`, so one `lr` serves both).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import nn

OptimizerName = Literal["adamw", "muon"]
OPTIMIZERS: tuple[OptimizerName, ...] = ("adamw", "muon")


class MuonAdamW(torch.optim.Optimizer):
    """Muon on `muon_params` and AdamW on `adamw_groups` (each a param-group dict), stepped together."""

    def __init__(
        self,
        muon_params: list[nn.Parameter],
        adamw_groups: list[dict[str, Any]],
        *,
        lr: float,
        weight_decay: float,
        betas: tuple[float, float],
        momentum: float = 0.95,
    ) -> None:
        self.muon = torch.optim.Muon(
            muon_params, lr=lr, weight_decay=weight_decay, momentum=momentum, adjust_lr_fn="match_rms_adamw"
        )
        self.adamw = torch.optim.AdamW(adamw_groups, lr=lr, betas=betas)
        # deliberately not Optimizer.__init__: the groups and the state are the two optimizers' own
        self.defaults = {"lr": lr}
        self.param_groups = self.muon.param_groups + self.adamw.param_groups
        self._optimizer_step_pre_hooks, self._optimizer_step_post_hooks = {}, {}  # what torch's hooks expect
        self._optimizer_state_dict_pre_hooks, self._optimizer_state_dict_post_hooks = {}, {}
        self._optimizer_load_state_dict_pre_hooks, self._optimizer_load_state_dict_post_hooks = {}, {}

    @property
    def state(self) -> dict:  # type: ignore[override]
        return {**self.muon.state, **self.adamw.state}

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.muon.step()
        self.adamw.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.muon.zero_grad(set_to_none=set_to_none)
        self.adamw.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return {"muon": self.muon.state_dict(), "adamw": self.adamw.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.muon.load_state_dict(state_dict["muon"])
        self.adamw.load_state_dict(state_dict["adamw"])
        self.param_groups = self.muon.param_groups + self.adamw.param_groups


def build_optimizer(
    model: nn.Module, name: OptimizerName, *, lr: float, weight_decay: float, betas: tuple[float, float]
) -> torch.optim.Optimizer:
    """The trainable parameters of `model` under `name`: no weight decay on biases, norms and embeddings (the usual
    AdamW practice); with "muon", the 2-D weights inside the blocks go to Muon."""
    if name not in OPTIMIZERS:
        raise ValueError(f"module.optimizer must be one of {list(OPTIMIZERS)}, got {name!r}")
    muon, decay, no_decay = [], [], []
    for param_name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if name == "muon" and param.ndim == 2 and param_name.startswith("blocks."):
            muon.append(param)
        elif param.ndim < 2 or "embed" in param_name:
            no_decay.append(param)
        else:
            decay.append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups = [group for group in groups if group["params"]]
    if name == "adamw" or not muon:
        return torch.optim.AdamW(groups, lr=lr, betas=betas)
    return MuonAdamW(muon, groups, lr=lr, weight_decay=weight_decay, betas=betas)
