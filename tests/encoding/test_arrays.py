from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tabdiff.encoding import TableEncoder
from tabdiff.encoding.arrays import encode_arrays


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
