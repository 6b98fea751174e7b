"""Tables that must be downloaded once: Hugging Face ``datasets`` and OpenML, behind a Parquet cache.

Building a source never touches the network; ``load()`` reads ``<cache>/<kind>/<key>.parquet`` when it
exists and otherwise fetches the table, writes that file and returns the table, so a second load (in this
process or any later one) works offline. The cache folder is the ``cache_dir`` argument, else
``$TABDIFF_CACHE``, else ``~/.cache/tabdiff/tables``. A fetch that fails (no network, unknown dataset, ...)
raises a ``TableLoadError`` that names the table, the dataset and the reason.

The fetch functions (``fetch_openml_frame``, ``fetch_hf_frame``) are module attributes so that tests replace
them; they import scikit-learn's OpenML client and ``datasets`` only when called.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from tabdiff.data.errors import TableLoadError

logger = logging.getLogger(__name__)

DEFAULT_CACHE = Path("~/.cache/tabdiff/tables")


def resolve_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """The cache folder: the argument, else ``$TABDIFF_CACHE``, else ``~/.cache/tabdiff/tables``."""
    return Path(cache_dir or os.environ.get("TABDIFF_CACHE") or DEFAULT_CACHE).expanduser()


def cache_file(folder: Path, kind: str, key: str) -> Path:
    """A readable, filesystem-safe file name for ``key``, made unique by a short hash of the raw key."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("_")[:80]
    digest = hashlib.sha1(key.encode()).hexdigest()[:8]
    return folder / kind / f"{slug}-{digest}.parquet"


def fetch_openml_frame(dataset_id: int, *, data_home: Path) -> pd.DataFrame:
    """Download one OpenML dataset (features and target together) with scikit-learn's client."""
    from sklearn.datasets import fetch_openml

    return fetch_openml(data_id=dataset_id, as_frame=True, data_home=str(data_home)).frame


def fetch_hf_frame(repo: str, *, config: str | None, split: str, revision: str | None, cache_dir: Path) -> pd.DataFrame:
    """Download one split of a Hugging Face dataset and turn it into a DataFrame."""
    import datasets

    dataset = datasets.load_dataset(repo, config, split=split, revision=revision, cache_dir=str(cache_dir))
    return dataset.to_pandas()


def _read_or_fetch(name: str, what: str, path: Path, fetch: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """The cached table at ``path``, else ``fetch()`` it and cache it; failures name the table and ``what``."""
    if path.is_file():
        return pd.read_parquet(path)
    try:
        frame = fetch()
    except Exception as error:  # network, HTTP, parsing: the caller needs the table's name and the reason
        raise TableLoadError(
            f"table {name!r} could not be fetched ({what}): {type(error).__name__}: {error}. "
            f"It is not in the cache either ({path}); load it once with network access, or put a Parquet "
            f"copy of it there"
        ) from error
    if not isinstance(frame, pd.DataFrame):
        raise TableLoadError(f"table {name!r} ({what}): the fetch returned a {type(frame).__name__}")
    # the first load returns what later loads will read (e.g. column names as text), not the raw fetch
    return pd.read_parquet(path) if _write_cache(frame, path, name) else frame


def _write_cache(frame: pd.DataFrame, path: Path, name: str) -> bool:
    """Write atomically (a crash mid-write must not leave a truncated file that later loads trust)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        frame.rename(columns=str).to_parquet(partial, index=False)
        os.replace(partial, path)
    except Exception as error:  # an uncacheable table still loads, it just is fetched again next time
        partial.unlink(missing_ok=True)
        logger.warning("table %r was fetched but could not be cached at %s: %s", name, path, error)
        return False
    return True


class OpenMLTable:
    """An OpenML dataset by id, via ``sklearn.datasets.fetch_openml(data_id=..., as_frame=True)``.

    A plain class, not a dataclass, for the reason given in ``tabdiff.data.sources.LocalFileTable``.
    """

    def __init__(self, dataset_id: int, *, name: str | None = None, cache_dir: str | Path | None = None) -> None:
        self.dataset_id = int(dataset_id)
        self.name = name or f"openml:{self.dataset_id}"
        self.cache_dir = cache_dir  # see ``resolve_cache_dir()``

    def __repr__(self) -> str:
        return f"OpenMLTable({self.dataset_id}, name={self.name!r})"

    @property
    def cache_path(self) -> Path:
        return cache_file(resolve_cache_dir(self.cache_dir), "openml", str(self.dataset_id))

    def load(self) -> pd.DataFrame:
        folder = resolve_cache_dir(self.cache_dir)
        return _read_or_fetch(
            self.name,
            f"OpenML dataset id {self.dataset_id}",
            self.cache_path,
            lambda: fetch_openml_frame(self.dataset_id, data_home=folder / "openml" / "raw"),
        )


class HuggingFaceTable:
    """One split of a Hugging Face dataset, via ``datasets.load_dataset(repo, config, split=split)``.

    ``columns`` keeps those columns, in that order (the whole split is cached, so another selection of
    the same split needs no download). A plain class for the reason given in ``LocalFileTable``.
    """

    def __init__(
        self,
        repo: str,
        config: str | None = None,
        split: str = "train",
        columns: Sequence[str] | None = None,
        *,
        name: str | None = None,
        revision: str | None = None,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.repo = repo
        self.config = config
        self.split = split
        self.columns = None if columns is None else [str(column) for column in columns]
        self.name = name or f"hf:{repo}{f':{config}' if config else ''}:{split}"
        self.revision = revision  # a commit or tag, for a reproducible table
        self.cache_dir = cache_dir  # see ``resolve_cache_dir()``

    def __repr__(self) -> str:
        return f"HuggingFaceTable({self.repo!r}, {self.config!r}, {self.split!r}, name={self.name!r})"

    @property
    def cache_path(self) -> Path:
        key = ":".join([self.repo, self.config or "default", self.split, self.revision or "latest"])
        return cache_file(resolve_cache_dir(self.cache_dir), "hf", key)

    def load(self) -> pd.DataFrame:
        folder = resolve_cache_dir(self.cache_dir)
        what = f"Hugging Face dataset {self.repo!r}" + (f", config {self.config!r}" if self.config else "")
        what += f", split {self.split!r}"
        frame = _read_or_fetch(
            self.name,
            what,
            self.cache_path,
            lambda: fetch_hf_frame(
                self.repo,
                config=self.config,
                split=self.split,
                revision=self.revision,
                cache_dir=folder / "hf" / "raw",
            ),
        )
        if self.columns is None:
            return frame
        missing = [column for column in self.columns if column not in frame.columns]
        if missing:
            raise TableLoadError(
                f"table {self.name!r} ({what}) has no column(s) {missing}; it has {list(frame.columns)}"
            )
        return frame[self.columns]
