"""Columns as users have them (issue 14): dates, durations, many categories, numbers written as text,
identifiers. Every filled cell has the column's dtype; observed cells come back bit-identical."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _tables import FAST

from tabdiff.encoding import TableEncoder
from tabdiff.inference import TabDiffClassifier, TabDiffImputer
from tabdiff.inference.rare import rare_shares

_spec = importlib.util.spec_from_file_location(
    "bench_categories", Path(__file__).resolve().parents[2] / "scripts" / "bench_categories.py"
)
BENCH = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(BENCH)


def _holes(frame: pd.DataFrame, columns: list[str], rate: float = 0.25, seed: int = 12345) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = frame.copy()
    for name in columns:
        holes = rng.random(len(out)) < rate
        holes[0] = False
        out.loc[holes, name] = None
    return out


def _check_filled(given: pd.DataFrame, filled: pd.DataFrame) -> None:
    assert list(filled.dtypes) == list(given.dtypes) and filled.index.equals(given.index)
    assert not filled.isna().any().any()
    known = given.notna()
    for name in given.columns:
        pd.testing.assert_series_equal(filled[name][known[name]], given[name][known[name]])


def test_dates_times_and_durations_are_filled_in_their_own_dtype():
    rng = np.random.default_rng(0)
    n = 40
    days = rng.integers(0, 2000, n)
    frame = pd.DataFrame(
        {
            "x": days / 100.0,
            "date": pd.Timestamp("2015-01-01") + pd.to_timedelta(days, unit="D"),
            "local": (pd.Timestamp("2020-03-01 08:00") + pd.to_timedelta(days, unit="h")).tz_localize("Europe/Paris"),
            "wait": pd.to_timedelta(days * 3, unit="min").astype("timedelta64[s]"),
            "flag": days % 2 == 0,
            "count": pd.array(days // 100, dtype="Int64"),
            "label": pd.array(np.where(days > 1000, "late", "early"), dtype="string"),
        }
    )
    given = _holes(frame, ["x", "date", "local", "wait", "count", "label"])
    before = given.copy()
    filled = TabDiffImputer(**FAST).fit_transform(given)
    pd.testing.assert_frame_equal(given, before)  # the input is untouched
    _check_filled(given, filled)
    assert (filled["date"] == filled["date"].dt.normalize()).all()  # a date column gets dates
    assert (filled["wait"].dt.total_seconds() % 60 == 0).all()  # whole minutes, as observed
    hidden = given["date"].isna()
    error_days = (filled["date"][hidden] - frame["date"][hidden]).dt.days.abs()
    assert error_days.median() < 0.5 * (frame["date"] - frame["date"].mean()).dt.days.abs().median()


def _city_table(n: int, seed: int) -> pd.DataFrame:
    """40 cities, each at its own place on a map (scripts/bench_categories.py measures the same table)."""
    return BENCH.cities(seed, n)


def test_the_nearest_rows_resolve_the_shared_channel():
    table = _city_table(600, 0)
    given = _holes(table, ["city"], rate=0.2)
    encoder = TableEncoder(max_categories=16, coded_categories=10).fit(given)
    rare = encoder.rare_levels("city")
    hidden = np.flatnonzero(given["city"].isna().to_numpy())
    truth = pd.Index(encoder.categories_["city"]).get_indexer(table["city"].to_numpy()[hidden])
    shares = rare_shares(encoder, encoder.transform(given), given["city"].to_numpy(dtype=object), 2, hidden)
    is_rare = rare[truth]
    picked = shares[is_rare].argmax(axis=1)
    frequency = encoder.channel_share("city")
    assert (picked == truth[is_rare]).mean() > 0.8  # the neighbours know the city
    assert (np.argmax(np.where(rare, frequency, 0)) == truth[is_rare]).mean() < 0.2  # the frequency split does not
    np.testing.assert_allclose(shares[:, rare].sum(axis=1), 1.0)
    assert (shares[:, ~rare] == 0).all()


def test_a_column_with_more_categories_than_channels_is_imputed_with_all_of_them():
    table = _city_table(300, 1)
    given = _holes(table, ["city", "lat"], rate=0.2)
    filled = TabDiffImputer(**FAST).fit_transform(given)
    _check_filled(given, filled)
    hidden = given["city"].isna()
    accuracy = (filled["city"][hidden] == table["city"][hidden]).mean()
    mode = (table["city"][hidden] == given["city"].mode()[0]).mean()
    assert accuracy > mode + 0.2, (accuracy, mode)


def test_classification_with_more_classes_than_channels():
    table = _city_table(400, 2)
    train, test = table.iloc[:300], table.iloc[300:]
    model = TabDiffClassifier(**FAST).fit(train[["lat", "lon"]], train["city"])
    proba = model.predict_proba(test[["lat", "lon"]])
    assert proba.shape == (100, len(model.classes_)) and len(model.classes_) > 16
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    accuracy = (model.predict(test[["lat", "lon"]]) == test["city"].to_numpy()).mean()
    mode = (test["city"] == train["city"].mode()[0]).mean()
    assert accuracy > 2 * mode, (accuracy, mode)


def _text_numbers(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    text = np.array([f"{2 * v + 1:.3f}" for v in x], dtype=object)
    text[[7, 12]] = ["oops", "n/a"]
    text[3] = None
    return pd.DataFrame({"x": x, "y": text})


def test_a_stray_word_in_a_column_of_numbers_is_named_with_its_row():
    with pytest.raises(ValueError, match=r"column 'y' holds numbers.*'oops' in row 7"):
        TabDiffImputer(**FAST).fit(_text_numbers())


def test_non_numeric_missing_fills_the_stray_cells_with_numbers():
    given = _text_numbers()
    with pytest.warns(UserWarning, match=r"'y' of X: 2 cell\(s\) that are not numbers"):
        filled = TabDiffImputer(non_numeric="missing", **FAST).fit_transform(given)
    assert filled["y"].dtype == given["y"].dtype  # text (object or str): the filled numbers are written into it
    for row in (3, 7, 12):
        assert np.isfinite(float(filled["y"][row]))
    kept = given["y"].notna() & ~given.index.isin([7, 12])
    assert (filled["y"][kept] == given["y"][kept]).all()  # the text of the numbers, untouched


def test_identifier_columns_are_passed_through():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"id": [f"user-{k:04d}" for k in rng.permutation(60)], "x": rng.normal(size=60)})
    frame["y"] = 2 * frame["x"]
    given = _holes(frame, ["id", "y"])
    with pytest.warns(UserWarning, match=r"\['id'\].*passed through"):
        filled = TabDiffImputer(**FAST).fit_transform(given)
    pd.testing.assert_series_equal(filled["id"], given["id"])  # gaps kept: there is nothing to infer
    assert not filled["y"].isna().any()
