"""Encode a table already in code form (floats, categorical columns as integer codes) without pandas.

Pretraining draws thousands of tables a minute; they arrive as arrays, so this path skips dtype inference
and pandas, and uses the very same numeric map and one-hot coding as `TableEncoder`, so that the model sees
the same cell distribution in pretraining and at inference.
"""

from __future__ import annotations

import numpy as np
import torch

from tabdiff.encoding.categorical import one_hot
from tabdiff.encoding.columns import ColumnKind
from tabdiff.encoding.numeric import QuantileNormalMap
from tabdiff.encoding.table_encoder import EncodedTable
from tabdiff.sorting import sorted_last


def encode_arrays(
    values: np.ndarray,
    n_categories: np.ndarray,
    *,
    fit_mask: np.ndarray | None = None,
    max_categories: int = 16,
    n_quantiles: int = 1000,
    clip: float = 5.0,
) -> EncodedTable:
    """(rows, cols) values (NaN = missing; categorical columns hold codes 0..K-1) -> EncodedTable.

    Args:
        n_categories: (cols,) K for categorical columns, 0 for numeric ones.
        fit_mask: (rows, cols) bool, the cells the numeric maps are fitted on (default: every observed cell).
            Pretraining passes the conditioning cells, as inference fits on the cells a user gives; a column
            with no such cell falls back to all its observed cells.
    The returned `known_mask` is the observed (non-NaN) cells.
    """
    values = np.asarray(values, dtype=np.float64)
    n_rows, n_cols = values.shape
    observed = ~np.isnan(values)  # (rows, cols)
    fit_mask = observed if fit_mask is None else fit_mask & observed
    if int(np.max(n_categories, initial=0)) > max_categories:
        j = int(np.argmax(n_categories))
        raise ValueError(f"column {j} has {int(n_categories[j])} categories, more than max_categories={max_categories}")
    cells = np.zeros((n_rows, n_cols, max_categories), dtype=np.float32)  # (rows, cols, n_channels)
    for j in range(n_cols):
        column, seen = values[:, j], observed[:, j]
        k = int(n_categories[j])
        if k > 0:
            codes = np.where(seen, column, -1).astype(np.int64)
            cells[:, j, :k] = one_hot(codes, k)
        elif seen.any():
            fit_on = fit_mask[:, j] if fit_mask[:, j].any() else seen
            qmap = QuantileNormalMap.fit(column[fit_on], n_quantiles=n_quantiles, clip=clip)
            cells[seen, j, 0] = qmap.encode(column[seen])
    n_cat = torch.as_tensor(np.asarray(n_categories), dtype=torch.long)
    channel_mask = torch.arange(max_categories)[None, :] < n_cat.clamp(min=1)[:, None]  # (cols, n_channels)
    return EncodedTable(
        cells=torch.from_numpy(cells),
        known_mask=torch.from_numpy(observed),
        channel_mask=channel_mask,
        column_kind=(n_cat > 0).long() * int(ColumnKind.CATEGORICAL),
        n_categories=n_cat,
    )


def encode_batch(
    values: torch.Tensor,
    n_categories: torch.Tensor,
    fit_mask: torch.Tensor,
    *,
    max_categories: int = 16,
    clip: float = 5.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`encode_arrays` for a batch of tables of one shape, on their device, with no loop over tables.

    values (n, rows, cols) (NaN = missing; categorical columns hold codes 0..K-1), n_categories (n, cols),
    fit_mask (n, rows, cols) bool: the cells each numeric map is fitted on (a column without one is fitted on
    all its observed cells). Returns cells (n, rows, cols, max_categories) float32 (0 in every channel of a
    missing cell), channel_mask (n, cols, max_categories) bool and column_kind (n, cols) long.

    A numeric cell gets the score `QuantileNormalMap` gives it: a fitted value its mid-rank plotting position's
    normal quantile, any other value the linear interpolation between the scores of the fitted values around
    it, saturating at the ends. The per-table map thins its knots to `n_quantiles` when a column has more
    distinct fitted values; this one keeps them all (a finer map; identical up to 1,000 distinct values).
    """
    n, n_rows, n_cols = values.shape
    if int(n_categories.max()) > max_categories:
        raise ValueError(
            f"a column has {int(n_categories.max())} categories, more than max_categories={max_categories}"
        )
    observed = ~torch.isnan(values)  # (n, rows, cols)
    x = values.to(torch.float32).transpose(1, 2).contiguous()  # (n, cols, rows)
    seen = observed.transpose(1, 2)
    fit = fit_mask.transpose(1, 2) & seen
    fit = torch.where(fit.any(dim=2, keepdim=True), fit, seen)
    fitted = sorted_last(torch.where(fit, x, torch.inf))  # (n, cols, rows), unfitted last
    m = fit.sum(dim=2, keepdim=True)  # fitted cells per column
    # every sorted position's knot score: its tie run (first..last position) at the mid-rank plotting position
    pos = torch.arange(n_rows, device=x.device).expand_as(fitted)
    new_run = torch.ones_like(fitted, dtype=torch.bool)
    new_run[..., 1:] = fitted[..., 1:] != fitted[..., :-1]
    run_end = torch.ones_like(new_run)
    run_end[..., :-1] = new_run[..., 1:]
    first = torch.cummax(torch.where(new_run, pos, 0), dim=2).values
    last = torch.flip(torch.cummin(torch.flip(torch.where(run_end, pos, n_rows - 1), [2]), dim=2).values, [2])
    knot_score = torch.special.ndtri(((first + last).to(torch.float32) / 2.0 + 0.5) / m.clamp(min=1)).clamp(-clip, clip)

    below = torch.searchsorted(fitted, x, right=False)  # fitted values < x
    lower, upper = (below - 1).clamp(min=0), below.clamp(max=n_rows - 1)
    a, b = torch.gather(fitted, 2, lower), torch.gather(fitted, 2, upper)  # the fitted values around x
    score_a, score_b = torch.gather(knot_score, 2, lower), torch.gather(knot_score, 2, upper)
    inside = (below > 0) & (below < m)
    weight = ((x - a) / torch.where(inside, b - a, torch.ones_like(x))).clamp(0.0, 1.0)
    numeric = torch.where(inside, score_a + weight * (score_b - score_a), torch.where(below == 0, score_b, score_a))
    numeric = torch.where((b == x) & (below < m), score_b, numeric)  # x is a fitted value: its own knot's score
    numeric = numeric.transpose(1, 2)  # (n, rows, cols)

    channels = torch.arange(max_categories, device=values.device)
    is_categorical = (n_categories > 0)[:, None, :]  # (n, 1, cols)
    # one full-size write and one scatter: -1 in a categorical column's channels, then each cell's one value,
    # +1 at its category's channel or the numeric score at channel 0
    cells = torch.where(channels < n_categories[:, None, :, None], -1.0, 0.0).expand(n, n_rows, n_cols, -1)
    cells = cells.to(torch.float32).contiguous()  # (n, rows, cols, max_categories)
    codes = torch.nan_to_num(values).round().long().clamp(0, max_categories - 1)
    index = torch.where(is_categorical, codes, 0)[..., None]  # (n, rows, cols, 1)
    cells.scatter_(3, index, torch.where(is_categorical, 1.0, numeric)[..., None].to(torch.float32))
    if not bool(observed.all()):  # prior tables are complete
        cells.masked_fill_(~observed[..., None], 0.0)  # a missing cell holds 0 in every channel
    channel_mask = channels < n_categories.clamp(min=1)[..., None]  # (n, cols, max_categories)
    column_kind = (n_categories > 0).long() * int(ColumnKind.CATEGORICAL)
    return cells, channel_mask, column_kind
