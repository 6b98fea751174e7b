"""The three simple generator families, batched: latent-factor, Gaussian-mixture and GP tables in torch.

Each function draws `n` independent tables of one shape `(rows, cols)` with tensor operations; every
per-table choice of the numpy reference (`tabdiff/prior/latent.py`, `mixture.py`, `gp.py`) is drawn
per table here, and variable sizes (ranks, component counts, input dimensions) are padded to their
maximum with the unused part zeroed, so one tensor holds the whole batch. Same distribution as the
reference, not the same numbers.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

import tabdiff.prior.batched.ops as ops
from tabdiff.prior.gp import GPConfig
from tabdiff.prior.latent import LatentFactorConfig
from tabdiff.prior.mixture import MixtureConfig

LATENT_DISTS = ("gaussian", "laplace", "student_t", "spike_slab", "dirichlet")
WARPS = ("tanh", "sigmoid", "relu2", "cubic", "fourier")
MAX_FOURIER_FEATURES = 8  # latent.warp draws 2..8 features; pad to 8 with zero amplitude

# GP random-feature chunks hold at most this many times the batch's cells, or GP_MIN_CHUNK entries if more
GP_CHUNK_TABLES = 4
GP_MIN_CHUNK = 2**20


def _pick(g: torch.Generator, options: tuple[str, ...], names: tuple[str, ...], shape: tuple[int, ...]) -> torch.Tensor:
    """Uniform choice among `options` (draws.pick), as indices into the full list `names`."""
    codes = torch.tensor([names.index(o) for o in options], device=g.device)
    return codes[ops.randint(g, 0, len(options) - 1, shape)]


def _latent_factors(
    g: torch.Generator, cfg: LatentFactorConfig, rank: torch.Tensor, n_rows: int, n_cols: int
) -> torch.Tensor:
    """U's rows then V's rows, (n, rows + cols, r_max), each block with its own distribution (latent.latent_matrix).

    Both blocks share one set of draws: an entry only ever uses the draw of the one distribution its block
    picked, so reusing `z` / `u` across distributions keeps every entry's law and independence.
    """
    n, m = rank.shape[0], n_rows + n_cols
    r_max = min(cfg.max_rank, n_cols)
    dev = g.device
    part = (torch.arange(m, device=dev) >= n_rows).long()  # (m,) 0 = a row of U, 1 = a row of V
    kind = _pick(g, cfg.latent_dists, LATENT_DISTS, (n, 2))[:, part, None]  # (n, m, 1)
    # per block: student-t df ~ U(2, 10) and Dirichlet concentration ~ U(0.2, 2), (n, 2, 2)
    params = ops.uniform(g, torch.tensor([2.0, 0.2], device=dev), torch.tensor([10.0, 2.0], device=dev), (n, 2, 2))
    df, conc = params[:, part, 0, None], params[:, part, 1, None]  # (n, m, 1)
    z = torch.randn((n, m, r_max), generator=g, device=dev)
    u = torch.rand((n, m, r_max), generator=g, device=dev)
    t_kind, dir_kind = LATENT_DISTS.index("student_t"), LATENT_DISTS.index("dirichlet")

    laplace = -torch.sign(u - 0.5) * torch.log1p(-(2 * (u - 0.5).abs()).clamp(max=1 - 1e-7))  # Laplace(0, 1)
    out = torch.where(kind == LATENT_DISTS.index("laplace"), laplace, z)
    out = torch.where(kind == LATENT_DISTS.index("spike_slab"), (u < 0.5) * 3.0 * z, out)
    is_t = (kind == t_kind).expand(n, m, r_max)
    if bool(is_t.any()):  # drawn only where a block picked the t (Bailey's polar method, no gamma)
        out = out.masked_scatter(is_t, ops.student_t(g, df.expand(n, m, r_max)[is_t], (int(is_t.sum()),)))
    is_dir = (kind == dir_kind).expand(n, m, r_max + 1)
    if bool(is_dir.any()):
        # Dirichlet over rank + 1 components from Gamma(alpha) draws (made only where needed, 1 elsewhere); the
        # last component dropped and the rest centred (latent_matrix)
        gam = torch.ones((n, m, r_max + 1), device=dev).masked_scatter(
            is_dir, ops.gamma(g, conc.expand(n, m, r_max + 1)[is_dir])
        )
        used = torch.arange(r_max + 1, device=dev) <= rank[:, None, None]  # (n, 1, r_max + 1)
        gam = gam * used
        mix = gam[..., :r_max] / gam.sum(dim=-1, keepdim=True).clamp(min=1e-30)
        out = torch.where(kind == dir_kind, mix - 1.0 / (rank[:, None, None] + 1), out)
    return out * (torch.arange(r_max, device=dev) < rank[:, None, None])  # zero the padded factors


def _warp(g: torch.Generator, cfg: LatentFactorConfig, y: torch.Tensor) -> torch.Tensor:
    """latent.warp with probability warp_prob per table, then standardised; y (n, rows, cols) standardised.

    Each warp runs on the tables that picked it only (and the fourier features are (rows, cols, 8) per table).
    """
    n, dev = y.shape[0], g.device
    kind = torch.where(ops.bernoulli(g, cfg.warp_prob, (n,)), _pick(g, cfg.warps, WARPS, (n,)), -1)
    f = MAX_FOURIER_FEATURES
    normal = torch.randn((n, 4 + 2 * f), generator=g, device=dev)  # shift, cubic coefficients, fourier w and amp
    unit = torch.rand((n, 1 + f), generator=g, device=dev)  # reach, fourier phases
    n_feat = ops.randint(g, 2, f, (n, 1))
    amp = normal[:, 4 + f :] * (torch.arange(f, device=dev) < n_feat)  # (n, 8), zero past each table's count
    reach = 0.5 + 1.5 * unit[:, 0, None, None]  # (n, 1, 1) how far into the nonlinearity the signal reaches
    present = torch.bincount(kind + 1, minlength=len(WARPS) + 1).tolist()[1:]
    if not any(present):
        return y
    out = y.clone()
    for code, name in enumerate(WARPS):
        if not present[code]:
            continue
        sel = torch.nonzero(kind == code)[:, 0]  # (k,)
        ys, p = y[sel] * reach[sel], normal[sel, :, None, None]  # (k, rows, cols), (k, 20, 1, 1)
        if name == "tanh":
            w_y = torch.tanh(ys)
        elif name == "sigmoid":
            w_y = torch.sigmoid(ys + p[:, 0])
        elif name == "relu2":
            w_y = torch.relu(ys + 0.5 * p[:, 0]).square()
        elif name == "cubic":  # Horner form of a0 y + a1 y^2 + a2 y^3
            w_y = ((p[:, 3] * ys + p[:, 2]) * ys + p[:, 1]) * ys
        else:  # fourier: sum_f amp_f cos(w_f y + b_f), a random smooth 1-D function
            w, phase = normal[sel, None, None, 4 : 4 + f], 2 * math.pi * unit[sel, None, None, 1:]  # (k, 1, 1, 8)
            w_y = (torch.cos(ys[..., None] * w + phase) @ amp[sel, None, :, None]).squeeze(-1)
        out[sel] = w_y
    warped = torch.nonzero(kind >= 0)[:, 0]
    out[warped] = ops.standardize(out[warped])
    return out


def _beta_warp(g: torch.Generator, cfg: LatentFactorConfig, y: torch.Tensor) -> torch.Tensor:
    """latent.beta_cdf_warp on a random half of the columns of a beta_warp_prob share of tables, then standardised.

    torch has no regularized incomplete beta function, so the Beta(a, b) CDF is replaced by the Kumaraswamy(a, b)
    CDF 1 - (1 - u^a)^b with the same a, b ~ U(0.5, 5.5): a closed-form distribution on [0, 1] with the same
    family of shapes (skewed either way, sharpened or flattened), not the same curve. Beta(a, b) mirrored is
    Beta(b, a), so with iid a, b the reference's warp is mirror-symmetric; the Kumaraswamy is not (it skews
    columns right on average), so half the columns take the mirrored CDF 1 - K(1 - u) = (1 - (1 - u)^a)^b.
    """
    n, _, n_cols = y.shape
    sel = torch.nonzero(ops.bernoulli(g, cfg.beta_warp_prob, (n,)))[:, 0]  # (k,) tables warped
    on = ops.bernoulli(g, 0.5, (n, 1, n_cols))[sel]  # (k, 1, cols)
    mirror = ops.bernoulli(g, 0.5, (n, 1, n_cols))[sel]
    ab = ops.uniform(g, 0.5, 5.5, (n, 2, n_cols))[sel]
    if not len(sel):
        return y
    x = y[sel]  # (k, rows, cols)
    lo, hi = x.amin(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)
    u = (x - lo) / (hi - lo).clamp(min=1e-12)
    k = (1 - torch.where(mirror, 1 - u, u) ** ab[:, :1]) ** ab[:, 1:]
    x = torch.where(on & (hi - lo >= 1e-12), torch.where(mirror, k, 1 - k), x)
    y = y.clone()
    y[sel] = ops.standardize(x)
    return y


def latent_factor(g: torch.Generator, cfg: LatentFactorConfig, n: int, n_rows: int, n_cols: int) -> torch.Tensor:
    """n tables Y = f(U V^T) + noise as LatentFactorPrior.sample draws them, (n, rows, cols)."""
    rank = ops.randint(g, 1, min(cfg.max_rank, n_cols), (n,))  # (n,)
    lat = _latent_factors(g, cfg, rank, n_rows, n_cols)  # (n, rows + cols, r_max)
    y = ops.standardize(lat[:, :n_rows] @ lat[:, n_rows:].transpose(1, 2))  # (n, rows, cols)
    y = _beta_warp(g, cfg, _warp(g, cfg, y))
    std = ops.log_uniform(g, *cfg.noise_range, (n, 1, 1))
    return y + std * torch.randn(y.shape, generator=g, device=g.device)


def mixture(g: torch.Generator, cfg: MixtureConfig, n: int, n_rows: int, n_cols: int) -> torch.Tensor:
    """n tables x = mu_z + A_z e + D_z eps as GaussianMixturePrior.sample draws them, standardised, (n, rows, cols)."""
    dev, k_max = g.device, cfg.max_components
    k = ops.randint(g, 1, k_max, (n, 1))  # (n, 1) components per table
    comp_on = torch.arange(k_max, device=dev) < k  # (n, K)
    conc = ops.uniform(g, *cfg.concentration_range, (n, 1))
    # Dirichlet(conc * 1_k) weights via normalised gammas; unused components get weight 0, and the tiny floor
    # keeps a positive sum should every gamma underflow
    weights = ops.gamma(g, conc.expand(n, k_max).contiguous()) * comp_on + 1e-20 * comp_on  # (n, K)
    z = torch.multinomial(weights, n_rows, replacement=True, generator=g)  # (n, rows); multinomial normalises
    means = ops.uniform(g, *cfg.separation_range, (n, 1, 1)) * torch.randn((n, k_max, n_cols), generator=g, device=dev)
    r_max = max(1, int(n_cols * cfg.max_rank_frac))
    rank = ops.randint(g, 1, r_max, (n, 1, 1, 1))
    factor_on = torch.arange(r_max, device=dev) < rank  # (n, 1, 1, r)
    a = (
        torch.randn((n, k_max, n_cols, r_max), generator=g, device=dev)
        * factor_on
        / torch.sqrt(rank.to(torch.get_default_dtype()))
    )
    diag = ops.uniform(g, 0.05, 0.5, (n, k_max, n_cols))  # (n, K, cols)
    e = torch.randn((n, n_rows, r_max), generator=g, device=dev)  # (n, rows, r)
    # A_z e and mu_z as one matmul: row i's design is [onehot(z_i) (x) e_i, onehot(z_i)], (n, rows, K * (r + 1)),
    # at most ~K times the table (gathering A_z per row would be rows * cols * r)
    onehot = F.one_hot(z, k_max).to(e.dtype)  # (n, rows, K)
    design = torch.cat([(onehot[..., None] * e[:, :, None, :]).flatten(2), onehot], dim=2)
    loadings = torch.cat([a.transpose(2, 3).flatten(1, 2), means], dim=1)  # (n, K * (r + 1), cols)
    x = design @ loadings + (onehot @ diag) * torch.randn((n, n_rows, n_cols), generator=g, device=dev)
    return ops.standardize(x)


def gp(g: torch.Generator, cfg: GPConfig, n: int, n_rows: int, n_cols: int) -> torch.Tensor:
    """n tables (n, rows, cols) of columns f_j(t) + noise, f_j ~ GP(0, RBF) via random Fourier features (GPPrior).

    Features are summed with a matmul over a (n, cols, features, rows) layout, and in chunks of features so the
    cos tensor stays a few times the batch (64 features would be 64 times it).
    """
    dev, d_max, n_feat = g.device, cfg.max_input_dim, cfg.n_features
    d = ops.randint(g, 1, d_max, (n, 1, 1, 1))  # hidden input dimension per table
    t = torch.randn((n, 1, d_max, n_rows), generator=g, device=dev)  # (n, 1, d_max, rows) hidden inputs
    t = torch.cat([t, torch.ones((n, 1, 1, n_rows), device=dev)], dim=2)  # a constant input carries the phase
    length = ops.log_uniform(g, *cfg.length_scale_range, (n, n_cols, 1, 1))  # one per column
    # RBF spectral density N(0, 1 / length^2); unused input dims get frequency 0 so they drop out of t . omega
    omega = torch.randn((n, n_cols, n_feat, d_max), generator=g, device=dev)  # (n, cols, D, d_max)
    omega = omega * (torch.arange(d_max, device=dev) < d) / length
    phase = ops.uniform(g, 0.0, 2 * math.pi, (n, n_cols, n_feat, 1))
    freq = torch.cat([omega, phase], dim=3)  # (n, cols, D, d_max + 1)
    amp = torch.randn((n, n_cols, 1, n_feat), generator=g, device=dev)
    # features in chunks so the (n, cols, chunk, rows) tensor stays a few times the batch
    cells = max(1, n * n_rows * n_cols)
    chunk = min(n_feat, max(1, max(GP_MIN_CHUNK, GP_CHUNK_TABLES * cells) // cells))
    y = None
    for start in range(0, n_feat, chunk):
        sl = slice(start, start + chunk)
        part = amp[..., sl] @ torch.cos(freq[:, :, sl] @ t)  # (n, cols, 1, chunk) @ (n, cols, chunk, rows)
        y = part if y is None else y + part
    y = ops.standardize(y.squeeze(2).transpose(1, 2))  # (n, rows, cols)
    std = ops.log_uniform(g, *cfg.noise_range, (n, 1, 1))
    return y + std * torch.randn(y.shape, generator=g, device=g.device)
