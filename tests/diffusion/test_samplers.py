from __future__ import annotations

from itertools import pairwise

import pytest
import torch

from tabdiff.diffusion import GaussianDiffusion, inpaint_ddim, repaint, repaint_schedule, sample_ancestral, sample_ddim
from tabdiff.diffusion.analytic import COV, gaussian_conditional, optimal_eps_model

N = 4000  # samples for moment checks: the standard error of a covariance entry is about 0.02


def test_repaint_schedule_hand_checked_small_case():
    # t_T=20, jump_length=5, jump_n_sample=3: jump points 0, 5, 10, each jumped from twice
    down = lambda a, b: list(range(a, b - 1, -1))  # noqa: E731
    up = lambda a, b: list(range(a, b + 1))  # noqa: E731
    expected = (
        down(19, 10) + up(11, 15) + down(14, 10) + up(11, 15) + down(14, 10)
        + down(9, 5) + up(6, 10) + down(9, 5) + up(6, 10) + down(9, 5)
        + down(4, 0) + up(1, 5) + down(4, 0) + up(1, 5) + down(4, 0)
        + [-1]
    )  # fmt: skip
    assert repaint_schedule(20, 5, 3) == expected


def test_repaint_schedule_reference_case():
    times = repaint_schedule(250, 10, 10)
    assert len(times) == 4571
    assert times[:20] == list(range(249, 229, -1))
    assert times[20:30] == list(range(231, 241))
    assert times[30:32] == [239, 238]
    assert times[-1] == -1 and times[-2] == 0
    steps = [b - a for a, b in pairwise(times)]
    assert set(steps) == {-1, 1}


def test_repaint_schedule_without_resampling_is_plain_descent():
    assert repaint_schedule(7, 3, 1) == [6, 5, 4, 3, 2, 1, 0, -1]
    with pytest.raises(ValueError, match="jump_n_sample"):
        repaint_schedule(10, 2, 0)


def _cov_error(x: torch.Tensor, cov: torch.Tensor) -> float:
    return (torch.cov(x.double().T) - cov).abs().max().item()


@pytest.mark.parametrize("learn_variance", [False, True])
def test_ancestral_and_ddim_sample_the_data_covariance(learn_variance):
    d = GaussianDiffusion(250, learn_variance=learn_variance)
    model_fn = optimal_eps_model(d, learn_variance=learn_variance)
    x = sample_ancestral(model_fn, d, (N, 4), generator=torch.Generator().manual_seed(0))
    assert _cov_error(x, COV) < 0.1
    assert x.mean(0).abs().max() < 0.06
    for eta in (0.0, 1.0):
        x = sample_ddim(model_fn, d, (N, 4), eta=eta, generator=torch.Generator().manual_seed(0))
        assert _cov_error(x, COV) < 0.1


def test_ddim_with_eta_zero_is_deterministic_given_noise_and_respacing_works():
    d = GaussianDiffusion(1000)
    r = d.respace(50)
    model_fn = optimal_eps_model(d)
    seen: set[int] = set()

    def recording(x, t):
        seen.update(t.tolist())
        return model_fn(x, t)

    a = sample_ddim(recording, r, (N, 4), generator=torch.Generator().manual_seed(3))
    b = sample_ddim(model_fn, r, (N, 4), generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert seen == set(r.timestep_map.tolist())  # the model is called with training timesteps
    assert _cov_error(a, COV) < 0.12


KNOWN, UNKNOWN = [1, 3], [0, 2]
X_B = torch.tensor([1.0, -0.5], dtype=torch.float64)


def _conditional_errors(x: torch.Tensor) -> tuple[float, float]:
    mean, cov = gaussian_conditional(COV, KNOWN, UNKNOWN, X_B)
    xa = x[:, UNKNOWN].double()
    return (xa.mean(0) - mean).abs().max().item(), (torch.cov(xa.T) - cov).abs().max().item()


def _known_batch() -> tuple[torch.Tensor, torch.Tensor]:
    x_known = torch.full((N, 4), float("nan"))
    x_known[:, KNOWN] = X_B.float()
    known_mask = torch.zeros(N, 4, dtype=torch.bool)
    known_mask[:, KNOWN] = True
    return x_known, known_mask


def test_repaint_samples_the_exact_gaussian_conditional():
    d = GaussianDiffusion(250)
    x_known, known_mask = _known_batch()
    x = repaint(optimal_eps_model(d), d, x_known, known_mask, jump_length=10, jump_n_sample=10,
                generator=torch.Generator().manual_seed(2))  # fmt: skip
    assert torch.equal(x[:, KNOWN], x_known[:, KNOWN])
    mean_err, cov_err = _conditional_errors(x)
    assert mean_err < 0.06
    assert cov_err < 0.06
    # without resampling, replacement alone does not harmonize: RePaint's point (its Fig. 3)
    x1 = repaint(optimal_eps_model(d), d, x_known, known_mask, jump_length=10, jump_n_sample=1,
                 generator=torch.Generator().manual_seed(2))  # fmt: skip
    assert _conditional_errors(x1)[0] > 3 * mean_err


def test_repaint_runs_on_a_respaced_diffusion_with_training_timesteps():
    d = GaussianDiffusion(1000, learn_variance=True)
    r = d.respace(50)
    model_fn = optimal_eps_model(d, learn_variance=True)
    seen: set[int] = set()

    def recording(x, t):
        seen.update(t.tolist())
        return model_fn(x, t)

    x_known, known_mask = _known_batch()
    x = repaint(recording, r, x_known, known_mask, jump_length=5, jump_n_sample=5,
                generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert seen == set(r.timestep_map.tolist())
    assert torch.equal(x[:, KNOWN], x_known[:, KNOWN])
    mean_err, cov_err = _conditional_errors(x)
    assert mean_err < 0.2 and cov_err < 0.1


def _linear_model(channels: int, learn_variance: bool):
    torch.manual_seed(0)
    net = torch.nn.Linear(channels, 2 * channels if learn_variance else channels)
    return lambda x, t: torch.tanh(net(x))


@pytest.mark.parametrize("case", ["random", "all_known", "none_known", "per_table", "channel_broadcast"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_repaint_keeps_known_cells_bit_identical(case, dtype):
    d = GaussianDiffusion(20, learn_variance=True).respace(8)
    g = torch.Generator().manual_seed(1)
    x_known = (torch.randn(3, 6, 5, 2, generator=g) * 7).to(dtype)
    if case == "random":
        known_mask = torch.rand(3, 6, 5, 2, generator=g) > 0.5
    elif case == "all_known":
        known_mask = torch.ones(3, 6, 5, 2, dtype=torch.bool)
    elif case == "none_known":
        known_mask = torch.zeros(3, 6, 5, 2, dtype=torch.bool)
    elif case == "per_table":
        known_mask = torch.zeros(3, 6, 5, 2, dtype=torch.bool)
        known_mask[0, :2], known_mask[1, :, :3], known_mask[2, 5, 4] = True, True, True
    else:  # a cell-level mask broadcast over the channel axis
        known_mask = torch.rand(3, 6, 5, 1, generator=g) > 0.3
    x_in = torch.where(known_mask, x_known, torch.full_like(x_known, float("nan")))
    before = x_in.clone()
    x = repaint(_linear_model(2, True), d, x_in, known_mask, jump_length=2, jump_n_sample=3, generator=g)
    assert x.shape == x_known.shape and x.dtype == dtype
    full_mask = known_mask.expand_as(x_known)
    assert torch.equal(x[full_mask], x_known[full_mask])
    assert torch.isfinite(x).all()
    assert torch.equal(x_in.isnan(), before.isnan()) and torch.equal(x_in[~x_in.isnan()], before[~before.isnan()])


def test_repaint_without_the_last_call_returns_the_sample_at_the_lowest_noise_level():
    """denoise_last=False skips the call at step 0, and only it: the unknown cells are the state that call would
    have denoised, scaled by 1 / sqrt(abar_0); known cells stay bit-identical; a one-step schedule keeps its call."""
    d = GaussianDiffusion(20, learn_variance=True).respace(4)
    x_known = torch.randn(2, 5, 3, 2, generator=torch.Generator().manual_seed(0))
    known_mask = torch.rand(2, 5, 3, 2, generator=torch.Generator().manual_seed(1)) > 0.5
    model_fn = _linear_model(2, True)
    calls: dict[bool, list[tuple[int, torch.Tensor]]] = {True: [], False: []}

    def run(denoise_last: bool, diffusion: GaussianDiffusion = d) -> torch.Tensor:
        def recording(x, t):
            calls[denoise_last].append((int(t[0]), x.clone()))
            return model_fn(x, t)

        return repaint(recording, diffusion, x_known, known_mask, jump_length=10, jump_n_sample=1,
                       denoise_last=denoise_last, generator=torch.Generator().manual_seed(2))  # fmt: skip

    full, skipped = run(True), run(False)
    steps = [t for t, _ in calls[True]]
    assert [t for t, _ in calls[False]] == steps[:-1] and steps[-1] == int(d.timestep_map[0])
    last_state = calls[True][-1][1]
    abar_0 = d.alphas_cumprod[0].float()
    torch.testing.assert_close(skipped[~known_mask], last_state[~known_mask] / abar_0.sqrt())
    assert torch.equal(skipped[known_mask], x_known[known_mask]) and not torch.equal(skipped, full)
    calls[False].clear()
    one = run(False, GaussianDiffusion(20, learn_variance=True).respace(1))
    assert len(calls[False]) == 1 and torch.isfinite(one).all()


def test_repaint_same_seed_same_output_and_runs_under_autocast():
    d = GaussianDiffusion(30, learn_variance=True)
    x_known = torch.randn(2, 4, 3, 2)
    known_mask = torch.rand(2, 4, 3, 2, generator=torch.Generator().manual_seed(0)) > 0.5
    model_fn = _linear_model(2, True)
    a = repaint(
        model_fn,
        d,
        x_known,
        known_mask,
        jump_length=3,
        jump_n_sample=2,
        generator=torch.Generator().manual_seed(5),
    )
    b = repaint(
        model_fn,
        d,
        x_known,
        known_mask,
        jump_length=3,
        jump_n_sample=2,
        generator=torch.Generator().manual_seed(5),
    )
    assert torch.equal(a, b)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        c = repaint(
            model_fn,
            d,
            x_known,
            known_mask,
            jump_length=3,
            jump_n_sample=2,
            generator=torch.Generator().manual_seed(5),
        )
    assert c.dtype == torch.float32 and torch.isfinite(c).all()
    assert torch.equal(c[known_mask], x_known[known_mask])


def test_ddim_with_eta_one_is_ancestral_sampling_with_posterior_variance():
    # DDIM eq. 16: eta = 1 gives sigma_t^2 = beta~_t, the posterior variance, and the same mean as DDPM
    d = GaussianDiffusion(100, fixed_variance="small")
    model_fn = optimal_eps_model(d)
    a = sample_ancestral(model_fn, d, (64, 4), generator=torch.Generator().manual_seed(7))
    b = sample_ddim(model_fn, d, (64, 4), eta=1.0, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_inpaint_ddim_in_one_step_returns_the_x0_prediction_and_keeps_known_cells():
    d = GaussianDiffusion(100, prediction="x0").respace(1)
    x_known = torch.randn(2, 5, 3)
    known_mask = torch.rand(2, 5, 3, generator=torch.Generator().manual_seed(0)) > 0.5
    target = torch.full_like(x_known, 0.25)
    x = inpaint_ddim(lambda x_t, t: target, d, x_known, known_mask, generator=torch.Generator().manual_seed(1))
    assert torch.equal(x[known_mask], x_known[known_mask])
    torch.testing.assert_close(x[~known_mask], target[~known_mask])
