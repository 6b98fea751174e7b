"""The bundled tables: each loads as the manifest describes it, is encodable, and the splits share no data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabdiff.data import (
    BundledTable,
    bundled_tables,
    column_fingerprints,
    content_hash,
    read_manifest,
    row_hashes,
    tables_dir,
)
from tabdiff.encoding import TableEncoder

ENTRIES = read_manifest()
ALL = bundled_tables("all")


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return {table.name: table.load() for table in ALL}


def test_manifest_describes_a_varied_bundle():
    splits = pd.Series([entry.split for entry in ENTRIES])
    assert 20 <= len(ENTRIES) <= 40
    assert 12 <= (splits == "heldout").sum() <= 16
    heldout_tasks = {entry.task for entry in ENTRIES if entry.split == "heldout"}
    assert {"classification", "regression"} <= heldout_tasks
    assert all(entry.n_rows <= 3000 and entry.n_cols <= 40 for entry in ENTRIES)
    assert all(entry.license and entry.source for entry in ENTRIES)


def test_bundle_is_small_and_has_no_stray_files():
    folder = tables_dir()
    parquet = {path.name for path in folder.glob("*.parquet")}
    assert parquet == {entry.file for entry in ENTRIES}
    total = sum(path.stat().st_size for path in folder.iterdir() if path.is_file())
    assert total < 10 * 2**20


def test_split_selection():
    pretrain, heldout = bundled_tables("pretrain"), bundled_tables("heldout")
    assert len(pretrain) + len(heldout) == len(ALL)
    assert {t.entry.split for t in pretrain} == {"pretrain"} and {t.entry.split for t in heldout} == {"heldout"}
    with pytest.raises(ValueError, match="split must be one of"):
        bundled_tables("test")  # type: ignore[arg-type]


@pytest.mark.parametrize("table", ALL, ids=lambda t: t.name)
def test_table_matches_its_manifest_row(table: BundledTable, frames):
    frame, entry = frames[table.name], table.entry
    assert frame.shape == (entry.n_rows, entry.n_cols)
    assert content_hash(frame) == entry.content_hash
    assert frame.columns.is_unique and all(isinstance(c, str) for c in frame.columns)
    if entry.target is not None:
        assert entry.target in frame.columns
        if entry.task == "classification":
            assert isinstance(frame[entry.target].dtype, pd.CategoricalDtype)
        else:
            assert pd.api.types.is_numeric_dtype(frame[entry.target].dtype)
    # text is stored as category (the build script's rule), so the model sees a fixed category list
    assert not any(pd.api.types.is_string_dtype(dtype) for dtype in frame.dtypes)


@pytest.mark.parametrize("table", ALL, ids=lambda t: t.name)
def test_table_is_encodable(table: BundledTable, frames):
    frame = frames[table.name]
    encoded = TableEncoder(max_categories=16).fit_transform(frame)
    assert encoded.cells.shape == (*frame.shape, 16)
    np.testing.assert_array_equal(encoded.known_mask.numpy(), frame.notna().to_numpy())


def test_some_tables_have_missing_values_and_categoricals(frames):
    heldout = [t.name for t in ALL if t.entry.split == "heldout"]
    with_missing = [name for name in heldout if frames[name].isna().any().any()]
    with_categories = [name for name in heldout if any(isinstance(d, pd.CategoricalDtype) for d in frames[name].dtypes)]
    assert len(with_missing) >= 3 and len(with_categories) >= 3


def test_heldout_tables_share_no_content_with_pretraining(frames):
    pretrain = [t.name for t in ALL if t.entry.split == "pretrain"]
    heldout = [t.name for t in ALL if t.entry.split == "heldout"]
    pretrain_hashes = {content_hash(frames[name]) for name in pretrain}
    assert not pretrain_hashes & {content_hash(frames[name]) for name in heldout}
    pretrain_rows = np.unique(np.concatenate([row_hashes(frames[name]) for name in pretrain]))
    fingerprints = {fp: name for name in pretrain for fp in column_fingerprints(frames[name]).values()}
    for name in heldout:
        shared_rows = np.isin(row_hashes(frames[name]), pretrain_rows).mean()
        assert shared_rows <= 0.01, f"{name}: {shared_rows:.1%} of its rows are in pretraining tables"
        # the same data published twice (other column names, other columns beside it) shares whole columns
        shared_columns = {
            column: fingerprints[fp] for column, fp in column_fingerprints(frames[name]).items() if fp in fingerprints
        }
        assert not shared_columns, f"{name}: columns {shared_columns} also appear in pretraining tables"


def test_content_hash_ignores_row_order_names_and_storage_dtype():
    frame = pd.DataFrame({"a": [1, 2, 3], "b": pd.Categorical(["x", None, "y"])})
    shuffled = frame.iloc[[2, 0, 1]].reset_index(drop=True)
    renamed = frame.rename(columns={"a": "A"})
    # "str": pandas 3's text dtype; before pandas 3, astype("str") writes the missing cell as the text "nan"
    text = "str" if int(pd.__version__.split(".")[0]) >= 3 else "string"
    stored_otherwise = frame.astype({"a": "float64", "b": text})
    assert content_hash(frame) == content_hash(shuffled) == content_hash(renamed) == content_hash(stored_otherwise)
    changed = frame.assign(a=[1, 2, 4])
    assert content_hash(changed) != content_hash(frame)
    assert np.isin(row_hashes(changed), row_hashes(frame)).sum() == 2  # one row differs


def test_bundled_table_refuses_a_file_that_does_not_match_the_manifest(tmp_path):
    entry = next(t.entry for t in ALL if t.name == "iris")
    pd.read_parquet(tables_dir() / entry.file).head(10).to_parquet(tmp_path / entry.file)
    with pytest.raises(Exception, match="iris.*rebuild"):
        BundledTable(entry, tmp_path).load()
