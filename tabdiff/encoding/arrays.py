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
    fitted = torch.sort(torch.where(fit, x, torch.inf).contiguous(), dim=2).values  # (n, cols, rows), unfitted last
    m = fit.sum(dim=2, keepdim=True).to(torch.float32)  # fitted cells per column
    below = torch.searchsorted(fitted, x, right=False)  # fitted values < x
    upto = torch.searchsorted(fitted, x, right=True)  # fitted values <= x

    def score(lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:  # a knot with lo values below it, hi - lo equal
        return torch.special.ndtri((lo + (hi - lo) / 2.0) / m).clamp(-clip, clip)

    last = fitted.shape[2] - 1
    a = torch.gather(fitted, 2, (below - 1).clamp(min=0))  # largest fitted value < x
    b = torch.gather(fitted, 2, below.clamp(max=last))  # smallest fitted value >= x
    score_a = score(torch.searchsorted(fitted, a, right=False).to(torch.float32), below.to(torch.float32))
    score_b = score(below.to(torch.float32), torch.searchsorted(fitted, b, right=True).to(torch.float32))
    on_knot = upto > below
    inside = (below > 0) & (below < m.long())
    weight = ((x - a) / torch.where(inside, b - a, torch.ones_like(x))).clamp(0.0, 1.0)
    between = torch.where(inside, score_a + weight * (score_b - score_a), torch.where(below == 0, score_b, score_a))
    numeric = torch.where(on_knot, score(below.to(torch.float32), upto.to(torch.float32)), between)
    numeric = numeric.transpose(1, 2)  # (n, rows, cols)

    channels = torch.arange(max_categories, device=values.device)
    is_categorical = (n_categories > 0)[:, None, :, None]  # (n, 1, cols, 1)
    codes = torch.nan_to_num(values).round().long()[..., None]  # (n, rows, cols, 1)
    one_hot_cells = torch.where(codes == channels, 1.0, -1.0)
    one_hot_cells = torch.where(channels < n_categories[:, None, :, None], one_hot_cells, 0.0)
    numeric_cells = torch.where(channels == 0, numeric[..., None], 0.0)
    cells = torch.where(is_categorical, one_hot_cells, numeric_cells).to(torch.float32)
    cells = torch.where(observed[..., None], cells, 0.0)
    channel_mask = channels < n_categories.clamp(min=1)[..., None]  # (n, cols, max_categories)
    column_kind = (n_categories > 0).long() * int(ColumnKind.CATEGORICAL)
    return cells, channel_mask, column_kind
