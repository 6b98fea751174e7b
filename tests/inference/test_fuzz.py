"""Property-based tests (hypothesis) over random DataFrames (issue 14): any dtype users have, any missing
pattern, 1 row or 1 column, odd column names, unicode, constants, huge values. The estimators either fill
every missing cell with observed cells bit-identical and the input untouched, or raise a documented error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tabdiff.inference import TabDiffClassifier, TabDiffImputer, TabDiffRegressor
from tabdiff.inference.cli import main

FAST = {"progress": False, "random_state": 0, "n_ensemble": 1, "max_rows": 16, "max_cols": 4}
SETTINGS = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# the errors a user can get from odd input, each a ValueError / TypeError whose message says what to do
DOCUMENTED = ("has no observed value", "more than once", "is empty", "holds numbers")

NAMES = st.one_of(
    st.text(min_size=1, max_size=6),  # unicode included
    st.integers(-5, 5),
    st.sampled_from(["", " ", "名前", "a b", "__x__", "1"]),
)
KINDS = ["float", "huge", "int", "Int64", "bool", "boolean", "category", "str", "object", "datetime", "tz", "timedelta"]


def _column(kind: str, n: int, rng: np.random.Generator) -> pd.Series:
    if kind == "float":
        return pd.Series(rng.normal(size=n) * 10.0 ** rng.integers(-3, 4))
    if kind == "huge":
        return pd.Series(rng.choice([-1e300, 1e300, 1.0, 1e-300, 0.0], size=n))
    if kind == "int":
        return pd.Series(rng.integers(-(2**40), 2**40, size=n))
    if kind == "Int64":
        return pd.Series(pd.array(rng.integers(0, 5, size=n), dtype="Int64"))
    if kind == "bool":
        return pd.Series(rng.random(n) > 0.5)
    if kind == "boolean":
        return pd.Series(pd.array(rng.random(n) > 0.5, dtype="boolean"))
    if kind == "category":
        return pd.Series(pd.Categorical(rng.choice(["α", "β", "γ"], size=n), categories=["α", "β", "γ", "δ"]))
    if kind == "str":
        return pd.Series(pd.array(rng.choice(["x", "ÿ", "🙂", "a b"], size=n), dtype="string"))
    if kind == "object":
        return pd.Series(rng.choice(["u", "v", "w"] + [f"k{i}" for i in range(30)], size=n).astype(object))
    if kind == "datetime":
        return pd.Series(pd.Timestamp("2000-01-01") + pd.to_timedelta(rng.integers(0, 10_000, size=n), unit="D"))
    if kind == "tz":
        stamps = pd.Timestamp("2021-06-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 10**6, size=n), unit="s")
        return pd.Series(stamps).dt.tz_convert("America/New_York")
    return pd.Series(pd.to_timedelta(rng.integers(0, 10**5, size=n), unit="s"))


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    n_rows = draw(st.integers(1, 12))
    n_cols = draw(st.integers(1, 5))
    # mostly distinct names (duplicates are one documented error, tested in test_bad_input.py)
    names = draw(st.lists(NAMES, min_size=n_cols, max_size=n_cols, unique=draw(st.integers(0, 4)) > 0))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    columns = {}
    for j in range(n_cols):
        kind = draw(st.sampled_from(KINDS))
        column = _column(kind, n_rows, rng)
        if draw(st.booleans()):  # a constant column
            column = pd.Series([column.iloc[0]] * n_rows, dtype=column.dtype)
        rate = draw(st.sampled_from([0.0, 0.2, 0.5, 0.9]))
        holes = rng.random(n_rows) < rate
        column = column.mask(holes) if kind not in ("bool", "int") else column  # numpy bool / int: no NaN
        columns[j] = column
    frame = pd.DataFrame(columns)
    frame.columns = names
    return frame


def _documented(error: Exception) -> bool:
    return isinstance(error, (ValueError, TypeError)) and any(text in str(error) for text in DOCUMENTED)


@SETTINGS
@given(frame=frames())
def test_the_imputer_fills_or_says_why(tiny, frame):
    before = frame.copy()
    try:
        filled = TabDiffImputer(tiny, **FAST).fit_transform(frame)
    except Exception as error:  # noqa: BLE001 - the property is about which errors
        assert _documented(error), repr(error)
        return
    finally:
        pd.testing.assert_frame_equal(frame, before)  # the input is untouched
    assert list(filled.columns) == list(frame.columns) and filled.index.equals(frame.index)
    assert list(filled.dtypes) == list(frame.dtypes)
    identifiers = set(TabDiffImputer(tiny, **FAST).fit(frame).prep_.identifiers)
    for j, name in enumerate(frame.columns):
        given_j, filled_j = frame.iloc[:, j], filled.iloc[:, j]
        known = given_j.notna().to_numpy()
        pd.testing.assert_series_equal(filled_j[known], given_j[known])  # bit-identical, same dtype
        if name not in identifiers:
            assert filled_j.notna().all(), name
        if pd.api.types.is_float_dtype(given_j.dtype):
            assert np.isfinite(filled_j.to_numpy(dtype=np.float64)).all()


@SETTINGS
@given(frame=frames(), task=st.sampled_from(["classify", "regress"]))
def test_the_predictors_predict_or_say_why(tiny, frame, task):
    rng = np.random.default_rng(len(frame))
    if task == "classify":
        y, estimator = rng.choice(["a", "b", "c"], size=len(frame)), TabDiffClassifier(tiny, **FAST)
    else:
        y, estimator = rng.normal(size=len(frame)), TabDiffRegressor(tiny, **FAST)
    before = frame.copy()
    try:
        predicted = estimator.fit(frame, y).predict(frame)
    except Exception as error:  # noqa: BLE001
        assert _documented(error), repr(error)
        return
    finally:
        pd.testing.assert_frame_equal(frame, before)
    assert predicted.shape == (len(frame),)
    if task == "classify":
        assert set(predicted) <= {"a", "b", "c"}
    else:
        assert np.isfinite(predicted).all()


@settings(max_examples=8, deadline=None, derandomize=True)
@given(frame=frames())
def test_the_cli_writes_a_table_or_one_line(checkpoint_path, tmp_path_factory, frame):
    folder = tmp_path_factory.mktemp("cli")
    source, out = folder / "in.parquet", folder / "out.parquet"
    frame = frame.loc[:, ~frame.columns.duplicated()]
    frame.columns = [str(c) for c in frame.columns]  # parquet wants string names
    frame = frame.loc[:, ~frame.columns.duplicated()]
    frame.to_parquet(source)
    status = main(["impute", str(source), "-o", str(out), "--checkpoint", checkpoint_path, "-q", "--max-rows", "16"])
    if status == 0:
        result = pd.read_parquet(out)
        known = frame.notna()
        pd.testing.assert_frame_equal(result.where(known), frame.where(known), check_dtype=False)
    else:
        assert status == 2


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_infinite_values_are_a_documented_error(tiny, value):
    frame = pd.DataFrame({"x": [1.0, value, 2.0]})
    with pytest.raises(ValueError, match="infinite"):
        TabDiffImputer(tiny, **FAST).fit(frame)
