from __future__ import annotations

import math

import pytest
import torch

from tabdiff.diffusion import GaussianDiffusion, make_betas, space_timesteps


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("timesteps", [1, 2, 5, 10, 50, 250, 1000, 4000])
def test_alphas_cumprod_monotone_in_unit_interval_and_ends_near_zero(schedule, timesteps):
    d = GaussianDiffusion(timesteps, schedule)
    abar = d.alphas_cumprod
    assert d.betas.shape == abar.shape == (timesteps,)
    assert ((abar > 0) & (abar <= 1)).all()
    assert (abar[1:] < abar[:-1]).all()
    assert abar[-1] < 1e-2, f"abar_T = {abar[-1].item()} for T={timesteps}: the last step must destroy the signal"


def test_linear_schedule_matches_ddpm_at_t1000():
    betas = make_betas("linear", 1000)
    assert betas[0].item() == pytest.approx(1e-4)
    assert betas[-1].item() == pytest.approx(0.02)
    # scaled by 1000/T: T=250 spans 4e-4 .. 0.08
    assert make_betas("linear", 250)[-1].item() == pytest.approx(0.08)


def test_cosine_schedule_follows_closed_form():
    timesteps, s = 100, 0.008
    d = GaussianDiffusion(timesteps, "cosine")
    f = [math.cos((t / timesteps + s) / (1 + s) * math.pi / 2) ** 2 for t in range(timesteps + 1)]
    expected = torch.tensor([f[t + 1] / f[0] for t in range(timesteps)], dtype=torch.float64)
    # identical except where beta was clipped at 0.999 (the very last step)
    torch.testing.assert_close(d.alphas_cumprod[:-1], expected[:-1], rtol=1e-10, atol=1e-12)


def test_bad_schedule_arguments_are_named():
    with pytest.raises(ValueError, match="schedule"):
        make_betas("quadratic", 10)
    with pytest.raises(ValueError, match="timesteps"):
        make_betas("linear", 0)
    with pytest.raises(ValueError, match="prediction"):
        GaussianDiffusion(10, prediction="score")


@pytest.mark.parametrize("n_steps", [1, 2, 7, 50, 1000])
def test_space_timesteps_keeps_ends_and_count(n_steps):
    use = space_timesteps(1000, n_steps)
    assert len(use) == n_steps
    assert use[-1] == 999
    if n_steps > 1:
        assert use[0] == 0
    assert use == sorted(set(use))


@pytest.mark.parametrize("n_steps", [1, 2, 3, 7, 50, 600, 1000])
def test_quadratic_spacing_keeps_ends_and_count_and_crowds_at_low_noise(n_steps):
    use = space_timesteps(1000, n_steps, "quadratic")
    assert len(use) == n_steps and use[-1] == 999 and use == sorted(set(use))
    if n_steps > 1:
        assert use[0] == 0
    if 2 < n_steps < 600:  # below the middle step: more than half of them
        assert sum(t < 500 for t in use) > n_steps / 2
    assert space_timesteps(1000, 3, "quadratic") == [0, 250, 999]
    assert GaussianDiffusion(1000).respace(3, "quadratic").timestep_map.tolist() == [0, 250, 999]
    with pytest.raises(ValueError, match="spacing must be one of"):
        space_timesteps(1000, 3, "cubic")


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_respaced_process_reproduces_alphas_cumprod_at_kept_steps(schedule):
    d = GaussianDiffusion(1000, schedule)
    r = d.respace(50)
    use = space_timesteps(1000, 50)
    assert r.num_timesteps == 50
    torch.testing.assert_close(r.alphas_cumprod, d.alphas_cumprod[use], rtol=1e-8, atol=0)
    assert r.timestep_map.tolist() == use
    # respacing twice composes the maps back to the original training steps
    rr = r.respace(10)
    torch.testing.assert_close(rr.alphas_cumprod, d.alphas_cumprod[rr.timestep_map], rtol=1e-8, atol=0)
    assert set(rr.timestep_map.tolist()) <= set(use)
