"""Tests of tabdiff.training.optim: Muon on the blocks' matrices with AdamW on the rest, as one optimizer."""

from __future__ import annotations

import pytest
import torch

from tabdiff.model import DenoiserConfig, TabularDenoiser
from tabdiff.training.optim import MuonAdamW, build_optimizer


def model() -> TabularDenoiser:
    torch.manual_seed(0)
    return TabularDenoiser(DenoiserConfig(d_model=16, depth=1, n_heads=2, id_dim=8, time_freq_dim=16))


def train(optimizer, m, steps: int = 4) -> list[float]:
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0 / (step + 1))
    gen = torch.Generator().manual_seed(0)
    x, target = torch.randn(2, 6, 3, 16, generator=gen), torch.randn(2, 6, 3, 32, generator=gen)
    losses = []
    for _ in range(steps):
        loss = ((m(x, torch.tensor([3, 7])) - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
    return losses


def test_muon_takes_the_blocks_matrices_and_adamw_the_rest() -> None:
    m = model()
    optimizer = build_optimizer(m, "muon", lr=1e-2, weight_decay=0.01, betas=(0.9, 0.99))
    assert isinstance(optimizer, MuonAdamW)
    in_muon = {id(p) for group in optimizer.muon.param_groups for p in group["params"]}
    for name, param in m.named_parameters():
        assert (id(param) in in_muon) == (name.startswith("blocks.") and param.ndim == 2), name
    losses = train(optimizer, m)
    assert losses[-1] < losses[0]
    # the scheduler drives both optimizers' learning rates
    assert {group["lr"] for group in optimizer.param_groups} == {1e-2 / 5}


def test_its_state_round_trips() -> None:
    """A checkpoint's optimizer state (Muon's momentum, AdamW's moments) loads into a fresh optimizer unchanged."""
    a, b = model(), model()
    opt_a = build_optimizer(a, "muon", lr=1e-2, weight_decay=0.01, betas=(0.9, 0.99))
    train(opt_a, a, steps=2)
    opt_b = build_optimizer(b, "muon", lr=1e-2, weight_decay=0.01, betas=(0.9, 0.99))
    opt_b.load_state_dict(opt_a.state_dict())
    saved, loaded = opt_a.state_dict(), opt_b.state_dict()
    for part in ("muon", "adamw"):
        assert saved[part]["param_groups"] == loaded[part]["param_groups"]
        for index, state in saved[part]["state"].items():
            for key, value in state.items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(loaded[part]["state"][index][key]))
    assert len(opt_b.state) == len(opt_a.state) > 0


def test_a_bad_optimizer_name_names_the_setting() -> None:
    with pytest.raises(ValueError, match="module.optimizer must be one of"):
        build_optimizer(model(), "sgd", lr=1e-3, weight_decay=0.0, betas=(0.9, 0.99))
