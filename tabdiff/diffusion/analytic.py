"""The closed-form optimal denoiser of Gaussian data x ~ N(0, S).

For such data the best noise predictor is known exactly, so the samplers can be checked against the true
(conditional) distribution without any trained network: tests and `scripts/analytic_check.py` use it.
"""

from __future__ import annotations

import torch

from tabdiff.diffusion import GaussianDiffusion

# a fixed correlated 4x4 covariance S = A A^T, the reference case of the tests
A = torch.tensor(
    [[1.0, 0.0, 0.0, 0.0], [0.8, 0.6, 0.0, 0.0], [0.5, 0.3, 0.6, 0.0], [-0.4, 0.2, 0.3, 0.7]],
    dtype=torch.float64,
)
COV = A @ A.T


def gaussian_conditional(cov: torch.Tensor, known: list[int], unknown: list[int], x_b: torch.Tensor):
    """Mean and covariance of x_unknown | x_known = x_b for x ~ N(0, cov)."""
    s_ab, s_bb, s_aa = cov[unknown][:, known], cov[known][:, known], cov[unknown][:, unknown]
    mean = s_ab @ torch.linalg.solve(s_bb, x_b)
    return mean, s_aa - s_ab @ torch.linalg.solve(s_bb, s_ab.T)


def optimal_eps_model(
    diffusion: GaussianDiffusion,
    cov: torch.Tensor = COV,
    *,
    learn_variance: bool = False,
    var_value: float = -1.0,
):
    """eps*(x_t, t) = sqrt(1 - abar_t) (abar_t S + (1 - abar_t) I)^{-1} x_t, t in `diffusion`'s (training) steps.

    With learn_variance, the variance channels hold `var_value` (-1 = the posterior variance).
    """
    abar = diffusion.alphas_cumprod
    eye = torch.eye(cov.shape[0], dtype=torch.float64)
    m = abar[:, None, None] * cov + (1 - abar)[:, None, None] * eye
    weights = ((1 - abar).sqrt()[:, None, None] * torch.linalg.inv(m)).float()  # (T, d, d)

    def model_fn(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        eps = torch.einsum("bij,bj->bi", weights.to(x_t.device)[t], x_t.float())
        if learn_variance:
            eps = torch.cat([eps, torch.full_like(eps, var_value)], dim=-1)
        return eps

    return model_fn
