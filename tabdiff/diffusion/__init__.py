"""Diffusion core: schedules, the Gaussian process, losses and samplers. Knows nothing of tables."""

from tabdiff.diffusion.gaussian import GaussianDiffusion, ModelFn, Prediction
from tabdiff.diffusion.samplers import ddim_step, inpaint_ddim, repaint, repaint_schedule, sample_ancestral, sample_ddim
from tabdiff.diffusion.schedules import SPACINGS, Spacing, make_betas, space_timesteps

__all__ = [
    "SPACINGS",
    "GaussianDiffusion",
    "ModelFn",
    "Prediction",
    "Spacing",
    "ddim_step",
    "inpaint_ddim",
    "make_betas",
    "repaint",
    "repaint_schedule",
    "sample_ancestral",
    "sample_ddim",
    "space_timesteps",
]
