"""Tables from and to the files users have: CSV in any common dialect, Parquet, Feather and Excel.

CSV dialects: without `sep`, the separator is sniffed from the start of the file among `,` `;` tab and `|`
(`csv.Sniffer`), and a separator other than `,` with numbers written `1,5` means a decimal comma. The text
is UTF-8 (a byte-order mark is dropped), else Windows-1252 (Latin-1 and its superset); `.gz`, `.bz2`,
`.xz` and `.zip` compressed CSV files are read as such. Text columns of dates become datetime64 columns:
ISO 8601 ("2020-01-31", "2020-01-31 12:00:00+01:00"), and day/month/year with `/` or `.` (month first
unless a first field above 12 says day first; a warning when nothing says which). A file that
still parses to one column while its first line holds one of those separators gets a warning naming
`--sep`. The dialect read is remembered (`TableFile`) so that results are written back the same way.
"""

from __future__ import annotations

import csv
import lzma
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from pandas.api import types as ptypes

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip"}
SUFFIXES = (*CSV_SUFFIXES, ".parquet", ".feather", ".xlsx", ".xls")
ENCODINGS = ("utf-8-sig", "cp1252")  # tried in order; utf-8-sig reads plain UTF-8 and drops a BOM
SEPARATORS = ",;\t|"
SNIFF_BYTES = 64 * 1024
# pandas before 3 parses a float with a fast converter that may be off in the last bit: its round-trip parser gives
# back exactly the float a cell spells (known cells stay bit-identical). pandas 3 parses exactly by default and
# deprecates the argument.
EXACT_FLOATS: dict[str, str] = {"float_precision": "round_trip"} if int(pd.__version__.split(".")[0]) < 3 else {}
_ISO_DATE = re.compile(r"^\s*\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?\s*$")
_SLASH_DATE = re.compile(r"^\s*(\d{1,2})[/.](\d{1,2})[/.](\d{4}|\d{2})([ T]\d{1,2}:\d{2}(:\d{2})?)?\s*$")
_DECIMAL_COMMA = re.compile(r"(?:^|[;\t|])\s*-?\d+,\d+\s*(?=[;\t|]|$)", re.MULTILINE)


@dataclass(frozen=True)
class TableFile:
    """A table read from a file, and the CSV dialect it was written in (None for other formats)."""

    frame: pd.DataFrame
    sep: str | None = None
    decimal: str = "."
    encoding: str = "utf-8"


def _compression(path: Path) -> str | None:
    return COMPRESSIONS.get(path.suffix.lower())


def _csv_suffix(path: Path) -> str:
    """.csv / .tsv / .txt, looking through a compression suffix (table.csv.gz -> .csv)."""
    return Path(path.stem).suffix.lower() if _compression(path) else path.suffix.lower()


def _sample(path: Path) -> bytes:
    compression = _compression(path)
    if compression == "zip":
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if len(names) != 1:
                raise ValueError(f"{path} holds {len(names)} files; a zipped table must hold exactly one")
            with archive.open(names[0]) as handle:
                return handle.read(SNIFF_BYTES)
    opener = {"gzip": "gzip", "bz2": "bz2", "xz": "lzma"}.get(compression or "")
    module = __import__(opener) if opener else None
    with module.open(path, "rb") if module else open(path, "rb") as handle:
        return handle.read(SNIFF_BYTES)


def sniff_csv(path: Path, sep: str | None, decimal: str | None) -> tuple[str, str, str]:
    """The (separator, decimal mark, encoding) of a CSV file; given values are kept, missing ones sniffed."""
    raw = _sample(path)
    encoding = ENCODINGS[-1]
    for candidate in ENCODINGS:
        try:
            sample = raw.decode(candidate)
        except UnicodeDecodeError as err:
            if err.start >= len(raw) - 4:  # a multi-byte character cut by the sample's end
                sample = raw[: err.start].decode(candidate)
            else:
                continue
        encoding = candidate
        break
    else:
        sample = raw.decode(encoding, errors="replace")
    if sep is None:
        if _csv_suffix(path) == ".tsv":
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
    return sep, decimal, encoding


def read_table(path: str | Path, *, sep: str | None = None, decimal: str | None = None) -> TableFile:
    """Read a .csv / .tsv / .txt (dialect sniffed unless given), .parquet, .feather or .xlsx / .xls table."""
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    suffix = _csv_suffix(file) if _compression(file) else file.suffix.lower()
    if suffix not in SUFFIXES or (_compression(file) and suffix not in CSV_SUFFIXES):
        raise ValueError(
            f"{path}: expected one of {', '.join(SUFFIXES)}, or a CSV compressed as "
            f"{', '.join(COMPRESSIONS)} (got {''.join(file.suffixes) or 'no suffix'})"
        )
    if suffix == ".parquet":
        return TableFile(pd.read_parquet(file))
    if suffix == ".feather":
        return TableFile(pd.read_feather(file))
    if suffix in (".xlsx", ".xls"):
        return TableFile(_read_excel(file))
    try:
        sep, decimal, encoding = sniff_csv(file, sep, decimal)
        frame = pd.read_csv(file, sep=sep, decimal=decimal, encoding=encoding, compression=_compression(file),
                            **EXACT_FLOATS)  # fmt: skip
    except (OSError, EOFError, zipfile.BadZipFile, lzma.LZMAError) as err:
        raise ValueError(f"{path} could not be read as {_compression(file) or 'text'} ({err})") from None
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty: no header and no rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} could not be parsed with sep={sep!r} ({str(err).splitlines()[0]}); "
                         f"pass the separator with --sep") from None  # fmt: skip
    frame = _parse_dates(frame, path)
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
    return TableFile(frame, sep, decimal, encoding="utf-8" if encoding == "utf-8-sig" else encoding)


def _parse_dates(frame: pd.DataFrame, path: str | Path) -> pd.DataFrame:
    """Text columns whose every value is a date (see the module docstring) as datetime64 columns."""
    out = frame
    for name in frame.columns:
        column = frame[name]
        if not ptypes.is_object_dtype(column.dtype) and not ptypes.is_string_dtype(column.dtype):
            continue
        observed = column.dropna()
        if observed.empty or not all(isinstance(v, str) for v in observed):
            continue
        if observed.map(lambda v: bool(_ISO_DATE.match(v))).all():
            options = {"format": "ISO8601"}
        elif (fields := observed.str.extract(_SLASH_DATE)).notna()[0].all():
            first, second = fields[0].astype(int), fields[1].astype(int)
            if first.max() > 12 and second.max() > 12:
                continue  # neither order reads every value: not dates
            if first.max() <= 12 and second.max() <= 12:
                warnings.warn(
                    f"{path}: column {name!r} holds dates like {observed.iloc[0]!r} where day and month cannot be "
                    f"told apart; read month first (convert the column yourself if they are day first)",
                    UserWarning,
                    stacklevel=3,
                )
            options = {"format": "mixed", "dayfirst": bool(first.max() > 12)}
        else:
            continue
        try:
            parsed = pd.to_datetime(column, **options)
        except (ValueError, TypeError, OverflowError):  # mixed offsets, impossible dates: leave the text as it is
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
        encoding = like.encoding if like is not None else "utf-8"
        frame.to_csv(file, index=False, sep=sep, decimal=decimal, encoding=encoding)
