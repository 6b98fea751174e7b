"""Real-table sources: bundled tables (``data/tables/``), local files, Hugging Face, OpenML, an offline cache."""

from __future__ import annotations

from tabdiff.data.manifest import (
    BundledTable,
    ManifestEntry,
    bundled_tables,
    column_fingerprints,
    content_hash,
    read_manifest,
    row_hashes,
    tables_dir,
)
from tabdiff.data.remote import HuggingFaceTable, OpenMLTable, resolve_cache_dir
from tabdiff.data.sources import (
    LocalFileTable,
    TableLoadError,
    TableSource,
    collect_sources,
    load_tables,
)

__all__ = [
    "BundledTable",
    "HuggingFaceTable",
    "LocalFileTable",
    "ManifestEntry",
    "OpenMLTable",
    "TableLoadError",
    "TableSource",
    "bundled_tables",
    "collect_sources",
    "column_fingerprints",
    "content_hash",
    "load_tables",
    "read_manifest",
    "resolve_cache_dir",
    "row_hashes",
    "tables_dir",
]
