"""OpenML and Hugging Face sources, with every fetch replaced: no test here touches the network."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pandas as pd
import pytest

from tabdiff.data import HuggingFaceTable, OpenMLTable, TableLoadError, load_tables, remote, resolve_cache_dir


def _table() -> pd.DataFrame:
    return pd.DataFrame({"age": [31.0, 45.0, None], "job": pd.Categorical(["a", "b", "a"]), "y": [0, 1, 1]})


class _CountingFetch:
    """Stands in for a fetch function; counts calls and records their arguments."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple, dict]] = []

    def __call__(self, *args, **kwargs) -> pd.DataFrame:
        self.calls.append((args, kwargs))
        return _table()


def test_cache_dir_argument_then_env_then_default(monkeypatch, tmp_path):
    monkeypatch.delenv("TABDIFF_CACHE", raising=False)
    assert resolve_cache_dir() == Path("~/.cache/tabdiff/tables").expanduser()
    monkeypatch.setenv("TABDIFF_CACHE", str(tmp_path / "env"))
    assert resolve_cache_dir() == tmp_path / "env"
    assert resolve_cache_dir(tmp_path / "arg") == tmp_path / "arg"


def test_openml_second_load_reads_the_cache(monkeypatch, tmp_path):
    fetch = _CountingFetch()
    monkeypatch.setattr(remote, "fetch_openml_frame", fetch)
    source = OpenMLTable(31, cache_dir=tmp_path)
    first = source.load()
    second = OpenMLTable(31, cache_dir=tmp_path).load()  # a new source: the cache is on disk, not in memory
    assert len(fetch.calls) == 1 and fetch.calls[0][0] == (31,)
    assert source.cache_path.is_file() and source.cache_path.is_relative_to(tmp_path)
    pd.testing.assert_frame_equal(first, _table())
    pd.testing.assert_frame_equal(second, _table())  # category stays category through the Parquet cache


def test_env_var_moves_the_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(remote, "fetch_openml_frame", _CountingFetch())
    monkeypatch.setenv("TABDIFF_CACHE", str(tmp_path))
    OpenMLTable(7).load()
    assert list(tmp_path.glob("openml/*.parquet"))


def test_hf_second_load_reads_the_cache_and_selects_columns(monkeypatch, tmp_path):
    fetch = _CountingFetch()
    monkeypatch.setattr(remote, "fetch_hf_frame", fetch)
    source = HuggingFaceTable("someone/tabular", "small", split="test", columns=["y", "age"], cache_dir=tmp_path)
    assert source.name == "hf:someone/tabular:small:test"
    assert list(source.load().columns) == ["y", "age"]
    everything = HuggingFaceTable("someone/tabular", "small", split="test", cache_dir=tmp_path).load()
    assert len(fetch.calls) == 1
    assert fetch.calls[0][0] == ("someone/tabular",) and fetch.calls[0][1]["split"] == "test"
    pd.testing.assert_frame_equal(everything, _table())
    with pytest.raises(TableLoadError, match="no column.*'nope'"):
        HuggingFaceTable("someone/tabular", "small", split="test", columns=["nope"], cache_dir=tmp_path).load()


def test_sources_build_without_fetching(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("building a source must not fetch")

    monkeypatch.setattr(remote, "fetch_openml_frame", no_network)
    monkeypatch.setattr(remote, "fetch_hf_frame", no_network)
    assert OpenMLTable(61).name == "openml:61"
    assert HuggingFaceTable("a/b").name == "hf:a/b:train"
    assert OpenMLTable(61, name="iris-openml").name == "iris-openml"


def test_openml_offline_error_names_the_dataset(monkeypatch, tmp_path):
    # replace scikit-learn's client itself, so the real fetch_openml_frame wiring runs
    def offline(**kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr("sklearn.datasets.fetch_openml", offline)
    with pytest.raises(TableLoadError, match=r"'openml:40945'.*OpenML dataset id 40945.*Name or service"):
        OpenMLTable(40945, cache_dir=tmp_path).load()
    assert not list(tmp_path.rglob("*.parquet"))  # a failed fetch leaves nothing that looks cached


def test_hf_offline_error_names_the_dataset(monkeypatch, tmp_path):
    datasets = pytest.importorskip("datasets")

    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'someone/tabular' on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(TableLoadError, match=r"'hf:someone/tabular:train'.*someone/tabular.*Couldn't reach"):
        HuggingFaceTable("someone/tabular", cache_dir=tmp_path).load()


def test_load_tables_skips_an_unreachable_remote_table(monkeypatch, tmp_path, caplog):
    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(remote, "fetch_openml_frame", offline)
    monkeypatch.setattr(remote, "fetch_hf_frame", _CountingFetch())
    sources = [OpenMLTable(31, cache_dir=tmp_path), HuggingFaceTable("a/b", cache_dir=tmp_path)]
    assert list(load_tables(sources, on_error="skip")) == ["hf:a/b:train"]
    assert any("openml:31" in record.getMessage() for record in caplog.records)
    with pytest.raises(TableLoadError, match="openml:31"):
        load_tables(sources, on_error="raise")


def test_unwritable_cache_still_returns_the_table(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(remote, "fetch_openml_frame", lambda *a, **k: pd.DataFrame({"x": [[1, 2], {"a": 1}]}))
    frame = OpenMLTable(5, cache_dir=tmp_path).load()  # mixed list/dict cells: Parquet refuses them
    assert len(frame) == 2
    assert any("could not be cached" in record.getMessage() for record in caplog.records)
