"""The denoising objective on a batch of tables, in plain torch: pretraining (tabdiff.training) and per-table
adaptation (tabdiff.inference) share it.

Each table of the batch draws a timestep t (uniform, or T-1 with probability `p_top_t` for conditional tables:
there an x0-model's output is its one-pass estimate of E[unknown | known], the default sampler's answer),
whether it sees its known cells (conditional) or not, fresh column identifiers and the noise. The loss is on
the batch's loss cells only (`TableBatch.loss_cells`): never on padding, a missing cell or a cell the
network was given. With enabled `experts` (a run that trains with them) their estimate, fitted on each table's known
cells, is mixed into the output before the loss, as the sampler mixes it (`tabdiff.experts`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from tabdiff.data.batch import TableBatch
from tabdiff.diffusion import GaussianDiffusion
from tabdiff.experts import NO_EXPERTS, ExpertConfig, FittedExperts, with_experts


def denoising_losses(
    forward: Callable[..., torch.Tensor],
    diffusion: GaussianDiffusion,
    batch: TableBatch,
    generator: torch.Generator,
    *,
    p_unconditional: float,
    p_top_t: float,
    id_dim: int,
    experts: ExpertConfig = NO_EXPERTS,
    vb_weight: float = 1.0,
) -> dict[str, torch.Tensor]:
    """Mean losses ("loss", "mse", and "vb" with a learned variance) over the tables that have a loss cell.

    "loss" is mse + `vb_weight` * vb: the vb term only trains the variance output (its mean is detached), but its
    gradient crosses the whole network, and at t = 0 (a Gaussian NLL with a tiny variance) it can be 1,000 times
    the mse on an untrained network; a small weight keeps it from steering the trunk early on.

    `forward` is the denoiser (`TabularDenoiser.forward`'s signature); t, conditioning, ids and noise are drawn
    from `generator` in a fixed order, so a seed gives the same losses.
    """
    B, _, C, _ = batch.shape
    device = batch.cells.device
    T = diffusion.num_timesteps
    t = torch.randint(0, T, (B,), generator=generator, device=generator.device)
    conditioned = torch.rand(B, generator=generator, device=generator.device) >= p_unconditional
    top = conditioned & (torch.rand(B, generator=generator, device=generator.device) < p_top_t)
    t = torch.where(top, T - 1, t)
    conditioned = conditioned.to(device)
    known = batch.known_mask & conditioned[:, None, None]
    loss_mask = batch.loss_cells(conditioned)
    # fresh random column ids per table: the network must tell columns apart without learning positions
    col_ids = torch.randn(B, C, id_dim, generator=generator, device=generator.device)
    noise = torch.randn(batch.shape, generator=generator, device=generator.device)

    def model_fn(x_t: torch.Tensor, t_model: torch.Tensor) -> torch.Tensor:
        return forward(
            x_t,
            t_model,
            known_mask=known,
            x_known=batch.cells,
            channel_mask=batch.channel_mask,
            column_kind=batch.column_kind,
            row_pad_mask=batch.row_pad_mask,
            col_pad_mask=batch.col_pad_mask,
            col_ids=col_ids.to(device),
        )

    if experts.enabled:
        fitted = FittedExperts(experts, batch.cells, known, channel_mask=batch.channel_mask,
                               column_kind=batch.column_kind, row_pad_mask=batch.row_pad_mask,
                               col_pad_mask=batch.col_pad_mask)  # fmt: skip
        model_fn = with_experts(model_fn, fitted, diffusion.alphas_cumprod)
    terms = diffusion.training_losses(model_fn, batch.cells, t.to(device), noise=noise.to(device), loss_mask=loss_mask,
                                      vb_weight=vb_weight)  # fmt: skip
    has_loss = loss_mask.flatten(1).any(dim=1).to(batch.cells.dtype)  # (B,)
    weight = has_loss / has_loss.sum().clamp(min=1.0)
    return {name: (value * weight).sum() for name, value in terms.items()}
