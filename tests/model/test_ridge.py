"""Tests of tabdiff.model.ridge: the in-context ridge feature against its closed form, and its warm start."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch

from tabdiff.inference.checkpoint import load_exported
from tabdiff.model import TabularDenoiser
from tabdiff.model.ridge import RIDGE_BASE, RIDGE_PER_ROW, ridge_features, ridge_x0
from tabdiff.training.export import export_weights, sidecar_path
from tabdiff.training.train import warm_start


def low_rank(rows: int, cols: int, rank: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Standardised rank-`rank` table with 10% noise and a 30% MCAR known mask (column 0 of row 0 kept)."""
    rng = np.random.default_rng(seed)
    truth = rng.standard_normal((rows, rank)) @ rng.standard_normal((rank, cols))
    truth += 0.1 * truth.std(0) * rng.standard_normal(truth.shape)
    truth = (truth - truth.mean(0)) / truth.std(0)
    known = rng.random(truth.shape) >= 0.3
    known[0] = True
    return truth, known


def features(truth: np.ndarray, known: np.ndarray, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    x = torch.tensor(np.where(known, truth, np.nan), dtype=torch.float32)[None]
    pred, available, _ = ridge_features(
        x, torch.tensor(known)[None], torch.ones(1, truth.shape[1], dtype=torch.bool), **kwargs
    )
    return pred[0].numpy(), available[0].numpy()


def test_one_round_is_the_closed_form() -> None:
    """Column j's ridge on the other columns (unknown cells 0), fitted where j is known; known cells leave-one-out."""
    truth, known = low_rank(40, 5, 2, seed=0)
    pred, available = features(truth, known, rounds=1)
    assert available.all()
    z = np.where(known, truth, 0.0)
    for j in range(5):
        rows, others = known[:, j], np.delete(z, j, axis=1)
        system = others[rows].T @ others[rows] + (RIDGE_BASE + RIDGE_PER_ROW * rows.sum()) * np.eye(4)
        beta = np.linalg.solve(system, others[rows].T @ z[rows, j])
        fitted = others @ beta
        leverage = np.einsum("ik,kl,il->i", others, np.linalg.inv(system), others)
        expected = np.where(rows, z[:, j] - (z[:, j] - fitted) / (1.0 - leverage), fitted)
        np.testing.assert_allclose(pred[:, j], expected, atol=1e-4)


def test_chained_rounds_approach_linear_imputation() -> None:
    """On a low-rank table, each round's fills make the next fit better (MICE's linear regressions reach ~0.13)."""
    truth, known = low_rank(256, 16, 3, seed=1)
    errors = []
    for rounds in (1, 2, 3):
        pred, _ = features(truth, known, rounds=rounds)
        errors.append(float(np.sqrt(np.mean((pred[~known] - truth[~known]) ** 2))))
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.25 < errors[0]


def test_unavailable_columns_are_zero() -> None:
    """Categorical columns, columns with fewer than 2 known rows and a lone numeric column get no feature."""
    x = torch.randn(2, 6, 3)
    known = torch.ones(2, 6, 3, dtype=torch.bool)
    known[0, 1:, 2] = False  # table 0, column 2: one known row
    numeric = torch.tensor([[True, True, True], [True, False, False]])  # table 1: one numeric column
    pred, available, _ = ridge_features(x, known, numeric)
    assert available.tolist() == [[True, True, False], [False, False, False]]
    assert (pred[0, :, 2] == 0).all() and (pred[1] == 0).all()
    assert pred[0, :, :2].abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.bfloat16])
def test_autocast_keeps_float32(dtype: torch.dtype) -> None:
    truth, known = low_rank(30, 4, 2, seed=2)
    x = torch.tensor(np.where(known, truth, 0.0), dtype=torch.float32)[None]
    args = (x, torch.tensor(known)[None], torch.ones(1, 4, dtype=torch.bool))
    ref, _, _ = ridge_features(*args)
    with torch.autocast("cpu", dtype=dtype):
        out, _, _ = ridge_features(*args)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref)


def test_warm_start_adds_the_feature(tiny_checkpoint_path, tmp_path) -> None:
    """An export without the feature warm-starts a model with it, which with the gate closed computes what the
    export did."""
    source = load_exported(tiny_checkpoint_path).model
    with_ridge = TabularDenoiser(replace(source.config, ridge_features=True))
    warm_start(with_ridge, tiny_checkpoint_path)
    assert torch.sigmoid(with_ridge.ridge_gate.bias).item() == 0.5  # it starts as an even blend
    with torch.no_grad():
        with_ridge.ridge_gate.bias.fill_(-30.0)  # closed: then exactly the export's function
    gen = torch.Generator().manual_seed(0)
    x_t, x_known = torch.randn(2, 7, 3, 16, generator=gen), torch.randn(2, 7, 3, 16, generator=gen)
    known_mask = torch.rand(2, 7, 3, generator=gen) < 0.6
    t = torch.tensor([40, 3])
    with torch.no_grad():
        expected = source(x_t, t, known_mask=known_mask, x_known=x_known)
        out = with_ridge.eval()(x_t, t, known_mask=known_mask, x_known=x_known)
    torch.testing.assert_close(out, expected)
    # the reverse, dropping a feature the export was trained with, is refused
    config = json.loads(sidecar_path(tiny_checkpoint_path).read_text()) | {"model": asdict(with_ridge.config)}
    path = export_weights(with_ridge.state_dict(), config, tmp_path / "ridge.safetensors")
    with pytest.raises(ValueError, match="differ"):
        warm_start(TabularDenoiser(source.config), path)


def test_open_gate_outputs_the_ridge_on_unknown_numeric_cells(tiny_checkpoint_path) -> None:
    """Share 1: channel 0 of unknown numeric cells is the ridge's prediction; known and categorical cells and the
    variance channels are the network's (as with the gate closed)."""
    from tabdiff.model.ridge import ridge_features as features_of

    source = load_exported(tiny_checkpoint_path).model
    model = TabularDenoiser(replace(source.config, ridge_features=True))
    warm_start(model, tiny_checkpoint_path)
    gen = torch.Generator().manual_seed(1)
    B, R, C, K = 2, 9, 4, 16
    x_t, x_known = torch.randn(B, R, C, K, generator=gen), torch.randn(B, R, C, K, generator=gen)
    known_mask = torch.rand(B, R, C, generator=gen) < 0.6
    column_kind = torch.tensor([[0, 0, 1, 0], [0, 0, 0, 0]])
    channel_mask = torch.where(column_kind[..., None] == 1, torch.arange(K) < 3, torch.arange(K) < 1)
    args = dict(known_mask=known_mask, x_known=x_known, column_kind=column_kind, channel_mask=channel_mask)
    t = torch.tensor([40, 3])
    with torch.no_grad():
        model.ridge_gate.bias.fill_(30.0)
        opened = model.eval()(x_t, t, **args)
        model.ridge_gate.bias.fill_(-30.0)
        closed = model(x_t, t, **args)
    pred, available, _ = features_of(x_known[..., 0], known_mask, column_kind == 0)
    mixed = available[:, None, :] & ~known_mask
    assert mixed.sum() > 10 and (~mixed).sum() > 10
    torch.testing.assert_close(opened[..., 0][mixed], pred[mixed])
    torch.testing.assert_close(opened[..., 0][~mixed], closed[..., 0][~mixed])
    torch.testing.assert_close(opened[..., 1:], closed[..., 1:])


def test_ridge_x0_is_the_gaussian_posterior_mean() -> None:
    """x0 ~ N(pred, s^2), x_t = sqrt(abar) x0 + sqrt(1 - abar) eps: precision-weighted mean of pred and x_t / sqrt(abar)."""
    pred, x_t = torch.tensor([[[0.5, -1.0]]]), torch.tensor([[[2.0, 0.3]]])  # (1, 1, 2)
    residual_var = torch.tensor([[0.25, 4.0]])
    for abar in (1e-6, 0.3, 0.9, 1.0 - 1e-6):
        out = ridge_x0(pred, residual_var, x_t, torch.tensor([abar]))
        # the observation x_t / sqrt(abar) has variance (1 - abar) / abar around x0
        prior_precision, obs_precision = 1.0 / residual_var, abar / (1.0 - abar)
        expected = (prior_precision * pred + obs_precision * x_t / abar**0.5) / (prior_precision + obs_precision)
        torch.testing.assert_close(out, expected, rtol=1e-4, atol=1e-4)
    assert torch.equal(ridge_x0(pred, residual_var, x_t, None), pred)  # no noise level: the one-pass limit


def test_ridge_needs_an_x0_diffusion() -> None:
    """The ridge is mixed in as a clean-cell estimate: training it with an eps-prediction diffusion is refused."""
    from tabdiff.diffusion import GaussianDiffusion
    from tabdiff.model import DenoiserConfig
    from tabdiff.training.module import TabDiffusionModule

    model = TabularDenoiser(DenoiserConfig(d_model=16, depth=1, n_heads=2, id_dim=8, ridge_features=True))
    with pytest.raises(ValueError, match="prediction='x0', got 'eps'"):
        TabDiffusionModule(model, GaussianDiffusion(50, "cosine", prediction="eps"))
