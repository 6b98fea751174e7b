"""The session's tiny random checkpoint (tests/conftest.py), as a path and loaded back."""

from __future__ import annotations

import pytest

from tabdiff.checkpoint import LoadedCheckpoint, load_exported


@pytest.fixture(scope="session")
def checkpoint_path(tiny_checkpoint_path) -> str:
    return str(tiny_checkpoint_path)


@pytest.fixture(scope="session")
def tiny(checkpoint_path) -> LoadedCheckpoint:
    return load_exported(checkpoint_path)
