"""The tables bundled in ``data/tables/``: their manifest, ``BundledTable`` sources, and content hashes.

``data/tables/manifest.csv`` has one row per table (written by ``scripts/build_tables.py``):
name, file, source, task, target, n_rows, n_cols, license, split, content_hash, notes. The ``split`` column
keeps evaluation honest: ``heldout`` tables are only for zero-shot evaluation and never reach pretraining.

``content_hash`` and ``row_hashes`` are what the tests use to prove the two splits share no rows. They look
at values only: column names are left out (a renamed copy still collides) and every numeric column is read
as float64, every other column as text (a copy stored as int64 instead of float64, or as str instead of
category, still collides).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from tabdiff.data.errors import TableLoadError
from tabdiff.resources import resource_dir

Split = Literal["pretrain", "heldout"]
SplitChoice = Literal["pretrain", "heldout", "all"]
Task = Literal["classification", "regression", "none"]

MANIFEST_COLUMNS = (
    "name",
    "file",
    "source",
    "task",
    "target",
    "n_rows",
    "n_cols",
    "license",
    "split",
    "content_hash",
    "notes",
)
# the repository's data/tables; TABDIFF_TABLES points elsewhere (e.g. a copy next to an installed wheel)
_REPO_TABLES = resource_dir("data") / "tables"


def tables_dir(root: str | Path | None = None) -> Path:
    """The folder that holds ``manifest.csv``: ``root``, else ``$TABDIFF_TABLES``, else the repo's data/tables."""
    folder = Path(root or os.environ.get("TABDIFF_TABLES") or _REPO_TABLES).expanduser()
    if not (folder / "manifest.csv").is_file():
        raise FileNotFoundError(
            f"no manifest.csv in {folder}; the bundled tables live in the repository's data/tables/ "
            f"(run from a checkout, or set TABDIFF_TABLES to a copy of that folder)"
        )
    return folder


@dataclass(frozen=True)
class ManifestEntry:
    """One row of the manifest."""

    name: str  # unique table name, also the source's name
    file: str  # Parquet file, relative to the tables folder
    source: str  # package and dataset function it was converted from
    task: Task  # what the target column is for
    target: str | None  # target column (None when task is "none")
    n_rows: int
    n_cols: int
    license: str  # as the package or dataset docs state it; "unknown" when they state none
    split: Split  # "heldout" tables are for zero-shot evaluation only
    content_hash: str  # content_hash() of the table as stored
    notes: str  # what the conversion changed (dropped columns, subsampling, ...)


def read_manifest(root: str | Path | None = None) -> list[ManifestEntry]:
    """Every manifest row, checked: known task and split values, unique names, a target when there is a task."""
    folder = tables_dir(root)
    frame = pd.read_csv(folder / "manifest.csv", dtype=str, keep_default_na=False)
    missing = [column for column in MANIFEST_COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"{folder / 'manifest.csv'} lacks column(s) {missing}")
    entries = []
    for row in frame.to_dict("records"):
        _check_choice(row, "task", get_args(Task))
        _check_choice(row, "split", get_args(Split))
        target = row["target"] or None
        if (row["task"] == "none") != (target is None):
            raise ValueError(f"manifest row {row['name']!r}: task {row['task']!r} with target {target!r}")
        entries.append(
            ManifestEntry(
                name=row["name"],
                file=row["file"],
                source=row["source"],
                task=row["task"],
                target=target,
                n_rows=int(row["n_rows"]),
                n_cols=int(row["n_cols"]),
                license=row["license"],
                split=row["split"],
                content_hash=row["content_hash"],
                notes=row["notes"],
            )
        )
    names = [entry.name for entry in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"manifest names are not unique: {sorted({n for n in names if names.count(n) > 1})}")
    return entries


def _check_choice(row: dict[str, str], column: str, allowed: tuple[str, ...]) -> None:
    if row[column] not in allowed:
        raise ValueError(f"manifest row {row['name']!r}: {column} must be one of {allowed}, got {row[column]!r}")


class BundledTable:
    """A ``TableSource`` for one bundled table; ``entry`` carries its task, target and split.

    A plain class, not a dataclass, for the reason given in ``tabdiff.data.sources.LocalFileTable``.
    """

    def __init__(self, entry: ManifestEntry, root: Path) -> None:
        self.entry = entry
        self.root = Path(root)  # the tables folder

    def __repr__(self) -> str:
        return f"BundledTable({self.name!r}, split={self.entry.split!r})"

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def path(self) -> Path:
        return self.root / self.entry.file

    def load(self) -> pd.DataFrame:
        if not self.path.is_file():
            raise TableLoadError(f"bundled table {self.name!r}: its file {self.path} is missing")
        frame = pd.read_parquet(self.path)
        # a stale or hand-edited file must not pass silently as the table the manifest describes
        if frame.shape != (self.entry.n_rows, self.entry.n_cols):
            raise TableLoadError(
                f"bundled table {self.name!r} has shape {frame.shape}, the manifest says "
                f"{(self.entry.n_rows, self.entry.n_cols)}; rebuild it with scripts/build_tables.py"
            )
        return frame


def bundled_tables(split: SplitChoice = "pretrain", *, root: str | Path | None = None) -> list[BundledTable]:
    """The bundled tables of one split (``"all"``: both), in manifest order."""
    if split not in get_args(SplitChoice):
        raise ValueError(f"split must be one of {get_args(SplitChoice)}, got {split!r}")
    folder = tables_dir(root)
    return [
        BundledTable(entry=entry, root=folder)
        for entry in read_manifest(folder)
        if split == "all" or entry.split == split
    ]


# --- content hashes ----------------------------------------------------------------------------------------


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """Numeric columns as float64 (NaN where missing), all others as text, columns named by position."""
    columns = {}
    for j in range(frame.shape[1]):
        column = frame.iloc[:, j]
        numeric = ptypes.is_numeric_dtype(column.dtype) and not ptypes.is_bool_dtype(column.dtype)
        if numeric:
            columns[j] = pd.Series(column.to_numpy(dtype=np.float64, na_value=np.nan))
        else:
            text = [None if pd.isna(v) else str(v) for v in column.to_numpy(dtype=object)]
            columns[j] = pd.Series(text, dtype=object)  # object, not str: one hashing path in any pandas
    return pd.DataFrame(columns, index=pd.RangeIndex(frame.shape[0]))


def row_hashes(frame: pd.DataFrame) -> np.ndarray:
    """(rows,) uint64: one hash per row of values (see the module docstring for what is ignored)."""
    return pd.util.hash_pandas_object(_canonical(frame), index=False).to_numpy(dtype=np.uint64)


def content_hash(frame: pd.DataFrame) -> str:
    """A 16-hex-digit hash of a table's rows that does not depend on their order (sorted row hashes)."""
    hashes = np.sort(row_hashes(frame))
    digest = hashlib.sha256(np.int64(frame.shape[1]).tobytes() + hashes.tobytes())
    return digest.hexdigest()[:16]


def column_fingerprints(frame: pd.DataFrame, *, min_distinct: int = 20) -> dict[str, str]:
    """Column name -> hash of its sorted observed values, for columns with at least ``min_distinct`` values.

    Catches the same data published twice under other column names, or with other columns beside it.
    Columns with few distinct values are skipped: two unrelated 0/1 columns often share a fingerprint.
    """
    canonical = _canonical(frame)
    fingerprints = {}
    for j, name in enumerate(frame.columns):
        observed = canonical[j].dropna()
        if observed.nunique() < min_distinct:
            continue
        values = np.sort(observed.to_numpy(dtype=object).astype(str))
        fingerprints[str(name)] = hashlib.sha256("\x1f".join(values).encode()).hexdigest()[:16]
    return fingerprints
