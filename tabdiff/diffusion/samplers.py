"""Samplers: ancestral (DDPM), DDIM, and RePaint inpainting with its jump schedule.

Each sampler is a plain function of a denoiser *function* `model_fn(x_t, t) -> output` and a
`GaussianDiffusion` (possibly respaced). They know nothing of networks or tables.
"""

from __future__ import annotations

from itertools import pairwise

import torch
from tqdm.auto import tqdm

from tabdiff.diffusion.gaussian import GaussianDiffusion, ModelFn


def randn(
    shape: tuple[int, ...], *, device: torch.device, dtype: torch.dtype, generator: torch.Generator | None
) -> torch.Tensor:
    """Standard normal noise on `device`, drawn from `generator` (on its own device) when one is given."""
    if generator is None:
        return torch.randn(shape, device=device, dtype=dtype)
    return torch.randn(shape, generator=generator, device=generator.device, dtype=dtype).to(device)


def _steps(n: int, progress: bool, desc: str):
    return tqdm(range(n - 1, -1, -1), desc=desc, disable=not progress, leave=False)


@torch.no_grad()
def sample_ancestral(
    model_fn: ModelFn,
    diffusion: GaussianDiffusion,
    shape: tuple[int, ...],
    *,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """DDPM ancestral sampling (Ho et al. 2020, Algorithm 2): x_T ~ N(0, I), then x_{t-1} ~ p(x_{t-1} | x_t)."""
    device = torch.device(device)
    x = randn(shape, device=device, dtype=torch.float32, generator=generator)
    for i in _steps(diffusion.num_timesteps, progress, "ancestral"):
        t = torch.full((shape[0],), i, device=device, dtype=torch.long)
        x, _ = diffusion.p_sample(model_fn, x, t, randn(shape, device=device, dtype=x.dtype, generator=generator))
    return x


@torch.no_grad()
def sample_ddim(
    model_fn: ModelFn,
    diffusion: GaussianDiffusion,
    shape: tuple[int, ...],
    *,
    eta: float = 0.0,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """DDIM (Song et al. 2021, eq. 12); eta = 0 is deterministic given x_T, eta = 1 matches DDPM's posterior variance."""
    device = torch.device(device)
    x = randn(shape, device=device, dtype=torch.float32, generator=generator)
    for i in _steps(diffusion.num_timesteps, progress, "ddim"):
        t = torch.full((shape[0],), i, device=device, dtype=torch.long)
        x = ddim_step(model_fn, diffusion, x, t, eta=eta, generator=generator)
    return x


def ddim_step(
    model_fn: ModelFn,
    diffusion: GaussianDiffusion,
    x_t: torch.Tensor,
    t: torch.Tensor,
    *,
    eta: float,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """x_t -> x_{t-1}: sqrt(abar_prev) x0 + sqrt(1 - abar_prev - sigma^2) eps + sigma z (DDIM eq. 12, 16)."""
    out = diffusion.p_mean_variance(model_fn(x_t, diffusion.model_timesteps(t)), x_t, t)
    abar = diffusion.extract("alphas_cumprod", t, x_t)
    abar_prev = diffusion.extract("alphas_cumprod_prev", t, x_t)
    sigma = eta * ((1 - abar_prev) / (1 - abar)).sqrt() * (1 - abar / abar_prev).sqrt()
    mean = out["pred_xstart"] * abar_prev.sqrt() + (1 - abar_prev - sigma**2).clamp(min=0).sqrt() * out["pred_eps"]
    if eta == 0:
        return mean
    noise = randn(tuple(x_t.shape), device=x_t.device, dtype=x_t.dtype, generator=generator)
    nonzero = (t != 0).to(x_t.dtype).reshape(t.shape[0], *([1] * (x_t.ndim - 1)))
    return mean + nonzero * sigma * noise


def repaint_schedule(t_T: int, jump_length: int, jump_n_sample: int) -> list[int]:
    """Timesteps visited by RePaint, as in the reference `get_schedule_jump` (with n_sample = 1, no jump2/jump3).

    Going down from t_T - 1 to 0; at each jump point t in {0, jump_length, ...} below t_T - jump_length the
    walk goes back up `jump_length` steps, `jump_n_sample - 1` times, then down again; the list ends with -1.
    A step from t to t - 1 is a denoising step; from t to t + 1 a forward re-noising step.
    """
    if t_T < 1 or jump_length < 1 or jump_n_sample < 1:
        raise ValueError(
            f"t_T, jump_length and jump_n_sample must all be >= 1, got {t_T}, {jump_length}, {jump_n_sample}"
        )
    jumps = {j: jump_n_sample - 1 for j in range(0, t_T - jump_length, jump_length)}
    t, times = t_T, []
    while t >= 1:
        t -= 1
        times.append(t)
        if jumps.get(t, 0) > 0:
            jumps[t] -= 1
            for _ in range(jump_length):
                t += 1
                times.append(t)
    times.append(-1)
    return times


@torch.no_grad()
def inpaint_ddim(
    model_fn: ModelFn,
    diffusion: GaussianDiffusion,
    x_known: torch.Tensor,
    known_mask: torch.Tensor,
    *,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """DDIM with the known cells replaced by forward-noised ground truth before every step (no resampling).

    Meant for a conditional `model_fn` that also sees the known cells. On a process respaced to one step,
    the single step returns the model's x0 prediction at the top noise level: for an x0- or v-model, its
    estimate of E[x_0 | known cells] in one forward pass. Known cells come back bit-identical.
    """
    known_mask = known_mask.to(device=x_known.device, dtype=torch.bool).expand_as(x_known)
    device, shape = x_known.device, tuple(x_known.shape)
    x_gt = torch.where(known_mask, x_known, torch.zeros((), dtype=x_known.dtype, device=device)).float()
    x = randn(shape, device=device, dtype=torch.float32, generator=generator)
    for i in _steps(diffusion.num_timesteps, progress, "ddim-inpaint"):
        t = torch.full((shape[0],), i, device=device, dtype=torch.long)
        noise_gt = randn(shape, device=device, dtype=x.dtype, generator=generator)
        x = torch.where(known_mask, diffusion.q_sample(x_gt, t, noise_gt), x)
        x = ddim_step(model_fn, diffusion, x, t, eta=eta, generator=generator)
    return torch.where(known_mask, x_known, x.to(x_known.dtype))


@torch.no_grad()
def repaint(
    model_fn: ModelFn,
    diffusion: GaussianDiffusion,
    x_known: torch.Tensor,
    known_mask: torch.Tensor,
    *,
    jump_length: int = 10,
    jump_n_sample: int = 10,
    denoise_last: bool = True,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """RePaint (Lugmayr et al. 2022, Algorithm 1): inpaint the cells where `known_mask` is False.

    Args:
        x_known: (B, ...) the ground truth; only cells where `known_mask` is True are read (others may be NaN).
        known_mask: bool, broadcastable to `x_known`, True = known.
        jump_length, jump_n_sample: the resampling schedule (`repaint_schedule`); jump_n_sample = 1 is plain
            conditional ancestral sampling without resampling.
        denoise_last: False skips the last step's model call, the one at the lowest noise level (step 0): the
            sample there, x_0 = sqrt(abar_0) x + sqrt(1 - abar_0) eps, is returned as x_0 / sqrt(abar_0), which
            keeps noise of standard deviation sqrt(1 / abar_0 - 1) (0.0064 for a cosine schedule of 1,000 steps).
            The last call only removes that noise, and costs a whole call: a third of a three-step sampler. A
            one-step schedule keeps its only call.
    Returns:
        x_0 of `x_known`'s shape and dtype, equal to `x_known` bit for bit where `known_mask` is True.

    Runs on a respaced diffusion too: the schedule is in the respaced steps, and the model gets the
    original timesteps through `diffusion.model_timesteps`.
    """
    known_mask = known_mask.to(device=x_known.device, dtype=torch.bool).expand_as(x_known)
    device, shape = x_known.device, tuple(x_known.shape)
    # sampler state in float32, whatever the caller's dtype; unknown cells of x_known never enter the math
    x_gt = torch.where(known_mask, x_known, torch.zeros((), dtype=x_known.dtype, device=device)).float()
    x = randn(shape, device=device, dtype=torch.float32, generator=generator)
    times = repaint_schedule(diffusion.num_timesteps, jump_length, jump_n_sample)
    pairs = list(pairwise(times))
    skip_last = not denoise_last and len(pairs) > 1  # a one-step schedule keeps its only call
    if skip_last:
        pairs = pairs[:-1]  # the schedule ends 0 -> -1: the denoising call at step 0
    for t_last, t_cur in tqdm(pairs, desc="repaint", disable=not progress, leave=False):
        t = torch.full((shape[0],), t_last, device=device, dtype=torch.long)
        if t_cur < t_last:
            # Algorithm 1 lines 5-8: known part = forward-noised ground truth at this level, unknown part = model step
            noise_gt = randn(shape, device=device, dtype=x.dtype, generator=generator)
            x = torch.where(known_mask, diffusion.q_sample(x_gt, t, noise_gt), x)
            noise = randn(shape, device=device, dtype=x.dtype, generator=generator)
            x, _ = diffusion.p_sample(model_fn, x, t, noise)
        else:
            # line 10: resample, x_t ~ N(sqrt(1 - beta_t) x_{t-1}, beta_t I), with t = t_cur
            t_up = torch.full((shape[0],), t_cur, device=device, dtype=torch.long)
            beta = diffusion.extract("betas", t_up, x)
            x = (1 - beta).sqrt() * x + beta.sqrt() * randn(shape, device=device, dtype=x.dtype, generator=generator)
    if skip_last:
        t_0 = torch.zeros((shape[0],), device=device, dtype=torch.long)
        x = x / diffusion.extract("sqrt_alphas_cumprod", t_0, x)
    # the last step's known part is the ground truth itself: return it exactly, in the caller's dtype
    return torch.where(known_mask, x_known, x.to(x_known.dtype))
