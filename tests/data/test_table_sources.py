"""Local file sources, ``load_tables`` error handling, ``collect_sources`` and the Hydra source configs."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tabdiff.data import (
    BundledTable,
    HuggingFaceTable,
    LocalFileTable,
    OpenMLTable,
    TableLoadError,
    TableSource,
    collect_sources,
    load_tables,
)

CONF = Path(__file__).resolve().parents[2] / "conf" / "data" / "sources"


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [0.5, None, 2.25, -1.0],
            "n": [1, 2, 3, 4],
            "colour": pd.Series(["red", "blue", None, "red"], dtype="str"),
        }
    )


class _Named:
    """A minimal source: returns ``frame`` or raises ``error``."""

    def __init__(self, name: str, frame: pd.DataFrame | None = None, error: Exception | None = None) -> None:
        self.name, self.frame, self.error = name, frame, error

    def load(self) -> pd.DataFrame:
        if self.error is not None:
            raise self.error
        return self.frame


def test_parquet_round_trip_keeps_dtypes(tmp_path):
    frame = _table().assign(colour=lambda f: f["colour"].astype("category"))
    frame.to_parquet(tmp_path / "t.parquet", index=False)
    source = LocalFileTable(tmp_path / "t.parquet")
    assert source.name == "t" and isinstance(source, TableSource)
    pd.testing.assert_frame_equal(source.load(), frame)


def test_csv_round_trip(tmp_path):
    _table().to_csv(tmp_path / "t.csv.gz", index=False)
    loaded = LocalFileTable(tmp_path / "t.csv.gz", name="mine").load()
    pd.testing.assert_frame_equal(loaded, _table())


def test_local_file_errors_name_the_table(tmp_path):
    with pytest.raises(TableLoadError, match="'gone'.*no file"):
        LocalFileTable(tmp_path / "gone.csv").load()
    (tmp_path / "t.txt").write_text("a\n1\n")
    with pytest.raises(TableLoadError, match="format='csv'"):
        LocalFileTable(tmp_path / "t.txt").load()
    assert LocalFileTable(tmp_path / "t.txt", format="csv").load().shape == (1, 1)


def test_load_tables_skips_a_failing_source_and_warns_with_its_name(caplog):
    good = _Named("good", _table())
    bad = _Named("broken-one", error=OSError("disk on fire"))
    with caplog.at_level(logging.WARNING, logger="tabdiff.data"):
        tables = load_tables([bad, good], on_error="skip")
    assert list(tables) == ["good"]
    (record,) = [r for r in caplog.records if "broken-one" in r.getMessage()]
    assert "disk on fire" in record.getMessage()


def test_load_tables_raise_names_the_table():
    bad = _Named("broken-one", error=OSError("disk on fire"))
    with pytest.raises(TableLoadError, match="'broken-one'.*disk on fire"):
        load_tables([_Named("good", _table()), bad], on_error="raise")
    with pytest.raises(TableLoadError, match="'not-a-frame'.*list"):
        load_tables([_Named("not-a-frame", [1, 2])])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="on_error"):
        load_tables([], on_error="ignore")  # type: ignore[arg-type]


def test_collect_sources_flattens_and_refuses_duplicates():
    a, b, c = _Named("a"), _Named("b"), _Named("c")
    assert [s.name for s in collect_sources(a, [b, [c]])] == ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"\['a'\]"):
        collect_sources([a, b], a)
    with pytest.raises(TypeError, match="TableSource"):
        collect_sources([a, {"name": "x"}])


def test_bundled_pretrain_config_lists_every_pretraining_table():
    sources = instantiate(OmegaConf.load(CONF / "bundled_pretrain.yaml"))
    assert sources and all(isinstance(s, BundledTable) for s in sources)
    assert {s.entry.split for s in sources} == {"pretrain"}


def test_remote_example_config_builds_without_fetching(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("building a source must not fetch")

    monkeypatch.setattr("tabdiff.data.remote.fetch_openml_frame", no_network)
    monkeypatch.setattr("tabdiff.data.remote.fetch_hf_frame", no_network)
    sources = instantiate(OmegaConf.load(CONF / "remote_example.yaml"))
    kinds = {type(s) for s in sources}
    assert {BundledTable, OpenMLTable, HuggingFaceTable} <= kinds
    assert all(isinstance(s, TableSource) for s in sources)  # not turned into DictConfigs by OmegaConf
