"""Tests of tabdiff.model.TabularDenoiser: shapes, padding, equivariance, gradients, conditioning."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tabdiff.model import DenoiserConfig, TabularDenoiser

K = 16  # n_channels
ATOL = 1e-5


# the network's options that change its inputs or its rows: each must keep padding, equivariance and gradients
VARIANTS = [
    {},
    {"value_embedding": "rbf", "n_rbf": 8},
    {"thinking_rows": 3},
    {"value_embedding": "rbf", "thinking_rows": 2},
]


def make_model(seed: int = 0, **overrides: Any) -> TabularDenoiser:
    """A tiny denoiser whose weights are all perturbed away from zero.

    At init adaLN-Zero gates and the head are exactly zero, so every output would be 0 and the tests on
    outputs vacuous; a small random perturbation of every parameter makes each path matter.
    """
    fields: dict[str, Any] = dict(
        n_channels=K, d_model=16, depth=2, n_heads=2, mlp_ratio=2.0, id_dim=8, time_freq_dim=16
    )
    fields.update(overrides)
    torch.manual_seed(seed)
    model = TabularDenoiser(DenoiserConfig(**fields))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def make_inputs(B: int, R: int, C: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random unpadded inputs: mixed numeric/categorical columns, about half the cells known."""
    gen = torch.Generator().manual_seed(seed)
    column_kind = (torch.rand(B, C, generator=gen) < 0.4).long()  # (B, C)
    n_categories = torch.randint(2, K + 1, (B, C), generator=gen)
    n_used = torch.where(column_kind == 1, n_categories, 1)  # numeric columns use channel 0 only
    channel_mask = torch.arange(K) < n_used[..., None]  # (B, C, K)
    x_t = torch.randn(B, R, C, K, generator=gen)
    known_mask = torch.rand(B, R, C, generator=gen) < 0.5
    # garbage where unknown, as the contract allows
    x_known = torch.where(known_mask[..., None], torch.randn(B, R, C, K, generator=gen), float("nan"))
    return dict(
        x_t=x_t,
        t=torch.randint(0, 1000, (B,), generator=gen),
        known_mask=known_mask,
        x_known=x_known,
        channel_mask=channel_mask,
        column_kind=column_kind,
        col_ids=torch.randn(B, C, 8, generator=gen),
        row_pad_mask=torch.zeros(B, R, dtype=torch.bool),
        col_pad_mask=torch.zeros(B, C, dtype=torch.bool),
    )


def run(model: TabularDenoiser, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    inputs = dict(inputs)
    return model(inputs.pop("x_t"), inputs.pop("t"), **inputs)


def pad_into(inputs: dict[str, torch.Tensor], R: int, C: int) -> dict[str, torch.Tensor]:
    """Pad a single-table batch to (R, C), filling the padding with NaN / random garbage."""
    _, r, c, _ = inputs["x_t"].shape
    out = {}
    for name, value in inputs.items():
        if name in ("t", "row_pad_mask", "col_pad_mask"):
            out[name] = value
            continue
        big_shape = list(value.shape)
        if name in ("x_t", "known_mask", "x_known"):
            big_shape[1:3] = [R, C]
            index = (slice(None), slice(0, r), slice(0, c))
        else:  # (B, C, ...) column inputs
            big_shape[1] = C
            index = (slice(None), slice(0, c))
        if value.dtype == torch.bool:
            fill = torch.ones(big_shape, dtype=torch.bool)
        elif value.dtype == torch.long:
            fill = torch.ones(big_shape, dtype=torch.long)
        else:
            fill = torch.full(big_shape, float("nan"))
        if name == "col_ids":
            fill = torch.randn(big_shape)  # the model reads ids of padding columns; they must be finite
        fill[index] = value
        out[name] = fill
    out["row_pad_mask"] = torch.arange(R)[None] >= r  # (1, R)
    out["col_pad_mask"] = torch.arange(C)[None] >= c  # (1, C)
    return out


def cat_tables(*tables: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: torch.cat([tab[name] for tab in tables]) for name in tables[0]}


@pytest.mark.parametrize("learn_variance", [False, True])
def test_output_shape(learn_variance: bool) -> None:
    model = make_model(learn_variance=learn_variance)
    out = run(model, make_inputs(2, 4, 3))
    assert out.shape == (2, 4, 3, 2 * K if learn_variance else K)


@pytest.mark.parametrize(("R", "C"), [(1, 1), (1, 50), (500, 1), (300, 40)])
def test_any_shape_runs(R: int, C: int) -> None:
    model = make_model()
    with torch.no_grad():
        out = run(model, make_inputs(1, R, C))
    assert out.shape == (1, R, C, 2 * K)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("variant", VARIANTS)
def test_padding_does_not_change_real_cells(variant: dict) -> None:
    model = make_model(**variant)
    a = make_inputs(1, 5, 3, seed=1)
    b = make_inputs(1, 8, 6, seed=2)
    empty = pad_into(make_inputs(1, 2, 2, seed=3), 8, 6)  # a table that is all padding
    empty["row_pad_mask"][:] = True
    empty["col_pad_mask"][:] = True
    batch = cat_tables(pad_into(a, 8, 6), b, empty)
    with torch.no_grad():
        alone_a, alone_b, out = run(model, a), run(model, b), run(model, batch)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[0, :5, :3], alone_a[0], atol=ATOL, rtol=0)
    torch.testing.assert_close(out[1], alone_b[0], atol=ATOL, rtol=0)
    assert (out[0, 5:] == 0).all() and (out[0, :, 3:] == 0).all() and (out[2] == 0).all()


def test_padding_keeps_default_col_ids() -> None:
    """Default ids of the first columns do not depend on how many (padding) columns follow."""
    model = make_model()
    a = make_inputs(1, 4, 3, seed=4)
    padded = pad_into(a, 6, 70)
    a.pop("col_ids"), padded.pop("col_ids")
    with torch.no_grad():
        alone, padded = run(model, a), run(model, padded)
    torch.testing.assert_close(padded[0, :4, :3], alone[0], atol=ATOL, rtol=0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_unused_channels_are_zero(variant: dict) -> None:
    model = make_model(**variant)
    inputs = make_inputs(2, 4, 5)
    with torch.no_grad():
        out = run(model, inputs)
    unused = ~inputs["channel_mask"][:, None].expand(2, 4, 5, K)  # (B, R, C, K)
    assert (out[..., :K][unused] == 0).all() and (out[..., K:][unused] == 0).all()


@pytest.mark.parametrize("variant", VARIANTS)
def test_row_equivariance(variant: dict) -> None:
    model = make_model(**variant)
    inputs = cat_tables(pad_into(make_inputs(1, 5, 4, seed=5), 7, 4), make_inputs(1, 7, 4, seed=6))
    perm = torch.randperm(7, generator=torch.Generator().manual_seed(0))
    permuted = dict(inputs)
    for name in ("x_t", "known_mask", "x_known", "row_pad_mask"):
        permuted[name] = inputs[name][:, perm]
    with torch.no_grad():
        out, out_perm = run(model, inputs), run(model, permuted)
    torch.testing.assert_close(out_perm, out[:, perm], atol=ATOL, rtol=0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_col_equivariance(variant: dict) -> None:
    model = make_model(**variant)
    inputs = cat_tables(pad_into(make_inputs(1, 5, 4, seed=7), 5, 6), make_inputs(1, 5, 6, seed=8))
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(1))
    permuted = dict(inputs)
    for name in ("x_t", "known_mask", "x_known"):
        permuted[name] = inputs[name][:, :, perm]
    for name in ("channel_mask", "column_kind", "col_pad_mask", "col_ids"):
        permuted[name] = inputs[name][:, perm]
    with torch.no_grad():
        out, out_perm = run(model, inputs), run(model, permuted)
    torch.testing.assert_close(out_perm, out[:, :, perm], atol=ATOL, rtol=0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_gradients_reach_every_parameter(variant: dict) -> None:
    """adaLN-Zero: at init only the head gets gradient; after two optimizer steps every parameter does.

    Step 1 moves the head (zero-initialised); step 2 moves the adaLN gates (their gradient needs a
    non-zero head); from the third backward on, gradient reaches every sub-layer behind the gates.
    """
    torch.manual_seed(0)
    config = DenoiserConfig(d_model=16, depth=2, n_heads=2, mlp_ratio=2.0, id_dim=8, **variant)
    model = TabularDenoiser(config).train()
    inputs = cat_tables(pad_into(make_inputs(1, 5, 4, seed=9), 6, 5), make_inputs(1, 6, 5, seed=10))
    target = torch.randn(2, 6, 5, K, generator=torch.Generator().manual_seed(0))
    real = ~inputs["row_pad_mask"][:, :, None] & ~inputs["col_pad_mask"][:, None, :]  # (B, R, C)
    loss_mask = real[..., None] & inputs["channel_mask"][:, None]  # (B, R, C, K)

    def loss_fn() -> torch.Tensor:
        out = run(model, inputs)
        mse = (out[..., :K] - target) ** 2 + out[..., K:] ** 2
        return torch.where(loss_mask, mse, 0.0).sum() / loss_mask.sum()

    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    loss_fn().backward()
    assert model.final.linear.weight.grad.abs().sum() > 0
    assert model.blocks[0].mlp.fc1.weight.grad.abs().sum() == 0  # behind a zero gate
    for _ in range(2):
        opt.step()
        opt.zero_grad()
        loss_fn().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name


def test_unconditional_network() -> None:
    model = make_model(conditional=False)
    assert not hasattr(model, "x_known_proj")
    inputs = make_inputs(2, 4, 3)
    with torch.no_grad():
        out = model(inputs["x_t"], inputs["t"])
        ignored = run(model, inputs)  # known inputs are not embedded: only the channel mask etc. count
        inputs["known_mask"] = ~inputs["known_mask"]
        inputs["x_known"] = torch.randn_like(inputs["x_t"])
        still = run(model, inputs)
    assert out.shape == (2, 4, 3, 2 * K) and torch.isfinite(out).all()
    torch.testing.assert_close(ignored, still)


def test_conditional_outputs_depend_on_known_values() -> None:
    model = make_model()
    inputs = make_inputs(1, 6, 4, seed=11)
    known = inputs["known_mask"][..., None]
    changed_known = {**inputs, "x_known": torch.where(known, inputs["x_known"] + 1.0, inputs["x_known"])}
    changed_unknown = {**inputs, "x_known": torch.where(known, inputs["x_known"], 123.0)}
    with torch.no_grad():
        out = run(model, inputs)
        no_mask = model(
            inputs["x_t"],
            inputs["t"],
            channel_mask=inputs["channel_mask"],
            column_kind=inputs["column_kind"],
            col_ids=inputs["col_ids"],
        )
        out_known, out_unknown = run(model, changed_known), run(model, changed_unknown)
    assert (out_known - out).abs().max() > 1e-3
    assert (no_mask - out).abs().max() > 1e-3
    torch.testing.assert_close(out_unknown, out, atol=0, rtol=0)


def test_deterministic_given_seed() -> None:
    inputs = make_inputs(2, 5, 3)
    inputs.pop("col_ids")  # default ids come from config.col_id_seed
    with torch.no_grad():
        a, b = run(make_model(seed=3), inputs), run(make_model(seed=3), inputs)
        c = run(make_model(seed=3, col_id_seed=1), inputs)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_tanh_bounds_the_variance_values() -> None:
    model = make_model(variance_activation="tanh")
    with torch.no_grad():
        model.final.linear.weight.mul_(100.0)
        out = run(model, make_inputs(1, 4, 3))
    assert out[..., K:].abs().max() <= 1.0


def test_grad_checkpoint_matches() -> None:
    inputs = make_inputs(1, 4, 3)
    grads = []
    for flag in (False, True):
        model = make_model(grad_checkpoint=flag).train()
        run(model, inputs).square().sum().backward()
        grads.append(model.blocks[0].attn_between_rows.qkv.weight.grad)
    torch.testing.assert_close(grads[0], grads[1])


def test_autocast_bf16() -> None:
    model = make_model()
    inputs = make_inputs(2, 6, 4)
    with torch.no_grad():
        ref = run(model, inputs)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = run(model, inputs)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.float(), ref, atol=0.1, rtol=0.1)


def test_the_network_knows_nothing_of_experts_or_noise_schedules() -> None:
    """forward takes cells, masks and timesteps only: the experts are mixed in outside it (tabdiff.experts)."""
    import dataclasses
    import inspect

    parameters = inspect.signature(TabularDenoiser.forward).parameters
    assert not {"alpha_bar", "ridge_fit"} & set(parameters)
    assert not [f.name for f in dataclasses.fields(DenoiserConfig) if "ridge" in f.name or "expert" in f.name]
