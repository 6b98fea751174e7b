"""Mix the in-context experts' estimate of the clean cells into a denoiser's x0 estimate.

The denoiser is a network and only that (docs/design.md). The experts (`ridge.ridge_features`: a chained ridge of
each cell on its row's other cells, optionally a Gaussian fitted by EM for numeric columns and a multinomial logistic
regression for categorical ones) are fitted on a table's known cells alone, so a sampler fits them once for all its
steps. At each step the mean part of an unknown cell's output becomes

    (1 - s) * network's x0 + s * experts' x0,

the experts' x0 being their Gaussian posterior given the noisy cell (`ridge.ridge_x0`), and s their share: one half
(`share="even"`), or their precision share v / (v + u) per cell (`share="precision"`, `ridge.precision_share`: u the
share of the column's variance their leave-one-out fit leaves, scaled per cell, v the network's assumed one).

This only reads the output as an estimate of the clean cells: it needs an x0-prediction diffusion (`check_prediction`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

from tabdiff.experts.ridge import RidgeFit, precision_share, ridge_features, ridge_x0

ExpertKind = Literal["none", "linear"]
ExpertColumns = Literal["numeric", "all"]
ExpertShare = Literal["even", "precision"]
EXPERT_KINDS: tuple[ExpertKind, ...] = ("none", "linear")
ExpertChoice = Literal["checkpoint", "none"]  # the estimators' and the CLI's `experts` argument
EXPERT_CHOICES: tuple[ExpertChoice, ...] = ("checkpoint", "none")
MAX_UNEXPLAINED = 4.0  # a cell's scaled unexplained share is capped here before the precision share


@dataclass(frozen=True)
class ExpertConfig:
    """Which in-context experts run, and how they mix (conf/experts/*.yaml; a checkpoint's "experts" section)."""

    kind: ExpertKind = "none"  # "none": the network alone; "linear": ridge / Gaussian / logistic fits (ridge.py)
    columns: ExpertColumns = "all"  # the columns fitted: numeric, or all (categorical one-hot channels too)
    logistic_steps: int = 30  # with columns=all: 0 = a linear probability model; N = multinomial logistic, N steps
    gaussian_iters: int = 8  # numeric columns: 0 = the chained ridge; N = a Gaussian's conditional means, N EM steps
    share: ExpertShare = "precision"  # the experts' share of an unknown cell: even (1/2), or their precision share
    network_var: float = 0.5  # v: the network's assumed error variance, as a share of the column's ("precision")

    def __post_init__(self) -> None:
        if self.kind not in EXPERT_KINDS:
            raise ValueError(f"experts kind must be one of {list(EXPERT_KINDS)}, got {self.kind!r}")
        if self.columns not in ("numeric", "all"):
            raise ValueError(f"experts columns must be 'numeric' or 'all', got {self.columns!r}")
        if self.share not in ("even", "precision"):
            raise ValueError(f"experts share must be 'even' or 'precision', got {self.share!r}")
        if not self.network_var > 0:
            raise ValueError(f"experts network_var must be > 0, got {self.network_var!r}")
        for name in ("logistic_steps", "gaussian_iters"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"experts {name} must be an integer >= 0, got {value!r}")

    @property
    def enabled(self) -> bool:
        return self.kind != "none"

    @classmethod
    def from_dict(cls, settings: dict[str, Any] | None) -> ExpertConfig:
        """A checkpoint's or a config's "experts" section (None or missing: none)."""
        try:
            return cls(**(settings or {}))
        except TypeError as err:
            raise ValueError(f"experts settings {settings!r} do not match this tabdiff ({err})") from err


NO_EXPERTS = ExpertConfig()


def check_prediction(experts: ExpertConfig, prediction: str, source: str) -> None:
    """The experts' estimate is mixed into the output as an estimate of the clean cells: only an x0-prediction
    diffusion reads the output that way. `source` names what is checked in the message."""
    if experts.enabled and prediction != "x0":
        raise ValueError(
            f"{source}: the in-context experts ({experts.kind!r}) mix an estimate of the clean cells into the "
            f"denoiser's output: they need diffusion.prediction='x0', got {prediction!r} (or use experts=none)"
        )


class FittedExperts:
    """The experts fitted on one batch's known cells; `mix` puts their estimate into a denoiser output.

    Args:
        config: an enabled ExpertConfig.
        x_known: float (B, R, C, K) clean cells, read only where `known_mask` (and off padding).
        known_mask: bool (B, R, C), True = known cell.
        channel_mask: bool (B, C, K), True where the column uses the channel.
        column_kind: long (B, C), 0 numeric / 1 categorical.
        row_pad_mask, col_pad_mask: bool (B, R) / (B, C), True = padding; None = none.
    """

    def __init__(
        self,
        config: ExpertConfig,
        x_known: torch.Tensor,
        known_mask: torch.Tensor,
        *,
        channel_mask: torch.Tensor,
        column_kind: torch.Tensor,
        row_pad_mask: torch.Tensor | None = None,
        col_pad_mask: torch.Tensor | None = None,
    ) -> None:
        if not config.enabled:
            raise ValueError("FittedExperts needs an enabled ExpertConfig (kind 'linear')")
        B, R, C, _ = x_known.shape
        real_col = ~col_pad_mask if col_pad_mask is not None else torch.ones_like(column_kind, dtype=torch.bool)
        real_cell = real_col[:, None, :].expand(B, R, C)  # (B, R, C) not padding
        if row_pad_mask is not None:
            real_cell = real_cell & ~row_pad_mask[:, :, None]
        known = known_mask & real_cell
        numeric = (column_kind == 0) & channel_mask[..., 0] & real_col  # (B, C) channel 0 of real numeric columns
        self.config = config
        self.fit: RidgeFit = ridge_features(
            x_known,
            known,
            numeric,
            categorical=(column_kind == 1) & real_col if config.columns == "all" else None,
            channel_mask=channel_mask,
            logistic_steps=config.logistic_steps,
            gaussian_iters=config.gaussian_iters,
        )
        pred, available, residual_var, unexplained, cell_scale = self.fit
        self.used = real_cell[..., None] & channel_mask[:, None]  # (B, R, C, K) real cell, used channel
        self.cell_var = residual_var[:, None] * cell_scale[..., None]  # (B, R, C, K) each cell's error variance
        share = (
            precision_share((unexplained[:, None, :] * cell_scale).clamp(max=MAX_UNEXPLAINED), config.network_var)
            if config.share == "precision"
            else torch.full_like(cell_scale, 0.5)
        )  # (B, R, C)
        mixed = available[:, None, :] & ~known & real_cell  # (B, R, C) the unknown cells of predicted columns
        self.share = torch.where(mixed, share, 0.0)  # (B, R, C)

    def select(self, index: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> FittedExperts:
        """The fits of sub-tables made of fitted tables' cells in another order: table b of the result is fitted
        table `index[b]`, its rows `rows[b]` and columns `cols[b]` (positions in that table), in that order.

        The experts read known cells alone and are equivariant to the order of rows and columns, so the draws of
        one sub-table, each in its own order, can share one fit. index (B',), rows (B', r), cols (B', c) long."""
        table = index[:, None, None]
        cells = (table, rows[:, :, None], cols[:, None, :])  # indexes (B, R, C, ...) -> (B', r, c, ...)
        columns = (index[:, None], cols)  # indexes (B, C, ...) -> (B', c, ...)
        pred, available, residual_var, unexplained, cell_scale = self.fit
        out = object.__new__(FittedExperts)
        out.config = self.config
        out.fit = RidgeFit(
            pred[cells], available[columns], residual_var[columns], unexplained[columns], cell_scale[cells]
        )
        out.used, out.cell_var, out.share = self.used[cells], self.cell_var[cells], self.share[cells]
        return out

    @staticmethod
    def concat(parts: list[FittedExperts]) -> FittedExperts:
        """Fits of sub-tables of one shape stacked along the batch axis, in the order given."""
        out = object.__new__(FittedExperts)
        out.config = parts[0].config
        out.fit = RidgeFit(*(torch.cat(fields) for fields in zip(*(part.fit for part in parts), strict=True)))
        out.used, out.cell_var, out.share = (
            torch.cat([getattr(part, name) for part in parts]) for name in ("used", "cell_var", "share")
        )
        return out

    def mix(self, out: torch.Tensor, x_t: torch.Tensor, alpha_bar: torch.Tensor | None) -> torch.Tensor:
        """A denoiser output (B, R, C, K or 2K: x0 mean part first) with the experts' x0 estimate mixed into the
        mean part of the unknown cells. x_t (B, R, C, K) are the noisy cells the network saw; alpha_bar (B,) their
        signal level (None: the experts' prediction itself, the abar = 0 limit of a one-pass estimate)."""
        K = x_t.shape[-1]
        expert = ridge_x0(self.fit.pred, self.cell_var, torch.where(self.used, x_t, 0.0), alpha_bar)  # (B, R, C, K)
        share = self.share[..., None].to(out.dtype)
        mean_part = (1.0 - share) * out[..., :K] + share * expert.to(out.dtype)
        mean_part = torch.where(self.used, mean_part, 0.0)  # padding and unused channels stay zero
        return torch.cat([mean_part, out[..., K:]], dim=-1)


ModelFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def with_experts(model_fn: ModelFn, experts: FittedExperts | None, alphas_cumprod: torch.Tensor) -> ModelFn:
    """`model_fn(x_t, t)` with `experts` mixed into its output (unchanged when None). `alphas_cumprod` (T,) is the
    training process's abar by timestep: samplers call the model with training timesteps, respaced or not."""
    if experts is None:
        return model_fn
    signal_level = alphas_cumprod.float()

    def mixed_fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return experts.mix(model_fn(x_t, t), x_t, signal_level.to(t.device)[t])

    return mixed_fn
