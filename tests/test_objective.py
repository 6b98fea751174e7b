"""Tests of tabdiff.objective: the loss a run that trains with experts computes on the mixed output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tabdiff.checkpoint import load_exported
from tabdiff.data.batch import stack_tables
from tabdiff.encoding import TableEncoder
from tabdiff.experts import ExpertConfig
from tabdiff.objective import denoising_losses

LINEAR = ExpertConfig(kind="linear", columns="all", logistic_steps=2, gaussian_iters=0)


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    tables, masks = [], []
    for rows in (12, 9):
        x = rng.standard_normal((rows, 2))
        frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 0] + 0.1 * x[:, 1], "c": rng.choice(["u", "v"], rows)})
        encoder = TableEncoder().fit(frame)
        tables.append(encoder.transform(frame))
        masks.append(torch.tensor(rng.random((rows, 3)) >= 0.4))
    return stack_tables(tables, masks)


def losses(checkpoint, batch, experts: ExpertConfig, vb_weight: float = 1.0) -> dict[str, torch.Tensor]:
    model = checkpoint.model
    return denoising_losses(
        model, checkpoint.diffusion, batch, torch.Generator().manual_seed(0), p_unconditional=0.0, p_top_t=0.5,
        id_dim=model.config.id_dim, experts=experts, vb_weight=vb_weight,
    )  # fmt: skip


@pytest.mark.parametrize("vb_weight", [0.0, 0.01, 3.0])
def test_vb_weight_scales_the_variance_term_alone(tiny_checkpoint_path, batch, vb_weight) -> None:
    """loss = mse + vb_weight * vb with the same draws: the mse and vb terms themselves do not change."""
    checkpoint = load_exported(tiny_checkpoint_path)
    assert checkpoint.model.config.learn_variance
    base, weighted = losses(checkpoint, batch, ExpertConfig()), losses(checkpoint, batch, ExpertConfig(), vb_weight)
    assert torch.equal(base["loss"], base["mse"] + base["vb"]) and base["vb"] > 0
    assert torch.equal(weighted["mse"], base["mse"]) and torch.equal(weighted["vb"], base["vb"])
    torch.testing.assert_close(weighted["loss"], base["mse"] + vb_weight * base["vb"])


def test_training_with_experts_scores_the_mixed_output(tiny_checkpoint_path, batch, monkeypatch) -> None:
    """With experts the loss is the mixed output's: the same draws of t, noise and ids, a different loss; with the
    mix made the identity it is the network's loss exactly; gradients reach the network through the mix."""
    import tabdiff.experts.mix as mix

    checkpoint = load_exported(tiny_checkpoint_path)
    alone, mixed = losses(checkpoint, batch, ExpertConfig()), losses(checkpoint, batch, LINEAR)
    assert torch.isfinite(mixed["loss"]) and mixed["loss"] != alone["loss"]
    monkeypatch.setattr(mix.FittedExperts, "mix", lambda self, out, x_t, alpha_bar: out)
    assert torch.equal(losses(checkpoint, batch, LINEAR)["loss"], alone["loss"])
    monkeypatch.undo()
    checkpoint.model.zero_grad()
    mixed = losses(checkpoint, batch, LINEAR)
    mixed["loss"].backward()
    assert checkpoint.model.final.linear.weight.grad.abs().sum() > 0
