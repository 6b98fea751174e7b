"""Tests of tabdiff.experts.mix: the experts' estimate mixed into a denoiser's output outside the network."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
import torch
from safetensors.torch import load_file

from tabdiff.checkpoint import FORMAT_VERSION, export_weights, load_exported, sidecar_path
from tabdiff.diffusion import GaussianDiffusion
from tabdiff.experts import ExpertConfig, FittedExperts, with_experts
from tabdiff.experts.ridge import ridge_features, ridge_x0
from tabdiff.inference.inpaint import inpaint
from tabdiff.model import DenoiserConfig, TabularDenoiser

LINEAR = ExpertConfig(kind="linear", columns="numeric", logistic_steps=0, gaussian_iters=0, share="even")


def mixed_batch(seed: int = 1):
    """Two tables of 9 rows x 4 columns (column 2 of table 0 categorical, 3 channels), 60% known, K = 16."""
    gen = torch.Generator().manual_seed(seed)
    B, R, C, K = 2, 9, 4, 16
    x_t, x_known = torch.randn(B, R, C, K, generator=gen), torch.randn(B, R, C, K, generator=gen)
    known_mask = torch.rand(B, R, C, generator=gen) < 0.6
    column_kind = torch.tensor([[0, 0, 1, 0], [0, 0, 0, 0]])
    channel_mask = torch.where(column_kind[..., None] == 1, torch.arange(K) < 3, torch.arange(K) < 1)
    return x_t, x_known, known_mask, column_kind, channel_mask


def test_an_even_share_averages_the_network_and_the_experts_on_unknown_numeric_cells() -> None:
    """share='even': channel 0 of an unknown numeric cell is (network + experts' prediction) / 2 at abar = 0 (the
    one-pass estimate); known and categorical cells, unused channels and the variance channels are the network's."""
    x_t, x_known, known_mask, column_kind, channel_mask = mixed_batch()
    fitted = FittedExperts(LINEAR, x_known, known_mask, channel_mask=channel_mask, column_kind=column_kind)
    used = channel_mask[:, None].expand(x_t.shape)
    network = torch.where(used.repeat(1, 1, 1, 2), torch.randn(*x_t.shape[:3], 32), 0.0)  # (B, R, C, 2K)
    out = fitted.mix(network, x_t, None)
    pred, available, *_ = ridge_features(x_known, known_mask, column_kind == 0)
    mixed = available[:, None, :] & ~known_mask
    assert mixed.sum() > 10 and (~mixed).sum() > 10
    torch.testing.assert_close(out[..., 0][mixed], (network[..., 0][mixed] + pred[..., 0][mixed]) / 2)
    assert torch.equal(out[..., 0][~mixed], network[..., 0][~mixed])
    assert torch.equal(out[..., 1:], network[..., 1:])


def test_the_precision_share_weights_the_experts_by_their_leave_one_out_fit() -> None:
    """share='precision': s = v / (v + unexplained) per column (cell_scale 1 without the Gaussian): near 1 for a
    column the others determine, lower for a noise column; at abar > 0 the experts' part is their posterior."""
    gen = torch.Generator().manual_seed(2)
    B, R, C, K = 2, 24, 4, 16
    base = torch.randn(B, R, 2, generator=gen)
    x_known = torch.zeros(B, R, C, K)
    x_known[..., 0] = torch.stack([base[..., 0], base[..., 1], base.sum(-1), torch.randn(B, R, generator=gen)], -1)
    known_mask = torch.rand(B, R, C, generator=gen) < 0.7
    channel_mask = (torch.arange(K) < 1).expand(B, C, K)
    config = ExpertConfig(kind="linear", columns="numeric", logistic_steps=0, gaussian_iters=0, network_var=0.3)
    fitted = FittedExperts(config, x_known, known_mask, channel_mask=channel_mask, column_kind=torch.zeros(B, C).long())
    x_t, network = torch.randn(B, R, C, K, generator=gen), torch.randn(B, R, C, K, generator=gen)
    network = torch.where(channel_mask[:, None], network, 0.0)
    abar = torch.tensor([0.2, 0.6])
    out = fitted.mix(network, x_t, abar)[..., 0]
    fit = ridge_features(x_known, known_mask, torch.ones(B, C, dtype=torch.bool))
    share = (0.3 / (0.3 + fit.unexplained))[:, None, :].expand(B, R, C)
    expert = ridge_x0(fit.pred, fit.residual_var[:, None], x_t, abar)[..., 0]
    unknown = ~known_mask & fit.available[:, None, :]
    torch.testing.assert_close(out[unknown], ((1 - share) * network[..., 0] + share * expert)[unknown])
    assert share[unknown].min() < 0.3 < 0.7 < share[unknown].max()  # the noise column vs the determined one
    assert torch.equal(out[~unknown], network[..., 0][~unknown])


def test_padding_stays_zero_and_padded_cells_do_not_fit() -> None:
    """A padding row and column are neither fitted nor mixed: the output there stays the network's zero, and the
    real cells get what the unpadded table gets."""
    x_t, x_known, known_mask, column_kind, channel_mask = mixed_batch(seed=3)
    pad = dict(row_pad_mask=torch.arange(9)[None].expand(2, 9) >= 8, col_pad_mask=torch.tensor([[0, 0, 0, 1]] * 2) > 0)
    config = ExpertConfig(kind="linear", columns="all", logistic_steps=3, gaussian_iters=0)
    padded = FittedExperts(config, x_known, known_mask, channel_mask=channel_mask, column_kind=column_kind, **pad)
    real = FittedExperts(
        config,
        x_known[:, :8, :3],
        known_mask[:, :8, :3],
        channel_mask=channel_mask[:, :3],
        column_kind=column_kind[:, :3],
    )
    network = torch.randn(*x_t.shape[:3], 32)
    network[:, 8], network[:, :, 3] = 0.0, 0.0
    out = padded.mix(network, x_t, torch.tensor([0.5, 0.5]))
    assert not out[:, 8].any() and not out[:, :, 3].any()
    expected = real.mix(network[:, :8, :3], x_t[:, :8, :3], torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(out[:, :8, :3], expected)


def test_experts_need_an_x0_diffusion_and_valid_settings() -> None:
    """The experts' estimate is a clean-cell estimate: training or loading them with an eps-prediction diffusion is
    refused; bad settings name the field."""
    from tabdiff.training.module import TabDiffusionModule

    model = TabularDenoiser(DenoiserConfig(d_model=16, depth=1, n_heads=2, id_dim=8))
    with pytest.raises(ValueError, match="prediction='x0', got 'eps'"):
        TabDiffusionModule(model, GaussianDiffusion(50, "cosine", prediction="eps"), experts=LINEAR)
    TabDiffusionModule(model, GaussianDiffusion(50, "cosine", prediction="eps"))  # the network alone: any prediction
    with pytest.raises(ValueError, match="share"):
        ExpertConfig(kind="linear", share="half")
    with pytest.raises(ValueError, match="gaussian_iters"):
        ExpertConfig(kind="linear", gaussian_iters=-1)
    with pytest.raises(ValueError, match="kind"):
        ExpertConfig(kind="ridge")


def test_inpaint_fits_the_experts_once_and_keeps_known_cells(tiny_checkpoint_path, monkeypatch) -> None:
    """The experts read only the known cells: a 5-step sampler run fits them once; known cells come back exactly;
    the repaint sampler (which tells the network nothing of the known cells) runs the network alone."""
    import tabdiff.experts.mix as mix

    checkpoint = load_exported(tiny_checkpoint_path)
    x_t, x_known, known_mask, column_kind, channel_mask = mixed_batch(seed=4)
    x_known = torch.where(channel_mask[:, None], x_known, 0.0)
    calls = []
    monkeypatch.setattr(mix, "ridge_features", lambda *a, **k: calls.append(1) or ridge_features(*a, **k))
    args = dict(channel_mask=channel_mask, column_kind=column_kind, n_steps=5)
    config = ExpertConfig(kind="linear", columns="all", logistic_steps=3, gaussian_iters=2)
    run = [
        inpaint(
            checkpoint.model,
            checkpoint.diffusion,
            x_known,
            known_mask,
            sampler=sampler,
            experts=experts,
            generator=torch.Generator().manual_seed(0),
            **args,
        )  # fmt: skip
        for sampler, experts in [("conditional", config), ("conditional", ExpertConfig()), ("repaint", config)]
    ]
    assert len(calls) == 1
    assert torch.equal(run[0][known_mask], x_known[known_mask])
    assert not torch.equal(run[0], run[1])
    repaint_alone = inpaint(checkpoint.model, checkpoint.diffusion, x_known, known_mask, sampler="repaint",
                            generator=torch.Generator().manual_seed(0), **args)  # fmt: skip
    assert torch.equal(run[2], repaint_alone)


def test_with_experts_reads_abar_by_training_timestep() -> None:
    """The mixed model function passes each table's abar_t of the training process to the mix."""
    seen = {}

    class Recorder:
        def mix(self, out, x_t, alpha_bar):
            seen["abar"] = alpha_bar
            return out

    abar = torch.linspace(0.99, 0.01, 50)
    fn = with_experts(lambda x_t, t: x_t, Recorder(), abar)
    fn(torch.zeros(2, 1, 1, 1), torch.tensor([3, 40]))
    torch.testing.assert_close(seen["abar"], abar[[3, 40]])
    assert with_experts(fn, None, abar) is fn


def test_a_format_1_export_loads_with_its_experts_and_trained_mixing_layers_are_refused(
    tiny_checkpoint_path, tmp_path
) -> None:
    """Format 1 kept the experts' settings in "model" and zero mixing layers in the weights: such a file loads as
    format 2 with an "experts" section and the same network; one whose mixing layers were trained is refused."""
    config = json.loads(sidecar_path(tiny_checkpoint_path).read_text())
    state = load_file(str(tiny_checkpoint_path))
    d = config["model"]["d_model"]
    old = config | {"format_version": 1, "experts": None}
    old["model"] = config["model"] | {"ridge_features": True, "ridge_columns": "all", "ridge_share": "precision"}
    layers = {"ridge_proj.weight": torch.zeros(d, 2), "ridge_proj.bias": torch.zeros(d),
              "ridge_gate.weight": torch.zeros(1, d), "ridge_gate.bias": torch.zeros(1)}  # fmt: skip
    del old["experts"]
    path = export_weights(state | layers, old, tmp_path / "old.safetensors")
    loaded = load_exported(path)
    assert loaded.config["format_version"] == FORMAT_VERSION
    assert loaded.experts == ExpertConfig(kind="linear", columns="all", logistic_steps=0, gaussian_iters=0,
                                          share="precision", network_var=0.5)  # fmt: skip
    reference = load_exported(tiny_checkpoint_path).model.state_dict()
    assert all(torch.equal(loaded.model.state_dict()[k], v) for k, v in reference.items())
    layers["ridge_gate.bias"] = torch.ones(1)
    path = export_weights(state | layers, old, tmp_path / "trained.safetensors")
    with pytest.raises(ValueError, match="mixing layers were trained"):
        load_exported(path)


def test_the_shipped_checkpoint_names_its_experts_and_holds_no_mixing_layers() -> None:
    from tabdiff.checkpoint import BUNDLED_CHECKPOINT

    loaded = load_exported(BUNDLED_CHECKPOINT)
    assert loaded.config["format_version"] == FORMAT_VERSION
    assert loaded.experts == ExpertConfig(kind="linear", columns="all", logistic_steps=30, gaussian_iters=8,
                                          share="precision", network_var=0.5)  # fmt: skip
    assert not any(key.startswith("ridge") for key in load_file(str(BUNDLED_CHECKPOINT)))
    assert not any("ridge" in field or "expert" in field for field in asdict(loaded.model.config))


def test_permuting_rows_or_columns_permutes_the_mixed_output() -> None:
    """The experts are equivariant as the network is: permuting a table's rows (or columns, with their masks)
    permutes the mixed output the same way."""
    x_t, x_known, known_mask, column_kind, channel_mask = mixed_batch(seed=5)
    config = ExpertConfig(kind="linear", columns="all", logistic_steps=3, gaussian_iters=0)
    network = torch.where(channel_mask[:, None].repeat(1, 1, 1, 2), torch.randn(*x_t.shape[:3], 32), 0.0)
    abar = torch.tensor([0.3, 0.7])

    def run(rows, cols):
        fitted = FittedExperts(config, x_known[:, rows][:, :, cols], known_mask[:, rows][:, :, cols],
                               channel_mask=channel_mask[:, cols], column_kind=column_kind[:, cols])  # fmt: skip
        return fitted.mix(network[:, rows][:, :, cols], x_t[:, rows][:, :, cols], abar)

    base = run(torch.arange(9), torch.arange(4))
    rows, cols = torch.randperm(9, generator=torch.Generator().manual_seed(0)), torch.tensor([3, 1, 0, 2])
    torch.testing.assert_close(run(rows, torch.arange(4)), base[:, rows], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(run(torch.arange(9), cols), base[:, :, cols], atol=1e-5, rtol=1e-5)


def test_a_fit_selected_into_another_order_is_the_fit_of_the_table_in_that_order() -> None:
    """`select` reorders a fit's rows and columns (and picks its tables): the mixed output is that of a fit made on
    the reordered table, to float32 rounding; `concat` stacks selected fits along the batch axis."""
    x_t, x_known, known_mask, column_kind, channel_mask = mixed_batch(seed=7)
    config = ExpertConfig(kind="linear", columns="all", logistic_steps=3, gaussian_iters=2)
    fitted = FittedExperts(config, x_known, known_mask, channel_mask=channel_mask, column_kind=column_kind)
    network = torch.where(channel_mask[:, None].repeat(1, 1, 1, 2), torch.randn(*x_t.shape[:3], 32), 0.0)
    abar = torch.tensor([0.4, 0.4])
    rows = torch.stack([torch.randperm(9, generator=torch.Generator().manual_seed(s)) for s in (1, 2)])  # (2, 9)
    cols = torch.tensor([[2, 0, 3, 1], [1, 3, 0, 2]])
    index = torch.tensor([0, 0])  # table 0 in two orders
    picked = lambda t: torch.stack([t[0][rows[b]][:, cols[b]] for b in range(2)])  # noqa: E731
    fresh = FittedExperts(config, picked(x_known), picked(known_mask), channel_mask=channel_mask[0][cols],
                          column_kind=column_kind[0][cols])  # fmt: skip
    selected = fitted.select(index, rows, cols)
    x_t_picked, network_picked = picked(x_t), picked(network)
    torch.testing.assert_close(
        selected.mix(network_picked, x_t_picked, abar), fresh.mix(network_picked, x_t_picked, abar),
        atol=1e-5, rtol=1e-5,
    )  # fmt: skip
    parts = [fitted.select(index[b : b + 1], rows[b : b + 1], cols[b : b + 1]) for b in range(2)]
    stacked = FittedExperts.concat(parts)
    torch.testing.assert_close(
        stacked.mix(network_picked, x_t_picked, abar), selected.mix(network_picked, x_t_picked, abar), atol=0, rtol=0
    )
