"""Inpaint the unknown cells of encoded tables with a pretrained denoiser: the core under the estimators.

Samplers (speed / quality trade-off; n = n_steps denoiser calls unless said):
- "ddim": the conditional network (it sees the known cells) with DDIM, known cells re-noised and replaced
  at every step. n_steps=1 is one forward pass: the x0-model's estimate of E[unknown | known].
- "conditional": the conditional network with ancestral steps and replacement (RePaint without resampling).
- "repaint": the seed algorithm, faithful: the network is *not* told which cells are known; the known cells
  are imposed by replacement only, with jump_n_sample resampling rounds every jump_length steps
  (about n_steps * jump_n_sample calls).

With enabled `experts` (tabdiff.experts) the conditional samplers mix the experts' estimate into the network's: they
are fitted once on the known cells, before the first step (or handed in, fitted already). The "repaint" sampler tells
the network nothing of the known cells, and runs it alone.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from tabdiff.diffusion import GaussianDiffusion, Spacing, inpaint_ddim, repaint
from tabdiff.experts import NO_EXPERTS, ExpertConfig, FittedExperts, check_prediction, with_experts

Sampler = Literal["ddim", "conditional", "repaint"]
SAMPLERS: tuple[Sampler, ...] = ("ddim", "conditional", "repaint")
# n_steps each sampler uses unless told otherwise: one x0 pass; 50 ancestral steps; RePaint's reference
# schedule (250 steps, jump 10 x 10: about 2,400 denoiser calls)
DEFAULT_STEPS: dict[Sampler, int] = {"ddim": 1, "conditional": 50, "repaint": 250}
# The estimators' `sampler` argument: a sampler for everything, or "auto": the one-pass point estimate (one-step
# "ddim") where a point is asked for, and DRAW_SAMPLER's draws where draws are (multiple imputation, intervals,
# generation): a point estimate is not a draw, and one-step draws carry only the ensemble's spread.
SamplerChoice = Literal["auto", "ddim", "conditional", "repaint"]
SAMPLER_CHOICES: tuple[SamplerChoice, ...] = ("auto", *SAMPLERS)
DRAW_SAMPLER: Sampler = "conditional"
# "auto" draws: DRAW_STEPS steps spread quadratically (training steps 999, 250, 0 of 1,000), the last call (at step 0,
# where it only removes noise of sd 0.006) skipped: two network calls a draw. Measured on the held-out tables
# (docs/results.md, "Multiple imputation"): their 90% bands cover about 90% of the hidden values, as 20 uniform
# steps' did, at a tenth of the calls; the middle step at 250 rather than 500 gave lower CRPS on 12 of 14 tables.
DRAW_STEPS = 3
DRAW_SPACING: Spacing = "quadratic"


@torch.no_grad()
def inpaint(
    model: nn.Module,
    diffusion: GaussianDiffusion,
    cells: torch.Tensor,
    known_mask: torch.Tensor,
    *,
    channel_mask: torch.Tensor,
    column_kind: torch.Tensor,
    sampler: Sampler = "ddim",
    n_steps: int = 1,
    spacing: Spacing = "uniform",
    jump_length: int = 10,
    jump_n_sample: int = 10,
    denoise_last: bool = True,
    eta: float = 0.0,
    col_ids: torch.Tensor | None = None,
    row_pad_mask: torch.Tensor | None = None,
    col_pad_mask: torch.Tensor | None = None,
    experts: ExpertConfig = NO_EXPERTS,
    fitted: FittedExperts | None = None,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """cells (B, R, C, K) with known_mask (B, R, C) -> (B, R, C, K) with the unknown cells filled in.

    Known cells and unused channels come back bit-identical. `col_ids` (B, C, id_dim) defaults to fresh
    standard-normal draws from `generator` (the model was trained with random ids per table). The n_steps steps are
    spread over the checkpoint's by `spacing` (`space_timesteps`). `denoise_last=False` skips the "conditional" and
    "repaint" samplers' last call, at the lowest noise level (`repaint`).
    `experts` are mixed into the network's output (module docstring): `fitted` are the experts already fitted on
    this batch's known cells (e.g. one fit shared by sub-tables of the same cells, `FittedExperts.select`), None fits
    them here. `progress` shows a bar over the sampler's steps.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be 'ddim', 'conditional' or 'repaint', got {sampler!r}")
    config = model.config
    if sampler != "repaint" and not config.conditional:
        raise ValueError(f"sampler={sampler!r} needs a conditionally trained checkpoint; use sampler='repaint'")
    B, _, C, _ = cells.shape
    device = cells.device
    if col_ids is None:
        gen_device = generator.device if generator is not None else device
        col_ids = torch.randn(B, C, config.id_dim, generator=generator, device=gen_device).to(device)
    # unused channels are known zeros: they are never sampled
    known_channels = known_mask[..., None] | ~channel_mask[:, None, :, :]  # (B, R, C, K)
    conditional_known = None if sampler == "repaint" else known_mask

    def model_fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return model(
            x_t,
            t,
            known_mask=conditional_known,
            x_known=cells,
            channel_mask=channel_mask,
            column_kind=column_kind,
            row_pad_mask=row_pad_mask,
            col_pad_mask=col_pad_mask,
            col_ids=col_ids,
        )

    if conditional_known is not None and experts.enabled:
        check_prediction(experts, diffusion.prediction, "inpaint")
        if fitted is None:
            fitted = FittedExperts(experts, cells, conditional_known, channel_mask=channel_mask,
                                   column_kind=column_kind, row_pad_mask=row_pad_mask, col_pad_mask=col_pad_mask)  # fmt: skip
        model_fn = with_experts(model_fn, fitted, diffusion.alphas_cumprod)

    steps = diffusion.respace(min(n_steps, diffusion.num_timesteps), spacing)
    if sampler == "ddim":
        return inpaint_ddim(model_fn, steps, cells, known_channels, eta=eta, generator=generator, progress=progress)
    return repaint(
        model_fn,
        steps,
        cells,
        known_channels,
        jump_length=jump_length,
        jump_n_sample=1 if sampler == "conditional" else jump_n_sample,
        denoise_last=denoise_last,
        generator=generator,
        progress=progress,
    )
