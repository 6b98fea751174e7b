from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tabdiff.encoding import TableEncoder
from tabdiff.encoding.arrays import encode_arrays, encode_batch


def _table(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = 40
    x = rng.standard_t(3, n)
    x[rng.random(n) < 0.2] = np.nan
    codes = rng.integers(0, 4, n).astype(float)
    codes[rng.random(n) < 0.1] = np.nan
    frame = pd.DataFrame(
        {
            "x": x,
            "c": pd.Categorical.from_codes(np.nan_to_num(codes, nan=-1).astype(int), categories=list("abcd")),
            "z": rng.normal(size=n),
        }
    )
    return frame, np.stack([x, codes, frame["z"].to_numpy()], axis=1), np.array([0, 4, 0])


def test_encode_arrays_matches_table_encoder():
    frame, values, n_categories = _table()
    ref = TableEncoder().fit_transform(frame)
    got = encode_arrays(values, n_categories)
    for field in ("cells", "known_mask", "channel_mask", "column_kind", "n_categories"):
        assert torch.equal(getattr(got, field), getattr(ref, field)), field


def test_fit_mask_restricts_the_numeric_statistics():
    _, values, n_categories = _table(1)
    fit_mask = np.zeros_like(values, dtype=bool)
    fit_mask[:20] = True
    got = encode_arrays(values, n_categories, fit_mask=fit_mask)
    ref = encode_arrays(np.where(fit_mask, values, np.nan), n_categories)
    rows = ~np.isnan(values[:20, 0])
    # the first 20 rows are coded by a map fitted on them only, whatever the other rows hold
    assert torch.equal(got.cells[:20, 0][torch.from_numpy(rows)], ref.cells[:20, 0][torch.from_numpy(rows)])
    assert got.known_mask.sum() > ref.known_mask.sum()  # known_mask still reports every observed cell


def test_too_many_categories_is_an_error_naming_the_column():
    with pytest.raises(ValueError, match="column 1 has 20 categories"):
        encode_arrays(np.zeros((3, 2)), np.array([0, 20]))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n_rows=st.integers(2, 60),
    n_cols=st.integers(1, 7),
    fit_rate=st.floats(0.0, 1.0),
    missing_rate=st.sampled_from([0.0, 0.3, 0.95]),
)
def test_encode_batch_matches_encode_arrays_table_by_table(seed, n_rows, n_cols, fit_rate, missing_rate):
    """The batched path codes every cell as the per-table one: ties, constant, unfitted and missing cells."""
    rng = np.random.default_rng(seed)
    n = 3
    values = rng.standard_normal((n, n_rows, n_cols)).astype(np.float32).astype(np.float64)
    kinds = rng.integers(0, 4, n_cols)  # 0 continuous, 1 few values (ties), 2 constant, 3 categorical
    n_categories = np.zeros((n, n_cols), dtype=np.int64)
    for j, kind in enumerate(kinds):
        if kind == 1:
            values[:, :, j] = np.round(values[:, :, j] * 1.5)
        elif kind == 2:
            values[:, :, j] = 2.25
        elif kind == 3:
            n_categories[:, j] = rng.integers(2, 17, n)
            values[:, :, j] = rng.integers(0, n_categories[:, j][:, None], (n, n_rows))
    fit_mask = rng.random((n, n_rows, n_cols)) < fit_rate
    values[rng.random(values.shape) < missing_rate] = np.nan
    cells, channel_mask, column_kind = encode_batch(
        torch.tensor(values, dtype=torch.float32), torch.tensor(n_categories), torch.tensor(fit_mask)
    )
    assert cells.shape == (n, n_rows, n_cols, 16) and cells.dtype == torch.float32
    for i in range(n):
        ref = encode_arrays(values[i], n_categories[i], fit_mask=fit_mask[i])
        torch.testing.assert_close(cells[i], ref.cells, atol=2e-6, rtol=0)
        assert torch.equal(channel_mask[i], ref.channel_mask)
        assert torch.equal(column_kind[i], ref.column_kind)


def test_encode_batch_refuses_more_categories_than_channels():
    with pytest.raises(ValueError, match="20 categories, more than max_categories=16"):
        encode_batch(torch.zeros(1, 3, 2), torch.tensor([[0, 20]]), torch.ones(1, 3, 2, dtype=torch.bool))
