from __future__ import annotations

import pytest
import torch

from tabdiff.diffusion import GaussianDiffusion
from tabdiff.inference.inpaint import inpaint
from tabdiff.model import DenoiserConfig, TabularDenoiser


def _model(conditional: bool = True) -> TabularDenoiser:
    torch.manual_seed(0)
    model = TabularDenoiser(DenoiserConfig(d_model=32, depth=1, n_heads=2, id_dim=8, conditional=conditional))
    with torch.no_grad():  # leave the zero init, so outputs depend on the inputs
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def _inputs():
    g = torch.Generator().manual_seed(1)
    cells = torch.randn(2, 7, 4, 16, generator=g)
    channel_mask = torch.zeros(2, 4, 16, dtype=torch.bool)
    channel_mask[:, :, 0] = True
    channel_mask[:, 3, :3] = True  # a 3-category column
    cells = torch.where(channel_mask[:, None], cells, 0.0)
    known_mask = torch.rand(2, 7, 4, generator=g) > 0.4
    column_kind = torch.tensor([[0, 0, 0, 1], [0, 0, 0, 1]])
    return cells, known_mask, channel_mask, column_kind


@pytest.mark.parametrize("sampler", ["ddim", "conditional", "repaint"])
def test_every_sampler_keeps_known_cells_and_unused_channels(sampler):
    cells, known_mask, channel_mask, column_kind = _inputs()
    d = GaussianDiffusion(100, learn_variance=True, prediction="x0")
    out = inpaint(_model(), d, cells, known_mask, channel_mask=channel_mask, column_kind=column_kind,
                  sampler=sampler, n_steps=6, jump_length=2, jump_n_sample=2,
                  generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert out.shape == cells.shape and torch.isfinite(out).all()
    fixed = known_mask[..., None] | ~channel_mask[:, None]
    assert torch.equal(out[fixed.expand_as(out)], cells[fixed.expand_as(cells)])
    assert not torch.equal(out, cells)
    again = inpaint(_model(), d, cells, known_mask, channel_mask=channel_mask, column_kind=column_kind,
                    sampler=sampler, n_steps=6, jump_length=2, jump_n_sample=2,
                    generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert torch.equal(out, again)


def test_conditional_samplers_need_a_conditional_checkpoint():
    cells, known_mask, channel_mask, column_kind = _inputs()
    d = GaussianDiffusion(10, learn_variance=True)
    with pytest.raises(ValueError, match="sampler='repaint'"):
        inpaint(_model(conditional=False), d, cells, known_mask, channel_mask=channel_mask, column_kind=column_kind)
    with pytest.raises(ValueError, match="sampler must be"):
        inpaint(_model(), d, cells, known_mask, channel_mask=channel_mask, column_kind=column_kind, sampler="magic")
