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
