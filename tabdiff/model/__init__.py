"""tabdiff.model: the variable-size table denoiser. It knows nothing of diffusion schedules."""

from __future__ import annotations

from typing import Any

from tabdiff.model.denoiser import DenoiserConfig, TabularDenoiser, default_col_ids


def build_denoiser(**fields: Any) -> TabularDenoiser:
    """TabularDenoiser(DenoiserConfig(**fields)): the `_target_` of conf/model/*.yaml."""
    return TabularDenoiser(DenoiserConfig(**fields))


__all__ = ["DenoiserConfig", "TabularDenoiser", "build_denoiser", "default_col_ids"]
