"""The unpredictable-table filter for a batch of tables: `filtering.predictability` without a loop over tables.

Per table, a few columns are each predicted from all the others by ridge regression and scored by their
leave-one-out R^2 (the reference's `_blocks` and `loo_ridge_r2`). Doing that column by column would cost
one (p, p) or (rows, rows) solve per scored column; here each table is factorised once and every scored
column's "all the others" system follows by a small Woodbury downdate of its own block:

    M = (X X^T + lam I)^-1,  M_j = (X X^T - X_j X_j^T + lam I)^-1 = M + U_j S_j^-1 U_j^T,
    U_j = M X_j,  S_j = I - X_j^T M X_j   (w x w, w <= 16 the block's width)

and the leave-one-out residuals are e = M_j y / diag(M_j) (ridge LOO in dual form). M itself is only formed
when rows <= predictors; otherwise the primal inverse Ginv = (X^T X + lam I)^-1 gives the same quantities
by the push-through identity: U = M X = X Ginv, diag(M) = (1 - rowsum(U * X)) / lam, S_j = lam Ginv_jj.
The predictor blocks are packed side by side (a table's features at [start_c, start_c + width_c)), padded
with zero features to the batch's widest table; a zero feature only adds a ridge-only direction that
changes nothing, so tables are scored in groups of similar width (`width_groups`: 128 tables of 354 x 58, 237 ->
146 ms on this CPU). The linear algebra runs in `FilterConfig.precision`: float64 equals the reference to 1e-9;
float32 (the default) is ~1.5x faster and its scores differ by ~1e-4 at most (S_j can be ill-conditioned, ~1e-3,
in the dual form), against a threshold of 0.05.
"""

from __future__ import annotations

from itertools import pairwise

import torch

from tabdiff.prior.batched.ops import normal_scores
from tabdiff.prior.filtering import FilterConfig

MAX_GROUPS = 8  # most width groups a batch is scored in (see width_groups)
CALL_COST = 2.0e7  # a group's fixed cost in tensor calls, in flops (~0.4 ms on this CPU at ~50 GFLOP/s)


def _design(
    values: torch.Tensor, n_categories: torch.Tensor, dtype: torch.dtype = torch.float64
) -> tuple[torch.Tensor, ...]:
    """The packed predictor design of each table, as the reference's `_blocks`.

    values (n, rows, cols), n_categories (n, cols) -> x (n, rows, p) in `dtype`, centred as the reference,
    is_target (n, p) bool (the features that form the column's target block), starts (n, cols), widths (n, cols),
    energy (n, cols) the sum of squares of each column's target block (0 for a constant column).
    Numeric column: [z, z^2 - mean] with z its rank normal score (target z); categorical: centred one-hot (K).
    """
    n, rows, cols = values.shape
    z = normal_scores(values).to(dtype)  # ranks in the input's dtype (ties as the caller sees them)
    sq = z * z
    # the reference centres z^2 (and the one-hot) but leaves z as it is (its mean is not 0 under ties)
    numeric = torch.stack([z, sq - sq.mean(1, keepdim=True)], dim=-1).view(n, rows, 2 * cols)  # [z_c, z_c^2] pairs
    k = n_categories.to(z.device, torch.long)
    widths = torch.where(k > 0, k, 2)  # (n, cols)
    ends = widths.cumsum(1)
    starts = ends - widths
    p = int(ends[:, -1].max())
    f = torch.arange(p, device=z.device)
    col_f = (f[:, None] >= ends[:, None, :]).sum(-1).clamp(max=cols - 1)  # (n, p) the column owning feature f
    slot_f = f - starts.gather(1, col_f)
    valid_f = f < ends[:, -1:]
    cat_f = k.gather(1, col_f) > 0
    one_hot = (values.gather(2, col_f[:, None, :].expand(n, rows, p)) == slot_f[:, None]).to(z.dtype)  # (n, rows, p)
    one_hot = one_hot - one_hot.mean(1, keepdim=True)
    z_f = numeric.gather(2, (2 * col_f + slot_f.clamp(max=1))[:, None, :].expand(n, rows, p))
    x = torch.where(cat_f[:, None], one_hot, z_f) * valid_f[:, None]
    is_target = valid_f & (cat_f | (slot_f == 0))
    energy = torch.zeros((n, cols), dtype=x.dtype, device=x.device).scatter_add_(1, col_f, (x * x).sum(1) * is_target)
    return x, is_target, starts, widths, energy


def _column_r2(design: tuple[torch.Tensor, ...], scored: torch.Tensor, ridge: float) -> torch.Tensor:
    """Leave-one-out ridge R^2 of each scored column's target block on all other columns' predictor blocks.

    design from `_design`; scored (n, t) column indices -> (n, t) R^2, not clipped (0 for a constant column).
    """
    x, is_target, starts, widths, energy = design
    n, rows, p = x.shape
    t = scored.shape[1]
    w = int(widths.max())
    eye_w = torch.eye(w, dtype=x.dtype, device=x.device)
    slot = torch.arange(w, device=x.device)
    idx = (starts.gather(1, scored)[:, :, None] + slot).clamp(max=p - 1)  # (n, t, w) features of each block
    in_block = slot < widths.gather(1, scored)[:, :, None]  # (n, t, w)
    if p < rows:  # primal: one (p, p) inverse per table
        ginv = torch.cholesky_inverse(
            torch.linalg.cholesky(x.mT @ x + ridge * torch.eye(p, dtype=x.dtype, device=x.device))
        )
        u = x @ ginv  # (n, rows, p) = M X
        diag_m = (1.0 - (u * x).sum(-1)) / ridge  # (n, rows)
        g_rows = ginv.gather(1, idx.view(n, t * w, 1).expand(n, t * w, p)).view(n, t, w, p)
        g_jj = g_rows.gather(3, idx[:, :, None, :].expand(n, t, w, w))  # (n, t, w, w)
        pair = in_block[..., :, None] & in_block[..., None, :]
        s = torch.where(pair, ridge * g_jj, eye_w)
    else:  # dual: one (rows, rows) inverse per table
        m = torch.cholesky_inverse(
            torch.linalg.cholesky(x @ x.mT + ridge * torch.eye(rows, dtype=x.dtype, device=x.device))
        )
        u = m @ x
        diag_m = m.diagonal(dim1=1, dim2=2)
        s = None
    flat = idx.view(n, 1, t * w).expand(n, rows, t * w)
    keep = in_block[:, :, None, :].to(x.dtype)
    u_j = u.gather(2, flat).view(n, rows, t, w).transpose(1, 2) * keep  # (n, t, rows, w)
    if s is None:
        x_j = x.gather(2, flat).view(n, rows, t, w).transpose(1, 2) * keep
        s = eye_w - x_j.mT @ u_j  # (n, t, w, w); padding slots give identity rows
    y_mask = (is_target.gather(1, idx.view(n, t * w)).view(n, t, w) & in_block)[:, :, None, :]
    # M_j X_j = (M + U_j S_j^-1 U_j^T) X_j = U_j S_j^-1, since U_j^T X_j = X_j^T M X_j = I - S_j. S_j^-1 formed (w x w)
    # and multiplied: cholesky_solve with `rows` right-hand sides per small system costs 2.5x as much on a CPU
    b = u_j @ torch.cholesky_inverse(torch.linalg.cholesky(s))  # (n, t, rows, w) = U_j S_j^-1
    diag_mj = diag_m[:, None, :] + (b * u_j).sum(-1)  # (n, t, rows) diagonal of M_j
    resid = b * y_mask / diag_mj[..., None]  # leave-one-out residuals e = M_j y / diag(M_j)
    total = energy.gather(1, scored)
    r2 = 1.0 - (resid * resid).sum((-1, -2)) / total.clamp(min=torch.finfo(total.dtype).tiny)
    return torch.where(total > 1e-12, r2, torch.zeros_like(r2))


def width_groups(widths: torch.Tensor, rows: int, call_cost: float | None = None) -> list[torch.Tensor]:
    """Tables split into groups of similar design width, each group's linear algebra padded to its own widest.

    widths (n,) features per table (p). A table's solve costs about min(2 rows p^2 + p^3, 2 rows^2 p + rows^3)
    flops at its group's widest p; `call_cost` (in flops, default CALL_COST) is a group's fixed cost in tensor
    calls. Tries 1 to MAX_GROUPS groups of equal size in width order and keeps the cheapest estimate. In a batch
    of 128 large-prior tables of 354 x 58 the widest table has 244 features and the mean 162, so one padded group
    does about twice the work. Returns index tensors (a single group: all tables, in order).
    """
    n, call_cost = widths.shape[0], CALL_COST if call_cost is None else call_cost
    order = torch.argsort(widths)
    sorted_widths = widths[order].tolist()

    def cost(p: int) -> float:
        return min(2 * rows * p * p + p**3, 2 * rows * rows * p + rows**3)

    def spans(k: int) -> list[tuple[int, int]]:
        return list(pairwise(round(i * n / k) for i in range(k + 1)))

    def total(k: int) -> float:
        return sum((b - a) * cost(sorted_widths[b - 1]) + call_cost for a, b in spans(k))

    best_k = min(range(1, min(MAX_GROUPS, n) + 1), key=total)  # the fewest groups among equal estimates
    if best_k == 1:
        return [torch.arange(n, device=widths.device)]
    return [order[a:b] for a, b in spans(best_k)]


def predictability(
    g: torch.Generator, values: torch.Tensor, n_categories: torch.Tensor, cfg: FilterConfig
) -> torch.Tensor:
    """(n,) mean clipped leave-one-out R^2 over up to cfg.max_targets random non-constant columns; 0 = nothing predicts.

    values (n, rows, cols) with categorical codes 0..K-1 as floats, n_categories (n, cols) long (0 = numeric).
    Rows are subsampled to cfg.max_rows (one random subset per table), as the reference. Tables are scored in
    groups of similar design width (`width_groups`): a zero-padded feature changes no score, only the cost.
    """
    n, rows, cols = values.shape
    dtype = torch.get_default_dtype()
    if n == 0 or cols < 2:
        return torch.zeros(n, dtype=dtype, device=values.device)
    if rows > cfg.max_rows:
        keys = torch.rand((n, rows), generator=g, device=g.device)
        pick = keys.topk(cfg.max_rows, dim=1).indices  # a random subset of rows per table
        values = values.gather(1, pick[:, :, None].expand(n, cfg.max_rows, cols))
        rows = cfg.max_rows
    precision = {"float32": torch.float32, "float64": torch.float64}.get(cfg.precision)
    if precision is None:
        raise ValueError(f"prior.filter.precision must be 'float32' or 'float64', got {cfg.precision!r}")
    t = min(cfg.max_targets, cols)
    keys = torch.rand((n, cols), generator=g, device=g.device)
    k = n_categories.to(values.device, torch.long)
    groups = width_groups(torch.where(k > 0, k, 2).sum(1), rows)
    score = torch.empty(n, dtype=dtype, device=values.device)
    for index in [slice(None)] if len(groups) == 1 else groups:  # one group: the tensors as they are, no copies
        design = _design(values[index], k[index], precision)
        energy = design[4]
        candidate = energy > 1e-12  # (m, cols); constant columns say nothing
        n_candidates = candidate.sum(1)
        order = keys[index] + (~candidate).to(torch.float32) * 2.0
        scored = order.argsort(1)[:, :t]  # (m, t): the candidates first, in random order
        scored_valid = torch.arange(t, device=energy.device) < n_candidates.clamp(max=t)[:, None]
        r2 = _column_r2(design, scored, cfg.ridge_per_row * rows).clamp(min=0.0)
        part = (r2 * scored_valid).sum(1) / scored_valid.sum(1).clamp(min=1)
        score[index] = torch.where(n_candidates >= 2, part, torch.zeros_like(part)).to(dtype)
    return score
