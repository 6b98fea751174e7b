"""Where real tables come from: one small interface, ``TableSource`` (a ``name`` and a ``load()``).

A source is cheap to build and does its work only in ``load()``: a Hydra config can list sources that need
the network, and nothing is fetched until a table is actually wanted. Implementations:

- ``LocalFileTable`` (here): a CSV or Parquet file.
- ``BundledTable`` (``tabdiff.data.manifest``): a table shipped in ``data/tables/`` and listed in its manifest.
- ``HuggingFaceTable`` and ``OpenMLTable`` (``tabdiff.data.remote``): downloaded once, then read from a
  Parquet cache, so later loads need no network.

``load_tables`` loads many sources and, with ``on_error="skip"``, carries on past the ones that fail.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import pandas as pd

from tabdiff.data.errors import TableLoadError

logger = logging.getLogger(__name__)

OnError = Literal["raise", "skip"]
FileFormat = Literal["csv", "parquet"]


@runtime_checkable
class TableSource(Protocol):
    """Anything with a unique ``name`` and a ``load()`` that returns the table as a DataFrame."""

    @property
    def name(self) -> str: ...

    def load(self) -> pd.DataFrame: ...


class LocalFileTable:
    """A CSV or Parquet file on disk. Parquet keeps dtypes (category stays category); CSV gives str columns.

    Like every source here it is a plain class, not a dataclass: OmegaConf turns dataclass instances held in
    a config list into DictConfigs, so a Hydra-built list of sources would stop being sources.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        name: str | None = None,
        format: FileFormat | None = None,
        read_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.path = Path(path)
        self.name = name or self.path.name.split(".")[0]  # the file's name up to its first dot
        self.format = format  # defaults to the file's suffix
        self.read_options = dict(read_options or {})  # passed to pandas' reader

    def __repr__(self) -> str:
        return f"LocalFileTable({str(self.path)!r}, name={self.name!r})"

    def load(self) -> pd.DataFrame:
        path = Path(self.path).expanduser()
        if not path.is_file():
            raise TableLoadError(f"table {self.name!r}: no file at {path}")
        options = self.read_options
        file_format = self.format or _format_from_suffix(path, self.name)
        if file_format == "parquet":
            return pd.read_parquet(path, **options)
        return pd.read_csv(path, **options)


def _format_from_suffix(path: Path, name: str) -> FileFormat:
    suffixes = [s.lower() for s in path.suffixes]
    if ".parquet" in suffixes or ".pq" in suffixes:
        return "parquet"
    if ".csv" in suffixes:  # also .csv.gz and friends: pandas decompresses by suffix
        return "csv"
    raise TableLoadError(
        f"table {name!r}: cannot tell the format of {path.name}; pass format='csv' or format='parquet'"
    )


def load_tables(sources: Iterable[TableSource], *, on_error: OnError = "raise") -> dict[str, pd.DataFrame]:
    """Load every source, in order, into ``{name: DataFrame}``.

    ``on_error="raise"`` stops at the first failure with a ``TableLoadError`` that names the table;
    ``"skip"`` logs one warning per failed table (with its name and the reason) and goes on with the rest.
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    sources = collect_sources(sources)
    tables: dict[str, pd.DataFrame] = {}
    for source in sources:
        try:
            frame = source.load()
            if not isinstance(frame, pd.DataFrame):
                raise TypeError(f"load() returned a {type(frame).__name__}, not a pandas DataFrame")
        except Exception as error:  # any failure of one source must not hide which table it was
            reason = str(error) if isinstance(error, TableLoadError) else f"{type(error).__name__}: {error}"
            if on_error == "raise":
                if isinstance(error, TableLoadError):
                    raise
                raise TableLoadError(f"table {source.name!r} could not be loaded: {reason}") from error
            logger.warning("skipping table %r, which could not be loaded: %s", source.name, reason)
            continue
        tables[source.name] = frame
    if sources and not tables:
        logger.warning("none of the %d table sources could be loaded", len(sources))
    return tables


def collect_sources(*groups: TableSource | Iterable[Any]) -> list[TableSource]:
    """Flatten sources and (nested) lists of sources into one list, refusing duplicate names.

    Hydra configs use it to mix groups, e.g. every bundled pretraining table plus one OpenML table.
    """
    sources: list[TableSource] = []
    for group in groups:
        sources.extend(_flatten(group))
    names = [source.name for source in sources]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ValueError(f"table source name(s) {duplicated} appear more than once; give each source its own name")
    return sources


def user_tables(
    folder: str | Path | None = None, *, openml_ids: Iterable[int] = (), hf_datasets: Iterable[str] = ()
) -> list[TableSource]:
    """A user's table collection for fine-tuning: every .csv / .parquet file in `folder` (sorted by name),
    OpenML data sets by id and Hugging Face `datasets` repos (train split); the remote ones are fetched on
    first load and cached (`tabdiff.data.remote`)."""
    sources: list[TableSource] = []
    if folder is not None:
        root = Path(folder).expanduser()
        if not root.is_dir():
            raise ValueError(f"tables folder {str(root)!r} does not exist; pass a folder of .csv / .parquet files")
        files = sorted(p for p in root.iterdir() if p.is_file() and _is_table_file(p))
        if not files:
            raise ValueError(f"tables folder {str(root)!r} holds no .csv or .parquet file")
        sources += [LocalFileTable(path) for path in files]
    if openml_ids or hf_datasets:
        from tabdiff.data.remote import HuggingFaceTable, OpenMLTable

        sources += [OpenMLTable(int(i)) for i in openml_ids]
        sources += [HuggingFaceTable(repo) for repo in hf_datasets]
    if not sources:
        raise ValueError("no tables given: pass a folder, OpenML ids or Hugging Face datasets")
    return collect_sources(sources)


def _is_table_file(path: Path) -> bool:
    suffixes = [s.lower() for s in path.suffixes]
    return any(s in suffixes for s in (".csv", ".parquet", ".pq"))


def _flatten(group: object) -> list[TableSource]:
    if isinstance(group, TableSource):
        return [group]
    if isinstance(group, Iterable) and not isinstance(group, (str, bytes, Mapping)):
        return [source for item in group for source in _flatten(item)]
    raise TypeError(f"expected a TableSource (a `name` and a `load()`) or a list of them, got {group!r:.120}")
