"""Beta schedules and timestep respacing (float64, as in guided-diffusion's gaussian_diffusion.py)."""

from __future__ import annotations

import math
from typing import Literal

import torch

Schedule = Literal["linear", "cosine"]
Spacing = Literal["uniform", "quadratic"]  # how a sampler's fewer steps are spread over the training steps
SPACINGS: tuple[Spacing, ...] = ("uniform", "quadratic")

MAX_BETA = 0.999  # clip used by improved DDPM so that 1 - beta never reaches 0


def linear_betas(timesteps: int) -> torch.Tensor:
    """Ho et al. (2020) linear betas, scaled by 1000/T so that abar_T ~ 0 for any T (guided-diffusion)."""
    scale = 1000.0 / timesteps
    beta_start, beta_end = scale * 1e-4, scale * 0.02
    if timesteps == 1:  # linspace would return beta_start alone; one step must destroy the signal
        return torch.tensor([MAX_BETA], dtype=torch.float64)
    betas = torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float64)
    return betas.clamp(max=MAX_BETA)


def cosine_betas(timesteps: int, s: float = 0.008) -> torch.Tensor:
    """Nichol & Dhariwal (2021) eq. 17: abar(t) = cos^2((t/T + s) / (1 + s) * pi/2), betas clipped at 0.999."""

    def alpha_bar(u: float) -> float:
        return math.cos((u + s) / (1 + s) * math.pi / 2) ** 2

    betas = [min(1 - alpha_bar((i + 1) / timesteps) / alpha_bar(i / timesteps), MAX_BETA) for i in range(timesteps)]
    return torch.tensor(betas, dtype=torch.float64)


def make_betas(schedule: Schedule, timesteps: int) -> torch.Tensor:
    """Betas of shape (timesteps,) for a named schedule."""
    if timesteps < 1:
        raise ValueError(f"timesteps must be >= 1, got {timesteps}")
    if schedule == "linear":
        return linear_betas(timesteps)
    if schedule == "cosine":
        return cosine_betas(timesteps)
    raise ValueError(f"schedule must be 'linear' or 'cosine', got {schedule!r}")


def space_timesteps(timesteps: int, n_steps: int, spacing: Spacing = "uniform") -> list[int]:
    """`n_steps` steps of `range(timesteps)`, always keeping the first (0) and last (T-1).

    "uniform": evenly spaced, with the same rounding as guided-diffusion's `space_timesteps(T, [n_steps])`.
    "quadratic": step i at (T - 1) (i / (n_steps - 1))^2, rounded, as DDIM's "quad" skip (Song et al. 2021): the steps
    crowd at low noise, where a cell that the others predict well gets its spread (three steps: 0, T/4, T - 1).
    Steps that rounding would merge are moved apart by one.
    """
    if not 1 <= n_steps <= timesteps:
        raise ValueError(f"n_steps must be between 1 and timesteps={timesteps}, got {n_steps}")
    if spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {list(SPACINGS)}, got {spacing!r}")
    if n_steps == 1:
        return [timesteps - 1]
    if spacing == "uniform":
        stride = (timesteps - 1) / (n_steps - 1)
        return sorted({round(i * stride) for i in range(n_steps)})
    use = [round((timesteps - 1) * (i / (n_steps - 1)) ** 2) for i in range(n_steps)]
    for i in range(1, n_steps):  # strictly increasing: the first steps of a long schedule round to the same one
        use[i] = max(use[i], use[i - 1] + 1)
    use[-1] = timesteps - 1
    for i in range(n_steps - 2, -1, -1):  # and within range again where that pushed the last ones past T - 1
        use[i] = min(use[i], use[i + 1] - 1)
    return use


def respaced_betas(alphas_cumprod: torch.Tensor, use_timesteps: list[int]) -> torch.Tensor:
    """Betas of the process that visits only `use_timesteps` and has the same abar there.

    beta'_i = 1 - abar[t_i] / abar[t_{i-1}] (guided-diffusion respace.py), so abar'_i == abar[t_i].
    """
    betas, last = [], 1.0
    for t in use_timesteps:
        abar = float(alphas_cumprod[t])
        betas.append(1.0 - abar / last)
        last = abar
    return torch.tensor(betas, dtype=torch.float64)
