"""Tables from and to the files users have: CSV in any common dialect, Parquet, Feather and Excel.

CSV dialects: without `sep`, the separator is sniffed from the start of the file among `,` `;` tab and `|`
(`csv.Sniffer`), and a separator other than `,` with numbers written `1,5` means a decimal comma; text
columns of ISO 8601 dates ("2020-01-31", "2020-01-31 12:00:00+01:00") are read as dates. A file that
still parses to one column while its first line holds one of those separators gets a warning naming
`--sep`. The dialect read is remembered (`TableFile`) so that results are written back the same way.
"""

from __future__ import annotations

import csv
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pandas.api import types as ptypes

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
SUFFIXES = (*CSV_SUFFIXES, ".parquet", ".feather", ".xlsx", ".xls")
SEPARATORS = ",;\t|"
SNIFF_BYTES = 64 * 1024
_ISO_DATE = re.compile(r"^\s*\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?\s*$")
_DECIMAL_COMMA = re.compile(r"(?:^|[;\t|])\s*-?\d+,\d+\s*(?=[;\t|]|$)", re.MULTILINE)


@dataclass(frozen=True)
class TableFile:
    """A table read from a file, and the CSV dialect it was written in (None for other formats)."""

    frame: pd.DataFrame
    sep: str | None = None
    decimal: str = "."


def sniff_csv(path: Path, sep: str | None, decimal: str | None) -> tuple[str, str]:
    """The (separator, decimal mark) of a CSV file; given values are kept, missing ones sniffed."""
    with open(path, newline="", encoding="utf-8", errors="replace") as handle:
        sample = handle.read(SNIFF_BYTES)
    if sep is None:
        if path.suffix == ".tsv":
            sep = "\t"
        else:
            lines = sample.splitlines()
            complete = "\n".join(lines[:-1] if len(lines) > 1 else lines)  # the last line may be cut
            try:
                sep = csv.Sniffer().sniff(complete, delimiters=SEPARATORS).delimiter
            except csv.Error:
                sep = ","
    if decimal is None:
        decimal = "," if sep != "," and _DECIMAL_COMMA.search(sample) else "."
    return sep, decimal


def read_table(path: str | Path, *, sep: str | None = None, decimal: str | None = None) -> TableFile:
    """Read a .csv / .tsv / .txt (dialect sniffed unless given), .parquet, .feather or .xlsx / .xls table."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = file.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{path}: expected one of {', '.join(SUFFIXES)} (got {file.suffix or 'no suffix'})")
    if suffix == ".parquet":
        return TableFile(pd.read_parquet(file))
    if suffix == ".feather":
        return TableFile(pd.read_feather(file))
    if suffix in (".xlsx", ".xls"):
        return TableFile(_read_excel(file))
    sep, decimal = sniff_csv(file, sep, decimal)
    try:
        frame = pd.read_csv(file, sep=sep, decimal=decimal)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty: no header and no rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} could not be parsed with sep={sep!r} ({str(err).splitlines()[0]}); "
                         f"pass the separator with --sep") from None  # fmt: skip
    frame = _parse_iso_dates(frame)
    if frame.shape[1] == 1:
        header = str(frame.columns[0])
        others = [s for s in SEPARATORS if s != sep and s in header]
        if others:
            warnings.warn(
                f"{path} parsed to one column with sep={sep!r}, but its header holds {others[0]!r}: if that is the "
                f"separator, pass --sep {others[0]!r} (sep= in Python)",
                UserWarning,
                stacklevel=2,
            )
    return TableFile(frame, sep, decimal)


def _parse_iso_dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns whose every value is an ISO 8601 date or timestamp ("2020-01-31", "2020-01-31 12:00",
    with or without an offset) become datetime64 columns; others are left as they are."""
    out = frame
    for name in frame.columns:
        column = frame[name]
        if not ptypes.is_object_dtype(column.dtype) and not ptypes.is_string_dtype(column.dtype):
            continue
        observed = column.dropna()
        if observed.empty or not observed.map(lambda v: isinstance(v, str) and bool(_ISO_DATE.match(v))).all():
            continue
        try:
            parsed = pd.to_datetime(column, format="ISO8601")
        except (ValueError, TypeError):  # mixed offsets, impossible dates: leave the text as it is
            continue
        out = out.copy() if out is frame else out
        out[name] = parsed
    return out


def _read_excel(file: Path) -> pd.DataFrame:
    try:
        return pd.read_excel(file)
    except ImportError as err:
        raise ValueError(f"{file}: reading Excel files needs openpyxl: pip install 'tabdiff[excel]' ({err})") from None


def write_table(frame: pd.DataFrame, path: str | Path, *, like: TableFile | None = None) -> None:
    """Write `frame` by the suffix of `path`; a CSV keeps the separator and decimal mark of `like` when given."""
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in (".csv", ".tsv", ".parquet", ".feather", ".xlsx"):
        raise ValueError(f"output {path}: expected a .csv, .tsv, .parquet, .feather or .xlsx file name")
    if not file.parent.is_dir():
        raise FileNotFoundError(f"output folder {file.parent} does not exist")
    if suffix == ".parquet":
        frame.to_parquet(file)
    elif suffix == ".feather":
        frame.reset_index(drop=True).to_feather(file)
    elif suffix == ".xlsx":
        try:
            frame.to_excel(file, index=False)
        except ImportError as err:
            raise ValueError(f"writing {path} needs openpyxl: pip install 'tabdiff[excel]' ({err})") from None
    else:
        sep = "\t" if suffix == ".tsv" else (like.sep if like is not None and like.sep else ",")
        decimal = like.decimal if like is not None else "."
        frame.to_csv(file, index=False, sep=sep, decimal=decimal)
