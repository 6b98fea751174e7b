"""Batched random draws and column arithmetic in torch: the building blocks of the batched prior.

Every function takes a `torch.Generator` (on the device the tensors live on) and works on a batch of
tables at once: tensors are `(n, rows, cols)` with one table per leading index, and per-table parameters
are `(n,)` tensors. Nothing here loops over tables or cells in Python, so the same code keeps a CPU core
or a GPU busy. The numpy functions in `tabdiff/prior/draws.py` are the per-table reference.
"""

from __future__ import annotations

import math

import torch

from tabdiff.sorting import sort_last


def uniform(
    g: torch.Generator, low: float | torch.Tensor, high: float | torch.Tensor, shape: tuple[int, ...]
) -> torch.Tensor:
    """U(low, high) of `shape`; `low` / `high` may be tensors broadcasting against it."""
    return low + (high - low) * torch.rand(shape, generator=g, device=g.device)


def log_uniform(g: torch.Generator, low: float, high: float, shape: tuple[int, ...]) -> torch.Tensor:
    """Scales drawn uniformly on the log axis (draws.log_uniform for many at once)."""
    return torch.exp(uniform(g, math.log(low), math.log(high), shape))


def randint(
    g: torch.Generator, low: int | torch.Tensor, high: int | torch.Tensor, shape: tuple[int, ...]
) -> torch.Tensor:
    """Integers uniform in [low, high] (both inclusive); `low` / `high` may be per-table tensors.

    numpy's `rng.integers(low, high + 1)` with a bound per entry, which torch.randint cannot take.
    """
    low_t = torch.as_tensor(low, device=g.device)
    high_t = torch.as_tensor(high, device=g.device)
    u = torch.rand(shape, generator=g, device=g.device)
    span = (high_t - low_t + 1).to(u.dtype)
    return (low_t + torch.floor(u * span).long()).minimum(high_t.long()).long()


def log_uniform_int(g: torch.Generator, low: int, high: int, shape: tuple[int, ...]) -> torch.Tensor:
    """Integers in [low, high], log-uniform (draws.log_uniform_int for many at once)."""
    if low >= high:
        return torch.full(shape, low, dtype=torch.long, device=g.device)
    x = torch.floor(torch.exp(uniform(g, math.log(low), math.log(high + 1), shape)))
    return x.clamp(max=high).long()


def choose(g: torch.Generator, weights: torch.Tensor, n: int) -> torch.Tensor:
    """(n,) indices into `weights` (k,), drawn with probability proportional to the weights."""
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(f"weights must be non-negative with a positive sum, got {weights.tolist()}")
    return torch.multinomial(weights.to(g.device, torch.float64).expand(n, -1), 1, generator=g)[:, 0]


def bernoulli(g: torch.Generator, p: float | torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Booleans of `shape`, True with probability p (p may broadcast)."""
    return torch.rand(shape, generator=g, device=g.device) < p


def gamma(g: torch.Generator, concentration: torch.Tensor) -> torch.Tensor:
    """Gamma(concentration, 1) draws of concentration's shape, from the generator.

    torch.distributions samples from the global RNG; this is Marsaglia & Tsang (2000) with the alpha < 1
    boost. Each value gets 4 proposals at once (each accepted with probability > 0.95); the rare value that
    rejects all 4 gets 4 more, and after 16 rounds (probability < 1e-20) its mean.
    """
    alpha = concentration.clamp(min=1e-3)
    boost = alpha < 1
    a = torch.where(boost, alpha + 1, alpha)
    d = a - 1.0 / 3.0
    c = 1.0 / torch.sqrt(9.0 * d)
    out = torch.full_like(a, float("nan"))
    for _ in range(4):
        pending = out.isnan()
        shape = (4,) + tuple(a.shape)
        x = torch.randn(shape, generator=g, device=g.device, dtype=a.dtype)
        u = torch.rand(shape, generator=g, device=g.device, dtype=a.dtype)
        v = (1 + c * x) ** 3
        accept = (v > 0) & (torch.log(u) < 0.5 * x**2 + d - d * v + d * torch.log(v.clamp(min=1e-30)))
        proposal, draw = d * v, out
        for k in reversed(range(len(accept))):  # the first accepted proposal wins (cheaper than an argmax on dim 0)
            draw = torch.where(accept[k], proposal[k], draw)
        out = torch.where(pending, draw, out)
        if not bool(out.isnan().any()):
            break
    out = torch.where(out.isnan(), a, out)
    u = torch.rand(a.shape, generator=g, device=g.device, dtype=a.dtype)
    return torch.where(boost, out * u ** (1.0 / alpha), out)


def student_t(g: torch.Generator, df: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Student-t draws of `shape`, df broadcasting against it: Bailey's (1994) polar method.

    A point (u, v) uniform in the unit disc, w = u^2 + v^2, gives t = u sqrt(df (w^(-2/df) - 1) / w): about
    2.5 uniforms per draw, where a gamma-based draw costs many rounds of rejection sampling.
    """
    need, found_u, found_w = math.prod(shape), [torch.empty(0, device=g.device)], [torch.empty(0, device=g.device)]
    while need > 0:
        uv = 2.0 * torch.rand((2, int(need * 1.3) + 64), generator=g, device=g.device) - 1.0  # 78.5% land inside
        w = uv[0] * uv[0] + uv[1] * uv[1]
        inside = (w < 1.0) & (w > 0.0)
        found_u.append(uv[0][inside][:need])
        found_w.append(w[inside][:need])
        need -= found_u[-1].numel()
    u, w = torch.cat(found_u).view(shape), torch.cat(found_w).view(shape)
    return u * torch.sqrt(df * (w.pow(-2.0 / df) - 1.0) / w)


def standardize(x: torch.Tensor, dim: int = 1, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Columns to mean 0 and std 1 along `dim` (rows); constant columns become 0 (never NaN).

    draws.standardize for a batch: x (n, rows, cols) standardised over rows by default. `valid`
    (broadcasting against x) restricts the statistics to some entries; the others are returned as 0.
    """
    if valid is None:
        mean = x.mean(dim=dim, keepdim=True)
        x = x - mean
        std = torch.sqrt((x * x).mean(dim=dim, keepdim=True))
    else:
        w = valid.to(x.dtype)
        count = w.sum(dim=dim, keepdim=True).clamp(min=1)
        mean = (x * w).sum(dim=dim, keepdim=True) / count
        x = (x - mean) * w
        std = torch.sqrt((x * x).sum(dim=dim, keepdim=True) / count)
    scale = 1e-12 * (1.0 + x.abs().amax(dim=dim, keepdim=True))
    return torch.where(std > scale, x / std.clamp(min=1e-30), torch.zeros_like(x))


def normal_scores(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Values mapped through their ranks along `dim` to N(0, 1) quantiles, ties at their mid-rank.

    draws.normal_scores (scipy's rankdata "average" + ndtri) for a batch: x (n, rows, cols) -> same shape.
    One sort: a run of equal values spans sorted positions first..last, and its members get the mid-rank. A
    mid-rank is a half-integer, so the quantiles come from a table of the 2 n - 1 possible ones (ndtri once per
    value instead of once per entry), and a sequence without ties takes them in order. On the CPU only the
    sequences with ties look for runs (on other devices all do, to avoid a host sync): 128 x 256 x 40 entries, a
    fifth of the columns tied, 32 -> 14 ms.
    """
    x = x.transpose(dim, -1)
    n = x.shape[-1]
    ordered, order = sort_last(x.contiguous())
    flat = ordered.view(-1, n)
    # quantile[j] for first + last = j: ((j / 2) + 0.5) / n, the same arithmetic as per entry, so the same bits
    quantile = torch.special.ndtri((torch.arange(2 * n - 1, device=x.device).to(x.dtype) / 2.0 + 0.5) / n)
    if flat.device.type == "cpu":
        tied = torch.nonzero((flat[:, 1:] == flat[:, :-1]).any(-1))[:, 0]
        scores_sorted = quantile[0::2].expand(flat.shape)  # no ties: first = last = the position
        if len(tied):
            scores_sorted = scores_sorted.clone()
            scores_sorted[tied] = quantile[_run_bounds_sum(flat[tied])]
    else:
        scores_sorted = quantile[_run_bounds_sum(flat)]
    scores = torch.empty_like(ordered).scatter_(-1, order, scores_sorted.view(ordered.shape))
    return scores.transpose(dim, -1)


def _run_bounds_sum(ordered: torch.Tensor) -> torch.Tensor:
    """Sorted rows (m, n) -> first + last (m, n): the sorted positions where each entry's run of equal values
    starts and ends."""
    n = ordered.shape[-1]
    pos = torch.arange(n, device=ordered.device).expand_as(ordered)
    new_run = torch.ones_like(ordered, dtype=torch.bool)
    new_run[..., 1:] = ordered[..., 1:] != ordered[..., :-1]
    first = torch.cummax(torch.where(new_run, pos, 0), dim=-1).values
    run_end = torch.ones_like(new_run)
    run_end[..., :-1] = new_run[..., 1:]
    last = torch.flip(torch.cummin(torch.flip(torch.where(run_end, pos, n - 1), [-1]), dim=-1).values, [-1])
    return first + last


def pick_rows(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x (n, rows, cols) at per-table column indices index (n, rows, k) or (n, 1, k) -> (n, rows, k)."""
    return torch.gather(x, 2, index.expand(x.shape[0], x.shape[1], index.shape[2]))


def random_subset_mask(g: torch.Generator, size: torch.Tensor, total: int, shape: tuple[int, ...] = ()) -> torch.Tensor:
    """(n, total) booleans with exactly size[i] True entries per row at random places (size (n,) <= total)."""
    n = size.shape[0]
    keys = torch.rand((n, total), generator=g, device=g.device)
    order = sort_last(keys)[1]
    rank = torch.empty_like(order).scatter_(1, order, torch.arange(total, device=keys.device).expand(n, total))
    return rank < size[:, None]
