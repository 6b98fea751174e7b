"""The LightningModule that pretrains the denoiser: noise every cell, learn to denoise the loss cells.

Training modes (docs/design.md):
- "unconditional": the pure RePaint setting; the network never sees which cells are known and the loss
  is on every observed cell.
- "conditional": the network also gets the known-mask and the clean known cells; the loss is on the
  unknown (but observed) cells.
- "mixed": each table is conditional with probability 1 - p_unconditional, so one checkpoint serves both
  the `repaint` and the `conditional` samplers.
"""

from __future__ import annotations

import fnmatch
import math
import time
from dataclasses import asdict
from typing import Any, Literal

import lightning as L
import torch
from lightning.pytorch.callbacks import Timer
from torch import nn

from tabdiff.checkpoint import FORMAT_VERSION
from tabdiff.data.batch import TableBatch
from tabdiff.diffusion import GaussianDiffusion
from tabdiff.experts import NO_EXPERTS, ExpertConfig, check_prediction
from tabdiff.objective import denoising_losses
from tabdiff.training.optim import OptimizerName, build_optimizer

Mode = Literal["unconditional", "conditional", "mixed"]
LEGACY_FORWARD_PREFIX = "_forward."  # a second copy of the weights in checkpoints saved before 2026-11-28


class TabDiffusionModule(L.LightningModule):
    """Wraps a `TabularDenoiser` and a `GaussianDiffusion`.

    Args:
        model: the denoiser (any nn.Module with the `TabularDenoiser.forward` signature and a `.config`).
        diffusion: the training process.
        mode: see the module docstring.
        p_unconditional: in "mixed" mode, the probability that a table is trained without conditioning.
        p_top_t: the probability that a conditional table is trained at the top step T-1 instead of a uniform t:
            there an x0-model's output is its one-pass estimate of E[unknown | known] (the default sampler),
            which only the in-context relations between cells can improve.
        optimizer: "adamw", or "muon" (Muon for the blocks' weight matrices, AdamW for the rest; training/optim.py).
        lr, weight_decay, betas: the optimizer's (betas: AdamW's).
        warmup_steps: linear warmup from 0; then cosine decay to `min_lr_ratio * lr` at `decay_steps`
            (default: the trainer's max_steps), constant after.
        decay_minutes: instead of `decay_steps`, the cosine runs over this many minutes of training on the
            Trainer's clock (its `max_time` Timer): a wall-time budget (the speedrun) then ends annealed whatever a
            recipe's step time, which a step count estimated in advance would not; the warmup stays in steps.
        grad_clip is the Trainer's `gradient_clip_val`; EMA is the `ForeachEMA` callback (Lightning's `EMAWeightAveraging`).
        compile: wrap the forward in `torch.compile` (the weights stay in `self.model`).
        trainable: None = every parameter trains; else glob patterns of parameter names (`model.named_parameters()`,
            e.g. ["final.*"]): only the parameters one of them matches train, the rest are frozen (to teach a
            pretrained network's new parts to use it, at the cost of a forward and a partial backward).
        experts: the in-context experts mixed into the output in training (`tabdiff.objective`) and named in the
            export for inference (conf/experts/); the default, none, trains the network alone.
        vb_weight: the weight of the learned variance's vb term in the loss (`tabdiff.objective.denoising_losses`).
        seed: with the rank and the global step, seeds each step's timesteps, noise and column ids.
        encoder: the encoder settings the cells were made with (max_categories, clip, n_quantiles), stored
            in checkpoints so that inference encodes user tables the same way.
    """

    def __init__(
        self,
        model: nn.Module,
        diffusion: GaussianDiffusion,
        *,
        mode: Mode = "mixed",
        p_unconditional: float = 0.2,
        p_top_t: float = 0.0,
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        betas: tuple[float, float] = (0.9, 0.99),
        optimizer: OptimizerName = "adamw",
        warmup_steps: int = 100,
        decay_steps: int | None = None,
        decay_minutes: float | None = None,
        min_lr_ratio: float = 0.1,
        compile: bool = False,
        trainable: list[str] | None = None,
        seed: int = 0,
        encoder: dict[str, Any] | None = None,
        experts: ExpertConfig = NO_EXPERTS,
        vb_weight: float = 1.0,
    ) -> None:
        super().__init__()
        if decay_steps is not None and decay_minutes is not None:
            raise ValueError("set module.decay_steps or module.decay_minutes, not both")
        if mode not in ("unconditional", "conditional", "mixed"):
            raise ValueError(f"mode must be 'unconditional', 'conditional' or 'mixed', got {mode!r}")
        if mode != "unconditional" and not getattr(model.config, "conditional", False):
            raise ValueError(f"mode={mode!r} needs a conditional network: set model.conditional=true")
        check_prediction(experts, diffusion.prediction, "TabDiffusionModule")
        self.model = model
        self.diffusion = diffusion
        self.experts = experts
        if trainable is not None:
            freeze_except(model, list(trainable))
        self.save_hyperparameters(ignore=["model", "diffusion", "experts"])
        # the forward to train through, kept as a function so that the weights are registered once (as `model.*`):
        # a module attribute here put every tensor in the state_dict and checkpoints twice
        self._forward = torch.compile(model.forward) if compile else model.forward
        self._clock_start: float | None = None  # train_seconds() without a Timer: the first call's time

    # ---------------------------------------------------------------- config
    def export_config(self) -> dict[str, Any]:
        """Everything inference needs besides the weights: model, diffusion and encoder settings."""
        return {
            "format_version": FORMAT_VERSION,
            "model": asdict(self.model.config),
            "diffusion": self.diffusion.config(),
            "encoder": dict(self.hparams.encoder or {}),
            "training": {"mode": self.hparams.mode},
            "experts": asdict(self.experts),
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["tabdiff"] = self.export_config()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # checkpoints saved before 2026-11-28 hold a second copy of the weights under `_forward.` (the same tensors as
        # `model.`), in the state_dict and in the EMA callback's copy of the live weights: dropped, so that they resume
        # (this hook runs before the weights and the callbacks are restored)
        for name in ("state_dict", "current_model_state"):
            state = checkpoint.get(name) or {}
            for key in [key for key in state if key.startswith(LEGACY_FORWARD_PREFIX)]:
                del state[key]

    # ---------------------------------------------------------------- steps
    def step_generator(self, *key: int) -> torch.Generator:
        """A generator on the model's device seeded by (seed, rank, *key): a resumed run draws the same t and noise."""
        seed = hash((self.hparams.seed, self.global_rank, *key)) % (2**63)
        return torch.Generator(device=self.device).manual_seed(seed)

    def batch_losses(self, batch: TableBatch, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Mean losses over the tables of `batch` that have a loss cell; t, noise, ids and modes from `generator`."""
        p_unconditional = {"conditional": 0.0, "unconditional": 1.0}.get(
            self.hparams.mode, self.hparams.p_unconditional
        )
        return denoising_losses(
            self._forward, self.diffusion, batch, generator,
            p_unconditional=p_unconditional, p_top_t=self.hparams.p_top_t, id_dim=self.model.config.id_dim,
            experts=self.experts, vb_weight=self.hparams.get("vb_weight", 1.0),
        )  # fmt: skip

    def training_step(self, batch: TableBatch, batch_idx: int) -> torch.Tensor:
        losses = self.batch_losses(batch, self.step_generator(self.global_step))
        n = batch.shape[0]
        self.log("train/loss", losses["loss"], prog_bar=True, batch_size=n)  # every step: the progress bar shows it
        if self._logger_writes_this_step():
            for name, value in losses.items():
                if name != "loss":
                    self.log(f"train/{name}", value, batch_size=n)
            n_rows, n_cols = (~batch.row_pad_mask).sum(), (~batch.col_pad_mask).sum()
            self.log("train/cells", (n_rows * n_cols / n).float(), batch_size=n)
        return losses["loss"]

    def _logger_writes_this_step(self) -> bool:
        """Whether the loggers write this step's metrics: Lightning writes on-step values every `log_every_n_steps`
        optimizer steps, when the run stops, and on every step of a `fast_dev_run` (its logger connector's
        `should_update_logs`), so a `self.log` on any other step is overwritten unread. Each call costs ~2 ms of
        bookkeeping (measured on this CPU: 4 extra calls were 7.6 of a 35 ms tiny-model step)."""
        trainer = self._trainer
        if trainer is None or trainer.fast_dev_run:
            return True
        every = trainer.log_every_n_steps
        return bool(every) and ((self.global_step + 1) % every == 0 or trainer.should_stop)

    def validation_step(self, batch: TableBatch, batch_idx: int) -> None:
        # fixed t, noise and ids per validation batch, so the curve compares like with like across steps
        losses = self.batch_losses(batch, self.step_generator(-1, batch_idx))
        for name, value in losses.items():
            self.log(f"val/{name}", value, prog_bar=name == "loss", batch_size=batch.shape[0], sync_dist=True)

    # ---------------------------------------------------------------- optim
    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        optimizer = build_optimizer(
            self.model, hp.get("optimizer", "adamw"), lr=hp.lr, weight_decay=hp.weight_decay, betas=tuple(hp.betas)
        )
        if hp.get("decay_minutes"):
            seconds = 60.0 * hp.decay_minutes

            def factor(step: int) -> float:
                return warmup_cosine_time(step, hp.warmup_steps, self.train_seconds() / seconds, hp.min_lr_ratio)
        else:
            total = hp.decay_steps or (
                self.trainer.max_steps if self.trainer and self.trainer.max_steps > 0 else 10_000
            )

            def factor(step: int) -> float:
                return warmup_cosine(step, hp.warmup_steps, total, hp.min_lr_ratio)

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def train_seconds(self) -> float:
        """Seconds of training so far: the Trainer's `max_time` Timer when it has one (the clock that stops the run,
        restored on resume), else since this was first called."""
        trainer = self._trainer
        timer = next((cb for cb in trainer.callbacks if isinstance(cb, Timer)), None) if trainer else None
        if timer is not None:
            return timer.time_elapsed("train")
        if self._clock_start is None:
            self._clock_start = time.monotonic()
        return time.monotonic() - self._clock_start


def freeze_except(model: nn.Module, patterns: list[str]) -> None:
    """Freeze every parameter of `model` whose name no pattern matches (fnmatch globs); ValueError when a pattern
    matches no parameter (a typo would otherwise freeze the whole network silently)."""
    if not patterns:
        raise ValueError("trainable must name at least one parameter pattern (or be null: everything trains)")
    names = [name for name, _ in model.named_parameters()]
    for pattern in patterns:
        if not fnmatch.filter(names, pattern):
            raise ValueError(
                f"trainable pattern {pattern!r} matches no parameter of the model; parameter names look like "
                f"{names[:3]} (see model.named_parameters())"
            )
    for name, param in model.named_parameters():
        param.requires_grad_(any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns))


def warmup_cosine(step: int, warmup_steps: int, total_steps: int, min_ratio: float) -> float:
    """Learning-rate factor: linear warmup to 1, cosine to `min_ratio` at `total_steps`, then constant."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return cosine(min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps)), min_ratio)


def warmup_cosine_time(step: int, warmup_steps: int, progress: float, min_ratio: float) -> float:
    """Learning-rate factor of a time budget: linear warmup to 1 over `warmup_steps` steps, capped by a cosine to
    `min_ratio` over `progress`, the share of the budget spent (0 at the start, 1 at its end, constant after)."""
    warmup = (step + 1) / warmup_steps if step < warmup_steps else 1.0
    return min(warmup, cosine(progress, min_ratio))


def cosine(progress: float, min_ratio: float) -> float:
    """1 at progress 0, `min_ratio` at progress >= 1, a half cosine between."""
    progress = min(1.0, max(0.0, progress))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
