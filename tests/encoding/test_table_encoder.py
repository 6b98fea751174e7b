from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tabdiff.encoding import ColumnKind, EncodedTable, TableEncoder

N_ROWS = 60
# pandas' text dtype that keeps a missing cell missing: "str" from pandas 3 on; before it, astype("str") is numpy's
# str and writes a missing cell as the text "None" / "nan" (a fourth colour), and the text dtype is "string"
STR = "str" if int(pd.__version__.split(".")[0]) >= 3 else "string"


def mixed_frame(seed: int = 0) -> pd.DataFrame:
    """Every supported column kind, with missing cells, an outlier and a non-default index."""
    rng = np.random.default_rng(seed)
    n = N_ROWS
    missing = rng.random((n, 10)) < 0.15  # (rows, cols)
    heavy = rng.standard_t(df=2, size=n)
    heavy[4] = 1e9
    heavy[missing[:, 0]] = np.nan
    heavy[:2] = [3.5, -7.25]  # observed, not hidden by `missing` below
    f32 = rng.normal(size=n).astype(np.float32)
    f32[missing[:, 1]] = np.nan
    nullable_int = pd.array(rng.integers(-3, 40, n), dtype="Int64")
    nullable_int[missing[:, 2]] = pd.NA
    nullable_bool = pd.array(rng.random(n) > 0.3, dtype="boolean")
    nullable_bool[missing[:, 3]] = pd.NA
    category = pd.Categorical(rng.choice(["low", "mid", "high"], n), categories=["low", "mid", "high", "never"])
    category[missing[:, 4]] = np.nan
    text = rng.choice(np.array(["red", "green", "blue"], dtype=object), n)
    text[missing[:, 5]] = None
    mixed_object = rng.choice(np.array(["yes", "no"], dtype=object), n)
    mixed_object[missing[:, 6]] = np.nan
    return pd.DataFrame(
        {
            "heavy": heavy,
            "f32": f32,
            "count": rng.integers(0, 1000, n),
            "nullable_int": nullable_int,
            "flag": rng.random(n) > 0.5,
            "nullable_flag": nullable_bool,
            "grade": category,
            "colour": pd.Series(text, dtype="str").to_numpy(),
            "answer": pd.Series(mixed_object, dtype=object).to_numpy(),
        },
        index=pd.Index(rng.permutation(10 * n)[:n] + 1000, name="row_id"),
    ).astype({"colour": STR, "answer": object})


def assert_observed_equal(original: pd.DataFrame, decoded: pd.DataFrame) -> None:
    for name in original.columns:
        observed = original[name].notna().to_numpy()
        expected, got = original[name][observed], decoded[name][observed]
        if pd.api.types.is_float_dtype(original[name].dtype):
            np.testing.assert_allclose(got.to_numpy(np.float64), expected.to_numpy(np.float64), rtol=1e-6, atol=0)
        else:
            pd.testing.assert_series_equal(got, expected, check_exact=True)


def test_round_trip_mixed_frame_keeps_values_index_columns_and_dtypes():
    table = mixed_frame()
    encoder = TableEncoder()
    decoded = encoder.inverse_transform(encoder.fit_transform(table).cells)
    assert isinstance(decoded, pd.DataFrame)
    pd.testing.assert_index_equal(decoded.index, table.index)
    pd.testing.assert_index_equal(decoded.columns, table.columns)
    pd.testing.assert_series_equal(decoded.dtypes, table.dtypes)
    assert decoded["grade"].dtype == table["grade"].dtype  # same categories, "never" included
    assert_observed_equal(table, decoded)
    assert decoded.notna().all().all()  # every cell decoded, the missing ones included
    assert set(decoded["grade"]) <= {"low", "mid", "high", "never"}


def test_round_trip_is_bit_exact_for_knot_values():
    table = mixed_frame()
    encoder = TableEncoder()
    decoded = encoder.inverse_transform(encoder.fit_transform(table).cells)
    observed = table["heavy"].notna()
    assert (decoded["heavy"][observed] == table["heavy"][observed]).all()  # including the 1e9 outlier
    assert (decoded["f32"][table["f32"].notna()] == table["f32"][table["f32"].notna()]).all()


def test_float_array_round_trip_with_categorical_position():
    rng = np.random.default_rng(1)
    array = np.column_stack([rng.lognormal(size=40), rng.integers(0, 3, 40), rng.normal(size=40)])
    array[rng.random(array.shape) < 0.1] = np.nan
    array[0] = [1.5, 2.0, 0.25]
    encoder = TableEncoder(categorical_columns=[1])
    encoded = encoder.fit_transform(array)
    assert encoded.column_kind.tolist() == [ColumnKind.NUMERIC, ColumnKind.CATEGORICAL, ColumnKind.NUMERIC]
    decoded = encoder.inverse_transform(encoded.cells.numpy())  # ndarray cells work too
    assert isinstance(decoded, np.ndarray) and decoded.dtype == array.dtype and decoded.shape == array.shape
    observed = ~np.isnan(array)
    np.testing.assert_allclose(decoded[observed], array[observed], rtol=1e-6, atol=0)
    assert set(encoder.category_probabilities(encoded.cells)) == {1}


def test_int_and_float32_arrays_keep_their_dtype():
    rng = np.random.default_rng(2)
    ints = rng.integers(-50, 50, (30, 3))
    decoded = TableEncoder().fit(ints).inverse_transform(TableEncoder().fit_transform(ints).cells)
    assert decoded.dtype == ints.dtype
    np.testing.assert_array_equal(decoded, ints)
    floats = rng.normal(size=(30, 2)).astype(np.float32)
    encoder = TableEncoder()
    decoded = encoder.inverse_transform(encoder.fit_transform(floats).cells)
    assert decoded.dtype == np.float32
    np.testing.assert_array_equal(decoded, floats)


def test_statistics_use_observed_cells_only():
    rng = np.random.default_rng(3)
    values = rng.normal(size=80)
    hidden = rng.random(80) < 0.3
    with_nan = pd.DataFrame({"x": np.where(hidden, np.nan, values)})
    observed_only = pd.DataFrame({"x": values[~hidden]})
    cells_nan = TableEncoder().fit(with_nan).transform(observed_only).cells
    cells_observed = TableEncoder().fit(observed_only).transform(observed_only).cells
    torch.testing.assert_close(cells_nan, cells_observed, rtol=0, atol=0)
    # sanity: a fill value that did take part in fitting would move the codes of the observed cells
    filled = pd.DataFrame({"x": np.where(hidden, 1e12, values)})
    assert not torch.equal(TableEncoder().fit(filled).transform(observed_only).cells, cells_observed)


def test_outlier_does_not_squash_the_bulk():
    rng = np.random.default_rng(4)
    bulk = rng.normal(size=500)
    with_outlier = bulk.copy()
    with_outlier[0] = 1e9

    def encoded_iqr(values: np.ndarray) -> float:
        codes = TableEncoder().fit_transform(pd.DataFrame({"x": values})).cells[1:, 0, 0].numpy()
        q1, q3 = np.quantile(codes, [0.25, 0.75])
        return float(q3 - q1)

    assert encoded_iqr(with_outlier) == pytest.approx(encoded_iqr(bulk), rel=0.02)
    assert encoded_iqr(bulk) == pytest.approx(1.349, rel=0.05)  # IQR of a standard normal


def test_encoded_table_fields_shapes_dtypes_and_masks():
    table = mixed_frame()
    encoder = TableEncoder(max_categories=8)
    encoded = encoder.fit_transform(table)
    n_rows, n_cols = table.shape
    assert isinstance(encoded, EncodedTable)
    assert encoded.cells.shape == (n_rows, n_cols, 8) and encoded.cells.dtype == torch.float32
    assert encoded.known_mask.shape == (n_rows, n_cols) and encoded.known_mask.dtype == torch.bool
    assert encoded.channel_mask.shape == (n_cols, 8) and encoded.channel_mask.dtype == torch.bool
    assert encoded.column_kind.dtype == torch.long and encoded.n_categories.dtype == torch.long
    kinds = [ColumnKind.NUMERIC] * 4 + [ColumnKind.CATEGORICAL] * 5
    assert encoded.column_kind.tolist() == kinds
    assert encoded.n_categories.tolist() == [0, 0, 0, 0, 2, 2, 4, 3, 2]
    assert encoder.categories_["grade"] == ["low", "mid", "high", "never"]
    assert encoder.categories_["colour"] == ["blue", "green", "red"]
    expected_channels = torch.arange(8)[None, :] < torch.tensor([1, 1, 1, 1, 2, 2, 4, 3, 2])[:, None]
    assert torch.equal(encoded.channel_mask, expected_channels)
    # unused channels are exactly 0, used channels of categorical cells are +-1 or 0 (missing)
    assert (encoded.cells[:, ~expected_channels] == 0).all()
    categorical = encoded.cells[:, 4:, :]
    assert torch.isin(categorical, torch.tensor([-1.0, 0.0, 1.0])).all()


def test_missing_cells_are_zero_and_unknown():
    table = mixed_frame()
    encoded = TableEncoder().fit_transform(table)
    expected_known = torch.from_numpy(table.notna().to_numpy())
    assert torch.equal(encoded.known_mask, expected_known)
    assert not torch.isnan(encoded.cells).any()
    assert (encoded.cells[~encoded.known_mask] == 0).all()
    # each observed categorical cell has exactly one +1
    plus_ones = (encoded.cells[:, 4:, :] == 1).sum(-1)
    assert torch.equal(plus_ones, encoded.known_mask[:, 4:].long())


def test_category_probabilities_sum_to_one_and_recover_observed_one_hot():
    table = mixed_frame()
    encoder = TableEncoder()
    encoded = encoder.fit_transform(table)
    probabilities = encoder.category_probabilities(encoded.cells)
    assert list(probabilities) == ["flag", "nullable_flag", "grade", "colour", "answer"]
    for name, probs in probabilities.items():
        assert probs.shape == (N_ROWS, len(encoder.categories_[name]))
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)
        observed = table[name].notna().to_numpy()
        truth = [encoder.categories_[name].index(value) for value in table[name][observed]]
        np.testing.assert_allclose(probs[observed, truth], 1.0, atol=1e-5)
        missing_rows = probs[~observed]  # all-zero channels give the uniform distribution
        np.testing.assert_allclose(missing_rows, 1.0 / probs.shape[1])


def test_decoding_noisy_model_outputs():
    table = mixed_frame()
    encoder = TableEncoder()
    encoded = encoder.fit_transform(table)
    noise = 0.3 * torch.randn(encoded.cells.shape, generator=torch.Generator().manual_seed(0))
    noisy = encoded.cells * 0.7 + noise * encoded.channel_mask  # a soft x0 estimate
    decoded = encoder.inverse_transform(noisy)
    pd.testing.assert_series_equal(decoded.dtypes, table.dtypes)
    assert decoded["count"].between(table["count"].min(), table["count"].max()).all()  # saturates
    assert set(decoded["colour"]) <= {"blue", "green", "red"}
    far = encoded.cells.clone()
    far[:, 0, 0] = torch.linspace(-50, 50, N_ROWS)
    heavy = encoder.inverse_transform(far)["heavy"]
    assert heavy.min() == table["heavy"].min() and heavy.max() == table["heavy"].max()


def test_forced_categorical_int_column_and_constant_column():
    frame = pd.DataFrame({"level": [3, 1, 2, 3, 1, 1], "constant": [7.5] * 6})
    encoder = TableEncoder(categorical_columns=["level"])
    encoded = encoder.fit_transform(frame)
    assert encoder.categories_["level"] == [1, 2, 3]
    assert (encoded.cells[:, 1, 0] == 0).all()
    pd.testing.assert_frame_equal(encoder.inverse_transform(encoded.cells), frame)


def test_more_distinct_values_than_quantiles_and_clipped_knots():
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"x": rng.normal(size=3000) * 10 + 100})
    for encoder in (TableEncoder(n_quantiles=50), TableEncoder(clip=1.0)):  # clip=1 merges many tail knots
        encoded = encoder.fit_transform(frame)
        assert encoded.cells[:, 0, 0].abs().max() <= encoder.clip
        decoded = encoder.inverse_transform(encoded.cells)
        # off-knot values are exact up to float32 resolution of the code times the local slope
        np.testing.assert_allclose(decoded["x"], frame["x"], rtol=0, atol=1e-4 * frame["x"].std())


def test_transform_new_rows_and_explicit_index():
    table = mixed_frame()
    encoder = TableEncoder().fit(table)
    subset = table.iloc[10:20]
    decoded = encoder.inverse_transform(encoder.transform(subset).cells, index=subset.index)
    pd.testing.assert_index_equal(decoded.index, subset.index)
    assert_observed_equal(subset, decoded)
    assert isinstance(encoder.inverse_transform(encoder.transform(subset).cells).index, pd.RangeIndex)


def test_input_is_not_modified():
    table = mixed_frame()
    original = table.copy(deep=True)
    encoder = TableEncoder()
    encoder.inverse_transform(encoder.fit_transform(table).cells)
    pd.testing.assert_frame_equal(table, original)
    array = np.array([[1.0, np.nan], [2.0, 3.0], [np.nan, 4.0]])
    array_copy = array.copy()
    TableEncoder().fit_transform(array)
    np.testing.assert_array_equal(array, array_copy)


# --- bad input: every error names the column and says what to do ---------------------------------------


def small_frame(**columns: object) -> pd.DataFrame:
    return pd.DataFrame({"ok": [1.0, 2.0, 3.0], **columns})


@pytest.mark.parametrize(
    ("frame", "column", "advice"),
    [
        (small_frame(spiky=[1.0, np.inf, 2.0]), "spiky", "NaN"),
        (small_frame(spiky_obj=np.array(["a", -np.inf, "b"], dtype=object)), "spiky_obj", "NaN"),
        (small_frame(empty=[np.nan, np.nan, np.nan]), "empty", "drop it"),
        (
            small_frame(empty_str=pd.Series([None, None, None], dtype="str").to_numpy()),
            "empty_str",
            "drop it",
        ),
        (small_frame(nested=np.array([[1], {"a": 1}, [2]], dtype=object)), "nested", "flatten"),
        (small_frame(waves=np.array([1 + 1j, 2j, 3.0])), "waves", "real and imaginary"),
        (small_frame(span=pd.period_range("2020-01", periods=3, freq="M")), "span", "to_timestamp"),
    ],
)
def test_bad_columns_raise_naming_the_column(frame: pd.DataFrame, column: str, advice: str):
    with pytest.raises(ValueError, match=column) as error:
        TableEncoder(max_categories=1).fit(frame)
    assert advice in str(error.value)


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(pd.to_datetime(["2020-01-01", "2021-06-30", None, "2019-02-03"])),
        pd.Series(pd.to_datetime(["2020-01-01 10:00", "2021-06-30 23:00", None, "2020-03-29 03:00"])).dt.tz_localize(
            "Europe/Paris", nonexistent="shift_forward"
        ),
        pd.Series(pd.to_datetime(["2020-01-01 10:00:01", None, "2020-01-02 11:00:07", "2020-01-01 00:00:00"])).astype(
            "datetime64[s]"
        ),
        pd.Series(pd.to_timedelta([1.5, None, 3.0, 90.0], unit="min")),
    ],
)
def test_dates_and_durations_round_trip_in_their_dtype_and_step(column: pd.Series):
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "t": column})
    encoder = TableEncoder().fit(frame)
    assert encoder.column_kind_["t"] == ColumnKind.NUMERIC
    decoded = encoder.inverse_transform(encoder.transform(frame).cells)
    assert decoded["t"].dtype == column.dtype  # unit and time zone kept
    known = column.notna()
    pd.testing.assert_series_equal(decoded["t"][known], column[known], check_names=False)
    step = encoder.temporal_["t"].step
    filled = encoder.decode_numbers("t", np.array([0.3, -0.7]))  # between knots: rounded to the step
    assert filled.dtype == column.dtype and (filled.asi8 % step == 0).all()


def test_a_date_column_decodes_to_dates():
    column = pd.Series(pd.to_datetime(["2020-01-01", "2021-06-30", "2019-02-03", "2022-12-24"]))
    encoder = TableEncoder().fit(pd.DataFrame({"d": column}))
    values = pd.Series(encoder.decode_numbers("d", np.linspace(-1, 1, 7)))
    assert (values == values.dt.normalize()).all()  # midnight: whole days


def test_a_stray_word_in_a_numeric_column_is_named_with_its_row():
    values = [f"{v:.2f}" for v in np.linspace(0, 9, 30)]
    values[7] = "oops"
    with pytest.raises(ValueError, match=r"column 'n' holds numbers.*'oops' in row 7.*non_numeric='missing'"):
        TableEncoder().fit(pd.DataFrame({"n": values}))


def test_numbers_written_as_text_are_numeric():
    frame = pd.DataFrame({"n": np.array([str(v) for v in np.linspace(0, 1, 30)] + [None], dtype=object)})
    encoder = TableEncoder().fit(frame)
    assert encoder.column_kind_["n"] == ColumnKind.NUMERIC
    assert TableEncoder().fit(pd.DataFrame({"n": ["1", "2", "1"]})).column_kind_["n"] == ColumnKind.CATEGORICAL


def test_more_categories_than_channels_share_an_other_channel():
    rng = np.random.default_rng(0)
    levels = [f"c{k:02d}" for k in range(40)]
    weights = np.r_[np.full(10, 5.0), np.ones(30)]
    frame = pd.DataFrame({"city": rng.choice(levels, size=400, p=weights / weights.sum())})
    encoder = TableEncoder(max_categories=16).fit(frame)
    assert encoder.categories_["city"] == levels and int(encoder._n_categories()[0]) == 16
    rare = encoder.rare_levels("city")
    assert rare.sum() == 25 and not rare[:10].any()  # the ten frequent ones keep a channel each
    encoded = encoder.transform(frame)
    assert (encoded.cells[:, 0, :16].abs() == 1).all()  # one-hot over all 16 channels
    decoded = encoder.inverse_transform(encoded.cells)["city"]
    kept = ~rare[pd.Index(levels).get_indexer(frame["city"])]
    assert (decoded[kept] == frame["city"][kept]).all()  # frequent categories round trip
    proba = encoder.category_probabilities(encoded.cells)["city"]  # (rows, 40)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    other = proba[~kept][:, rare]  # a one-hot "other" cell: all its mass on the rare categories, by count + 1
    assert (other.sum(axis=1) > 0.99).all()
    counts = encoder.frequency_["city"][rare] + 1.0
    np.testing.assert_allclose(other[0] / other[0].sum(), counts / counts.sum(), rtol=1e-6)


def test_duplicate_and_empty_tables():
    duplicated = pd.DataFrame([[1.0, 2.0]], columns=["twin", "twin"])
    with pytest.raises(ValueError, match="twin"):
        TableEncoder().fit(duplicated)
    with pytest.raises(ValueError, match="empty"):
        TableEncoder().fit(pd.DataFrame({"x": pd.Series([], dtype=float)}))
    with pytest.raises(ValueError, match="empty"):
        TableEncoder().fit(pd.DataFrame(index=range(3)))
    with pytest.raises(ValueError, match="object"):
        TableEncoder().fit(np.array([["a", 1]], dtype=object))
    with pytest.raises(ValueError, match="ghost"):
        TableEncoder(categorical_columns=["ghost"]).fit(small_frame())


def test_transform_with_other_columns_names_them():
    encoder = TableEncoder().fit(small_frame(b=[1, 2, 3]))
    with pytest.raises(ValueError, match=r"missing \['b'\], extra \['c'\]"):
        encoder.transform(small_frame(c=[1, 2, 3]))
    with pytest.raises(ValueError, match="order"):
        encoder.transform(small_frame(b=[1, 2, 3])[["b", "ok"]])
    with pytest.raises(ValueError, match="'b' was numeric"):
        encoder.transform(small_frame(b=["x", "y", "z"]))


def test_unseen_category_raises_naming_column_and_values():
    encoder = TableEncoder().fit(small_frame(pet=["cat", "dog", None]))
    with pytest.raises(ValueError, match=r"'pet'.*\['emu'\]"):
        encoder.transform(small_frame(pet=["cat", "emu", "dog"]))
    encoder.transform(small_frame(pet=[None, "dog", "dog"]))  # missing is fine


def test_bad_cells_are_refused():
    encoder = TableEncoder().fit(small_frame())
    with pytest.raises(ValueError, match="shape"):
        encoder.inverse_transform(torch.zeros(3, 1, 4))
    with pytest.raises(ValueError, match="NaN"):
        encoder.inverse_transform(torch.full((3, 1, 16), float("nan")))
