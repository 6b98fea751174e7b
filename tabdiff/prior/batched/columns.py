"""Column post-processing for a batch of tables: mixed types, skewed marginals, and a few oddities.

The batched counterpart of `tabdiff/prior/columns.py` (`ColumnProcessor.apply`): every table draws its own
target column, oddities, categorical rate and per-column choices from the same distributions. The work is
done column-major, x (n, cols, rows), so that the (table, column) pairs a step touches (a categorical, skewed,
integer or constant column: a few per batch) are gathered and written back with one index each, and the
other columns cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tabdiff.prior.batched.mechanisms import mechanism
from tabdiff.prior.batched.ops import bernoulli, log_uniform, randint, standardize, uniform
from tabdiff.prior.columns import ColumnConfig
from tabdiff.sorting import sorted_last

_TARGET_TREE_PROB = 0.3  # ColumnProcessor._target: a tree ensemble, else an MLP
_MAX_TARGET_INPUTS = 6  # ColumnProcessor._target: 1..min(cols - 1, 6) inputs
_ARGMAX_OTHERS = 3  # to_categorical: the column and up to 3 others define an argmax category


@dataclass(frozen=True)
class ColumnBatch:
    """n processed tables sharing one shape, as RawTable holds one."""

    values: torch.Tensor  # (n, rows, cols) float: categorical columns hold codes 0..K-1 as floats
    n_categories: torch.Tensor  # (n, cols) long, 0 numeric, K >= 2 categorical
    is_integer: torch.Tensor  # (n, cols) bool
    target_col: torch.Tensor  # (n,) long, -1 = none


def process_columns(
    g: torch.Generator, cfg: ColumnConfig, values: torch.Tensor, target_col: torch.Tensor
) -> ColumnBatch:
    """ColumnProcessor.apply for n tables: values (n, rows, cols) from a family, target_col (n,) long (-1: none)."""
    dev = g.device
    n, n_rows, n_cols = values.shape
    x = standardize(values.to(device=dev, dtype=torch.get_default_dtype()))
    x = x.transpose(1, 2).contiguous()  # (n, cols, rows)
    target_col = target_col.to(device=dev, dtype=torch.long)
    target_col = _add_target(g, cfg, x, target_col)
    constant = _oddities(g, cfg, x, target_col)

    is_target = torch.arange(n_cols, device=dev) == target_col[:, None]  # (n, cols), no column where -1
    cat_rate = uniform(g, 0.0, 2.0 * cfg.categorical_frac, (n, 1)).clamp(max=1.0)
    make_cat = torch.where(
        is_target, bernoulli(g, cfg.target_categorical_prob, (n, 1)), bernoulli(g, cat_rate, (n, n_cols))
    )
    out, is_integer = _numeric(g, cfg, x, constant)
    n_categories = _categorical(g, cfg, x, make_cat & ~constant, out)
    return ColumnBatch(
        values=out.transpose(1, 2).contiguous(),
        n_categories=n_categories,
        is_integer=is_integer & (n_categories == 0),
        target_col=target_col,
    )


def _add_target(g: torch.Generator, cfg: ColumnConfig, x: torch.Tensor, target_col: torch.Tensor) -> torch.Tensor:
    """With target_prob, where the family gave none, overwrite (in x (n, cols, rows)) a random column with a noisy
    function of 1..min(cols - 1, 6) others (ColumnProcessor._target). Returns the new target_col."""
    n, n_cols, n_rows = x.shape
    if n_cols < 2:
        return target_col
    dev = g.device
    add = (target_col < 0) & bernoulli(g, cfg.target_prob, (n,))
    if not bool(add.any()):
        return target_col
    new_col = randint(g, 0, n_cols - 1, (n,))
    # inputs: a random subset of the other columns (argsort of random keys, the target's pushed last)
    n_slots = min(n_cols - 1, _MAX_TARGET_INPUTS)
    keys = torch.rand((n, n_cols), generator=g, device=dev)
    keys = torch.where(torch.arange(n_cols, device=dev) == new_col[:, None], 2.0, keys)
    inputs = torch.argsort(keys, dim=1)[:, :n_slots]
    input_mask = torch.arange(n_slots, device=dev) < randint(g, 1, n_slots, (n,))[:, None]
    src = torch.gather(x, 1, inputs[:, :, None].expand(n, n_slots, n_rows)).transpose(1, 2)  # (n, rows, slots)
    signal = mechanism(g, cfg.mechanism, src, input_mask, bernoulli(g, _TARGET_TREE_PROB, (n,)))
    noise_std = log_uniform(g, *cfg.target_noise_range, (n, 1))
    target = standardize(signal, dim=1) + noise_std * torch.randn((n, n_rows), generator=g, device=dev)
    x[add, new_col[add]] = target[add]
    return torch.where(add, new_col, target_col)


def _oddities(g: torch.Generator, cfg: ColumnConfig, x: torch.Tensor, target_col: torch.Tensor) -> torch.Tensor:
    """Occasionally a column copies another (duplicate_prob, made in x (n, cols, rows)) or is constant
    (constant_prob); never the target. Returns the (n, cols) bool constant columns (filled in by _numeric)."""
    n, n_cols, _ = x.shape
    dev = g.device
    col = torch.arange(n_cols, device=dev)
    if n_cols < 2:
        return torch.zeros((n, n_cols), dtype=torch.bool, device=dev)
    is_target = col == target_col[:, None]
    # a uniform pick among the allowed columns: argmax of random keys, the disallowed ones pushed below 0
    dst = torch.where(is_target, -1.0, torch.rand((n, n_cols), generator=g, device=dev)).argmax(1)
    src = torch.where(col == dst[:, None], -1.0, torch.rand((n, n_cols), generator=g, device=dev)).argmax(1)
    duplicate = bernoulli(g, cfg.duplicate_prob, (n,))
    x[duplicate, dst[duplicate]] = x[duplicate, src[duplicate]]
    pick = torch.where(is_target, -1.0, torch.rand((n, n_cols), generator=g, device=dev)).argmax(1)
    return bernoulli(g, cfg.constant_prob if n_cols >= 3 else 0.0, (n, 1)) & (col == pick[:, None])


def _numeric(
    g: torch.Generator, cfg: ColumnConfig, x: torch.Tensor, constant: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every column of x (n, cols, rows) as a numeric one: skew, integers or a random unit; constant columns
    round(N(0, 10), 2). Returns the values (n, cols, rows) and is_integer (n, cols)."""
    dev = g.device
    n, n_cols, _ = x.shape
    shape = (n, n_cols)
    # skew (the chosen columns only): exp(a x), a ~ U(0.3, 1.5) (log-normal-like) or sign(x)|x|^a, a ~ U(0.5, 3),
    # x clipped to +-8 (exp stays finite in float32), then standardised again
    skewed = bernoulli(g, cfg.skew_prob, shape)
    use_exp = bernoulli(g, 0.5, shape)[skewed]
    u = torch.rand(use_exp.shape, generator=g, device=dev)
    power = torch.where(use_exp, 0.3 + 1.2 * u, 0.5 + 2.5 * u)[:, None]
    clipped = x[skewed].clamp(-8.0, 8.0)  # (S, rows)
    by_power = clipped.sign() * clipped.abs() ** power
    col = x.clone()
    col[skewed] = standardize(torch.where(use_exp[:, None], torch.exp(power * clipped), by_power), dim=1)
    # integers (counts, ratings, years) after a scale and an offset, else a random unit scale and shift
    is_integer = bernoulli(g, cfg.integer_prob, shape) & ~constant
    scale = torch.where(is_integer, log_uniform(g, 1.0, 30.0, shape), log_uniform(g, 1e-2, 1e3, shape))
    real_shift = 2.0 * torch.randn(shape, generator=g, device=dev) * scale
    shift = torch.where(is_integer, randint(g, -5, 99, shape).to(x.dtype), real_shift)
    out = torch.addcmul(shift[..., None], col, scale[..., None])  # (n, cols, rows)
    out[is_integer] = out[is_integer].round()
    fill = torch.round(10.0 * torch.randn(shape, generator=g, device=dev), decimals=2)
    out[constant] = fill[constant][:, None].expand(-1, out.shape[-1])
    return out, is_integer


def _categorical(
    g: torch.Generator, cfg: ColumnConfig, x: torch.Tensor, make_cat: torch.Tensor, out: torch.Tensor
) -> torch.Tensor:
    """Codes for the columns make_cat (n, cols) of x (n, cols, rows), written into out; returns n_categories.

    As to_categorical + compact_codes on the M chosen (table, column) pairs at once: K in 2..min(K_max, rows),
    quantile bins or an argmax over random projections, labels compacted to 0..K'-1 in random order. A column
    with K' < 2 stays numeric (n_categories 0, out untouched).
    """
    dev = g.device
    n, n_cols, n_rows = x.shape
    n_categories = torch.zeros((n, n_cols), dtype=torch.long, device=dev)
    table, column = make_cat.nonzero(as_tuple=True)  # (M,) each
    m = table.numel()
    if m == 0:
        return n_categories
    k_max = min(cfg.max_categories, n_rows)
    n_cat = randint(g, 2, k_max, (m,))
    label = torch.arange(k_max, device=dev)
    codes = torch.empty((m, n_rows), dtype=torch.long, device=dev)
    by_argmax = bernoulli(g, cfg.argmax_prob, (m,))

    # quantile: cut at k - 1 sorted uniform quantiles (numpy's linear interpolation); unused cuts at +inf
    part = (~by_argmax).nonzero()[:, 0]
    own = x[table[part], column[part]]  # (Mq, rows)
    q = torch.rand((part.numel(), k_max - 1), generator=g, device=dev)
    q = torch.sort(torch.where(label[:-1] < n_cat[part, None] - 1, q, 2.0), dim=1).values
    ordered = sorted_last(own)
    pos = q.clamp(max=1.0) * (n_rows - 1)
    lo = pos.floor().long()
    below, above = torch.gather(ordered, 1, lo), torch.gather(ordered, 1, (lo + 1).clamp(max=n_rows - 1))
    cuts = torch.where(q > 1.0, float("inf"), below + (pos - lo) * (above - below))
    codes[part] = torch.searchsorted(cuts, own, right=True)  # cuts <= value

    # argmax: the column (weight x2, so it dominates) and up to 3 other random columns, random projections
    part = by_argmax.nonzero()[:, 0]
    n_others = min(_ARGMAX_OTHERS, n_cols - 1)
    keys = torch.rand((part.numel(), n_cols), generator=g, device=dev)
    keys = torch.where(torch.arange(n_cols, device=dev) == column[part, None], 2.0, keys)
    sources = torch.cat([column[part, None], torch.argsort(keys, dim=1)[:, :n_others]], dim=1)  # (Ma, 1 + others)
    src = x[table[part, None], sources]  # (Ma, 1 + others, rows)
    w = torch.randn((part.numel(), 1 + n_others, k_max), generator=g, device=dev)
    w[:, 0] *= 2.0
    logits = torch.bmm(src.transpose(1, 2), w) + 0.5 * torch.randn((part.numel(), 1, k_max), generator=g, device=dev)
    codes[part] = torch.where(label < n_cat[part, None, None], logits, float("-inf")).argmax(-1)

    # compact: the labels present, relabelled 0..K'-1 in random order (rank of random keys, absent ones last)
    present = torch.zeros((m, k_max), device=dev).scatter_(1, codes, 1.0) > 0
    keys = torch.where(present, torch.rand((m, k_max), generator=g, device=dev), 2.0)
    relabel = torch.argsort(torch.argsort(keys, dim=1), dim=1)
    k_present = present.sum(1)
    ok = k_present >= 2  # a single category would be a constant column: it stays numeric
    out[table[ok], column[ok]] = torch.gather(relabel, 1, codes)[ok].to(out.dtype)
    n_categories[table, column] = torch.where(ok, k_present, 0)
    return n_categories
