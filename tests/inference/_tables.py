"""Mixed-type test tables and the bit-identity check shared by the inference tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

FAST = {"progress": False, "random_state": 0}  # estimator options every test uses


def mixed_frame(n_rows: int = 30, *, seed: int = 0, missing: float = 0.3) -> pd.DataFrame:
    """float, float32, nullable Int64, category, str, object, bool and nullable boolean columns, with NaNs."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "f": rng.normal(size=n_rows) * 10 + 3,
            "f32": rng.normal(size=n_rows).astype(np.float32),
            "i": pd.array(rng.integers(-5, 50, n_rows), dtype="Int64"),
            "cat": pd.Categorical(rng.choice(["lo", "mid", "hi"], n_rows), categories=["lo", "mid", "hi", "never"]),
            "s": pd.array(rng.choice(["x", "y", "z"], n_rows), dtype="str"),
            "obj": rng.choice(["u", "v"], n_rows).astype(object),
            "b": rng.random(n_rows) > 0.5,
            "nb": pd.array(rng.random(n_rows) > 0.3, dtype="boolean"),
        },
        index=pd.Index([f"r{k}" for k in rng.permutation(n_rows)], name="id"),
    )
    for name in ["f", "f32", "i", "cat", "s", "obj", "nb"]:
        holes = rng.random(n_rows) < missing
        holes[0] = False  # every column keeps an observed cell
        frame.loc[holes, name] = None
    return frame


def numeric_array(n_rows: int = 30, n_cols: int = 5, *, seed: int = 0, dtype=np.float64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    array = rng.normal(size=(n_rows, n_cols)).astype(dtype)
    holes = rng.random(array.shape) < 0.3
    holes[0] = False
    array[holes] = np.nan
    return array


def assert_known_cells_identical(given: pd.DataFrame | np.ndarray, out: pd.DataFrame | np.ndarray) -> None:
    """Every observed cell of `given` is in `out` bit for bit; `out` has no missing cell."""
    if isinstance(given, np.ndarray):
        assert isinstance(out, np.ndarray) and out.dtype == given.dtype and out.shape == given.shape
        known = ~np.isnan(given)
        assert np.array_equal(out[known].view(np.uint8), given[known].view(np.uint8))
        assert not np.isnan(out).any()
        return
    assert isinstance(out, pd.DataFrame)
    assert out.index.equals(given.index) and out.columns.equals(given.columns)
    assert out.dtypes.equals(given.dtypes), (out.dtypes, given.dtypes)
    assert not out.isna().any().any()
    for name in given.columns:
        known = given[name].notna().to_numpy()
        a, b = given[name][known], out[name][known]
        if pd.api.types.is_float_dtype(a.dtype):
            assert np.array_equal(a.to_numpy().view(np.uint8), b.to_numpy().view(np.uint8)), name
        else:
            pd.testing.assert_series_equal(a, b, check_exact=True)
