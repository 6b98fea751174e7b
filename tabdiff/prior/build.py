"""`build_prior`: the prior of conf/prior/*.yaml, from either engine (the reference sampler or the batched one)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from tabdiff.prior.sampler import PriorConfig, PriorSampler, _from_plain

Engine = Literal["batched", "reference"]


def build_prior(*, engine: Engine = "reference", device: str = "cpu", **config: Any) -> Any:
    """The prior from plain (nested) keyword arguments: the Hydra `_target_` of conf/prior/*.yaml.

    engine: "batched" draws a batch with tensor operations on `device` (tabdiff.prior.batched.BatchedPrior),
    "reference" one table at a time with numpy (PriorSampler; `device` must stay "cpu"). Same distribution.
    """
    config = {k: v for k, v in config.items() if not k.startswith("_")}
    prior_config = _from_plain(PriorConfig, _to_container(config))
    if engine == "batched":
        from tabdiff.prior.batched.sampler import BatchedPrior  # torch: imported only when asked for

        return BatchedPrior(prior_config, device=device)
    if engine != "reference":
        raise ValueError(f"prior engine must be 'batched' or 'reference', got {engine!r}")
    if str(device) != "cpu":
        raise ValueError(f"the reference prior draws on the CPU only; use engine=batched for device={device!r}")
    return PriorSampler(prior_config)


def _to_container(value: Any) -> Any:
    """Plain dicts/lists from OmegaConf containers (duck-typed, so the prior needs no omegaconf import)."""
    if isinstance(value, Mapping):
        return {k: _to_container(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_to_container(v) for v in value]
    return value
