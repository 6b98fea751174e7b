"""The error every table source raises (tabdiff.data.sources, tabdiff.data.remote, tabdiff.data.manifest)."""

from __future__ import annotations


class TableLoadError(RuntimeError):
    """A table could not be loaded; the message names the table and says why (and what to do)."""
