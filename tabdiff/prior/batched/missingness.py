"""Conditioning patterns for a batch of complete tables: `missingness.MaskSampler` without a loop over tables.

Each table draws its own mechanism (mcar / mar / mnar / target, by `MissingnessConfig.weights`) and its own
unknown rate p ~ U(rate_range); the mechanisms are those of the reference module (its docstring has the
details). All tables draw their uniforms together and compare them with a per-cell P(unknown): p itself for
mcar, a calibrated logistic model for mar and mnar (computed only on the tables that drew one of the two),
while target tables are overwritten with their exact pattern. `ensure_valid` then repairs every table at once.
"""

from __future__ import annotations

import torch

from tabdiff.prior.batched.ops import choose, normal_scores, randint, random_subset_mask, standardize, uniform
from tabdiff.prior.missingness import MissingnessConfig

MASK_KINDS = ("mcar", "mar", "mnar", "target")
MCAR, MAR, MNAR, TARGET = range(len(MASK_KINDS))


def column_signal(g: torch.Generator, values: torch.Tensor, n_categories: torch.Tensor) -> torch.Tensor:
    """(n, rows, cols) standardised per-cell signal for the logistic models, as the reference's `column_signal`.

    Numeric columns give rank normal scores; categorical columns a random N(0, 1) effect per category.
    """
    n, rows, cols = values.shape
    signal = normal_scores(values)
    is_cat = n_categories > 0  # (n, cols)
    if bool(is_cat.any()):
        k_max = int(n_categories.max())
        effect = torch.randn((n, cols, k_max), generator=g, device=g.device)
        codes = values.long().clamp(0, k_max - 1).transpose(1, 2)  # (n, cols, rows)
        signal = torch.where(is_cat[:, None, :], effect.gather(2, codes).transpose(1, 2), signal)
    return standardize(signal)


def calibrated_probs(logit: torch.Tensor, rate: torch.Tensor, tol: float = 1e-6, max_iter: int = 60) -> torch.Tensor:
    """sigmoid(logit + a) with an intercept a per (table, column) chosen so each column's mean is `rate`.

    logit (n, rows, cols), rate (n,) -> probabilities (n, rows, cols). The reference bisects 30 times; here a
    Newton step on the column mean (increasing in a) is taken when it stays inside the bisection bracket, else
    the bracket is halved. From a = logit(rate) - mean(logit) it reaches |mean - rate| < tol in ~5 passes over
    the table for the slopes the prior uses (<= 3 on standardised signals), and never does worse than bisection.
    """
    lo = -30.0 - logit.amax(1)  # (n, cols)
    hi = 30.0 - logit.amin(1)
    target = rate[:, None]
    a = torch.logit(target) - logit.mean(1)
    for i in range(max_iter):
        probs = torch.sigmoid(logit + a[:, None, :])
        mean = probs.mean(1)
        f = mean - target
        if i % 2 == 1 and not bool((f.abs() > tol).any()):  # a sync every other pass
            break
        slope = (mean - (probs * probs).mean(1)).clamp(min=1e-30)  # d mean / d a = mean of p (1 - p)
        too_high = f > 0
        hi = torch.where(too_high, a, hi)
        lo = torch.where(too_high, lo, a)
        step = a - f / slope
        a = torch.where((step >= lo) & (step <= hi), step, 0.5 * (lo + hi))
    return probs


def ensure_valid(g: torch.Generator, known_mask: torch.Tensor, maskable: torch.Tensor) -> torch.Tensor:
    """Every column keeps a known cell and every table has an unknown cell; returns the repaired known_mask.

    known_mask (n, rows, cols); maskable (n, cols), the columns a cell may be hidden in when none is unknown.
    A column with no known cell gets one at a random row; a fully known table loses one random maskable cell.
    """
    n, rows, cols = known_mask.shape
    row = torch.arange(rows, device=known_mask.device)[None, :, None]
    empty = ~known_mask.any(1)  # (n, cols)
    reveal = row == randint(g, 0, rows - 1, (n, cols))[:, None, :]
    known_mask = known_mask | (reveal & empty[:, None, :])
    all_known = known_mask.flatten(1).all(1)  # (n,)
    col = torch.rand((n, cols), generator=g, device=g.device).masked_fill(~maskable, -1.0).argmax(1)
    hide = (row == randint(g, 0, rows - 1, (n,))[:, None, None]) & (
        torch.arange(cols, device=known_mask.device) == col[:, None, None]
    )
    return known_mask & ~(hide & all_known[:, None, None])


def _informative_probs(
    g: torch.Generator,
    cfg: MissingnessConfig,
    values: torch.Tensor,
    n_categories: torch.Tensor,
    rate: torch.Tensor,
    is_mar: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """P(unknown) (m, rows, cols) of tables that drew mar (is_mar) or mnar, and the mar drivers (m, cols) bool.

    mnar: sigmoid(s_j * signal + a_j), |s_j| ~ U(mnar_strength_range) with a random sign per column.
    mar: sigmoid(c_j * standardise(signal[:, drivers] @ N(0, 1)) + a_j) on the non-driver columns, drivers
    never unknown; 1..min(cols - 1, max(1, floor(cols * max_driver_frac))) drivers per table.
    """
    m, rows, cols = values.shape
    signal = column_signal(g, values, n_categories)
    sign = torch.where(torch.rand((m, cols), generator=g, device=g.device) < 0.5, -1.0, 1.0)
    logit = signal * (uniform(g, *cfg.mnar_strength_range, (m, cols)) * sign)[:, None, :]
    drivers = torch.zeros((m, cols), dtype=torch.bool, device=values.device)
    if cols >= 2 and bool(is_mar.any()):
        max_drivers = min(cols - 1, max(1, int(cols * cfg.max_driver_frac)))  # leave a column to mask
        n_drivers = randint(g, 1, max_drivers, (m,))
        drivers = random_subset_mask(g, n_drivers, cols) & is_mar[:, None]
        # one random direction of the drivers per column: (rows, cols) @ (cols, cols), non-drivers zeroed
        direction = torch.randn((m, cols, cols), generator=g, device=g.device)
        proj = standardize((signal * drivers[:, None, :]) @ direction)
        mar_logit = proj * uniform(g, *cfg.mar_strength_range, (m, 1, cols))
        logit = torch.where(is_mar[:, None, None], mar_logit, logit)
    probs = calibrated_probs(logit, rate)
    return probs * ~drivers[:, None, :], drivers


def _target_known(
    g: torch.Generator, cfg: MissingnessConfig, rate: torch.Tensor, target_col: torch.Tensor, rows: int, cols: int
) -> torch.Tensor:
    """(n, rows, cols) known_mask: one column unknown on exactly clip(round(rate * rows), 1, rows - 1) random rows.

    The column is the table's target (target_col >= 0) with probability target_col_prob, else a random one.
    """
    n = rate.shape[0]
    use_target = (target_col >= 0) & (torch.rand((n,), generator=g, device=g.device) < cfg.target_col_prob)
    col = torch.where(use_target, target_col, randint(g, 0, cols - 1, (n,)))
    n_query = torch.round(rate * rows).long().clamp(1, rows - 1)
    query = random_subset_mask(g, n_query, rows)  # (n, rows)
    in_col = torch.arange(cols, device=rate.device) == col[:, None]  # (n, cols)
    return ~(query[:, :, None] & in_col[:, None, :])


def sample_masks(
    g: torch.Generator,
    cfg: MissingnessConfig,
    values: torch.Tensor,
    n_categories: torch.Tensor,
    target_col: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """known_mask (n, rows, cols) bool (True = given) and kind (n,) long, an index into MASK_KINDS.

    values (n, rows, cols) complete (categorical codes as floats), n_categories (n, cols), target_col (n,) long
    (-1 = none). Needs rows >= 2. mar falls back to mcar (and reports mcar) when cols < 2, as the reference.
    """
    n, rows, cols = values.shape
    if rows < 2:
        raise ValueError("a table needs at least 2 rows to have both a known and an unknown cell per column")
    unknown = set(cfg.weights) - set(MASK_KINDS)
    if unknown:
        raise ValueError(f"unknown missingness {sorted(unknown)}")
    weights = torch.tensor([float(cfg.weights.get(k, 0.0)) for k in MASK_KINDS])
    kind = choose(g, weights, n)
    if cols < 2:  # no column left to drive a mar pattern; fall back to its nearest relative
        kind = torch.where(kind == MAR, MCAR, kind)
    rate = uniform(g, *cfg.rate_range, (n,))
    p_unknown = rate[:, None, None].expand(n, rows, cols)  # mcar
    maskable = torch.ones((n, cols), dtype=torch.bool, device=g.device)
    informative = ((kind == MAR) | (kind == MNAR)).nonzero()[:, 0]
    if informative.numel():
        probs, drivers = _informative_probs(
            g, cfg, values[informative], n_categories[informative], rate[informative], kind[informative] == MAR
        )
        p_unknown = p_unknown.index_put((informative,), probs)
        maskable = maskable.index_put((informative,), ~drivers)
    known_mask = torch.rand((n, rows, cols), generator=g, device=g.device) >= p_unknown
    is_target = kind == TARGET
    if bool(is_target.any()):  # a target pattern is always valid, so ensure_valid leaves it as it is
        known_mask = torch.where(
            is_target[:, None, None], _target_known(g, cfg, rate, target_col, rows, cols), known_mask
        )
    return ensure_valid(g, known_mask, maskable), kind
