from __future__ import annotations

import math

import pytest
import torch

from tabdiff.diffusion import GaussianDiffusion


def _t(value: int, batch: int = 1) -> torch.Tensor:
    return torch.full((batch,), value, dtype=torch.long)


@pytest.mark.parametrize("step", [0, 10, 500, 999])
def test_q_sample_matches_formula_on_many_samples(step):
    d = GaussianDiffusion(1000)
    torch.manual_seed(0)
    x0 = torch.tensor([1.5, -0.7, 0.0])
    n = 200_000
    xt = d.q_sample(x0.expand(n, 3), _t(step, n))
    abar = d.alphas_cumprod[step].item()
    torch.testing.assert_close(xt.mean(0), math.sqrt(abar) * x0, atol=0.01, rtol=0)
    torch.testing.assert_close(xt.var(0), torch.full((3,), 1 - abar), atol=0.01, rtol=0)
    mean, var = d.q_mean_variance(x0[None], _t(step))
    torch.testing.assert_close(mean[0], math.sqrt(abar) * x0)
    torch.testing.assert_close(var[0], torch.full((3,), 1 - abar))


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("step", [1, 2, 100, 999])
def test_posterior_matches_gaussian_conditioning(schedule, step):
    """q(x_{t-1} | x_t, x_0) from the joint Gaussian of (x_{t-1}, x_t) given x_0, in float64."""
    d = GaussianDiffusion(1000, schedule)
    x0 = torch.tensor([[0.3, -1.2]], dtype=torch.float64)
    xt = torch.tensor([[1.1, 0.4]], dtype=torch.float64)
    abar, abar_prev, beta = d.alphas_cumprod[step], d.alphas_cumprod[step - 1], d.betas[step]
    # x_{t-1} = sqrt(abar_prev) x0 + sqrt(1-abar_prev) e1 ;  x_t = sqrt(1-beta) x_{t-1} + sqrt(beta) e2
    cov_prev_t = (1 - beta).sqrt() * (1 - abar_prev)
    var_t = 1 - abar
    mean = abar_prev.sqrt() * x0 + cov_prev_t / var_t * (xt - abar.sqrt() * x0)
    var = (1 - abar_prev) - cov_prev_t**2 / var_t
    got_mean, got_var, got_log_var = d.q_posterior_mean_variance(x0, xt, _t(step))
    torch.testing.assert_close(got_mean, mean, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(got_var, var.expand(1, 2), rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(got_log_var, var.log().expand(1, 2), rtol=1e-10, atol=1e-12)


def test_posterior_at_first_step_returns_x0():
    d = GaussianDiffusion(100)
    x0, xt = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    mean, var, _ = d.q_posterior_mean_variance(x0, xt, _t(0, 3))
    torch.testing.assert_close(mean, x0)
    assert (var == 0).all()


def _outputs_for(
    prediction: str, d: GaussianDiffusion, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    eps = d.predict_eps_from_xstart(xt, t, x0)
    if prediction == "eps":
        return eps
    if prediction == "x0":
        return x0
    return d.training_target(x0, xt, t, eps)


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_parametrizations_agree_on_the_reverse_step(prediction):
    base = GaussianDiffusion(1000, prediction="eps")
    d = GaussianDiffusion(1000, prediction=prediction)
    torch.manual_seed(0)
    x0, xt, t = torch.randn(5, 3), torch.randn(5, 3), torch.tensor([0, 1, 10, 500, 999])
    ref = base.p_mean_variance(_outputs_for("eps", base, x0, xt, t), xt, t)
    got = d.p_mean_variance(_outputs_for(prediction, d, x0, xt, t), xt, t)
    for key in ("mean", "pred_xstart", "pred_eps", "log_variance"):
        torch.testing.assert_close(got[key], ref[key], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got["pred_xstart"], x0, rtol=1e-4, atol=1e-4)


def test_learned_variance_interpolates_between_posterior_and_beta():
    d = GaussianDiffusion(1000, learn_variance=True)
    xt, t = torch.randn(3, 2), torch.tensor([0, 5, 900])
    lo = d.p_mean_variance(torch.cat([torch.zeros(3, 2), -torch.ones(3, 2)], -1), xt, t)["log_variance"]
    hi = d.p_mean_variance(torch.cat([torch.zeros(3, 2), torch.ones(3, 2)], -1), xt, t)["log_variance"]
    mid = d.p_mean_variance(torch.zeros(3, 4), xt, t)["log_variance"]
    torch.testing.assert_close(lo, d.posterior_log_variance_clipped[t].float()[:, None].expand(3, 2))
    torch.testing.assert_close(hi, d.betas[t].log().float()[:, None].expand(3, 2))
    torch.testing.assert_close(mid, (lo + hi) / 2)


def test_sampling_keeps_a_learned_variance_within_its_bounds_and_training_sees_it_unclamped():
    """A variance output outside [-1, 1] extrapolates past beta~_t and beta_t; sampling (clip=True) clamps it
    to the bounds, the training loss (clip=False) keeps the raw interpolation so its gradient is untouched."""
    d = GaussianDiffusion(1000, learn_variance=True).respace(100)
    xt, t = torch.randn(3, 2), torch.tensor([1, 5, 90])
    small = d.posterior_log_variance_clipped[t].float()[:, None].expand(3, 2)
    large = d.betas[t].log().float()[:, None].expand(3, 2)
    for v, bound in ((25.0, large), (-25.0, small)):
        out = torch.cat([torch.zeros(3, 2), torch.full((3, 2), v)], -1)
        torch.testing.assert_close(d.p_mean_variance(out, xt, t)["log_variance"], bound)
        frac = (v + 1) / 2
        raw = d.p_mean_variance(out, xt, t, clip=False)["log_variance"]
        torch.testing.assert_close(raw, frac * large + (1 - frac) * small)
    # at t = 1 of 100 steps the bounds are far apart: unclamped, v = 25 means a variance above e^30
    assert (13.0 * large - 12.0 * small)[0, 0] > 30.0


def test_model_output_shape_is_checked():
    d = GaussianDiffusion(10, learn_variance=True)
    with pytest.raises(ValueError, match="learn_variance=True"):
        d.p_mean_variance(torch.zeros(2, 3), torch.zeros(2, 3), _t(1, 2))


def test_vb_term_vanishes_for_the_true_posterior_and_is_positive_otherwise():
    d = GaussianDiffusion(100, learn_variance=True, prediction="x0")
    torch.manual_seed(0)
    x0 = torch.randn(4, 6, dtype=torch.float64)
    t = torch.tensor([1, 5, 50, 99])
    xt = d.q_sample(x0, t)
    exact = torch.cat([x0, -torch.ones_like(x0)], -1)  # true x0 and the posterior variance
    torch.testing.assert_close(d.vb_terms_bpd(exact, x0, xt, t), torch.zeros_like(x0), atol=1e-9, rtol=0)
    off = torch.cat([x0 + 0.1, torch.zeros_like(x0)], -1)
    assert (d.vb_terms_bpd(off, x0, xt, t) > 0).all()
    # at t = 0 it is the Gaussian negative log-likelihood of x0 in bits
    t0 = torch.zeros(4, dtype=torch.long)
    out = d.p_mean_variance(exact, d.q_sample(x0, t0), t0, clip=False)
    nll = 0.5 * (math.log(2 * math.pi) + out["log_variance"] + (x0 - out["mean"]) ** 2 / out["variance"]) / math.log(2)
    torch.testing.assert_close(d.vb_terms_bpd(exact, x0, d.q_sample(x0, t0), t0), nll)


@pytest.mark.parametrize("learn_variance", [False, True])
def test_training_loss_counts_only_cells_in_loss_mask(learn_variance):
    d = GaussianDiffusion(100, learn_variance=learn_variance)
    torch.manual_seed(0)
    x0 = torch.randn(3, 5, 4, 2)
    loss_mask = torch.rand(3, 5, 4, 1) > 0.4
    loss_mask[2] = False  # a table with no loss cell contributes 0, not NaN
    net = torch.nn.Linear(2, 4 if learn_variance else 2)

    def model_fn(x, t):
        return net(x) * (1 + t.float()[:, None, None, None] / 100)

    t, noise = torch.tensor([3, 50, 99]), torch.randn_like(x0)
    clean = d.training_losses(model_fn, x0, t, noise=noise, loss_mask=loss_mask)
    # garbage outside the loss mask (even NaN in a cell whose truth is unknown) changes nothing
    dirty_x0 = torch.where(loss_mask.expand_as(x0), x0, torch.full_like(x0, float("nan")))
    dirty = d.training_losses(model_fn, dirty_x0, t, noise=noise, loss_mask=loss_mask)
    for key in clean:
        assert torch.isfinite(clean[key]).all()
        torch.testing.assert_close(dirty[key], clean[key])
    assert clean["loss"][2] == 0
    # the mse term is the masked mean of (eps - pred)^2, computed by hand
    pred = model_fn(d.q_sample(x0, t, noise), t)[..., :2]
    m = loss_mask.expand_as(x0)
    by_hand = torch.stack([((noise[i] - pred[i])[m[i]] ** 2).mean() for i in range(2)])
    torch.testing.assert_close(clean["mse"][:2], by_hand)
    if learn_variance:
        assert set(clean) == {"mse", "vb", "loss"}
        loss = clean["loss"].sum()
        loss.backward()
        assert net.weight.grad is not None and net.weight.grad.abs().sum() > 0


def test_config_rebuilds_the_process_and_respaced_views_refuse():
    d = GaussianDiffusion(300, "cosine", learn_variance=True, prediction="v", clip_x0=5.0)
    again = GaussianDiffusion(**d.config())
    assert torch.equal(again.betas, d.betas) and again.config() == d.config()
    with pytest.raises(ValueError, match="explicit betas"):
        d.respace(10).config()
