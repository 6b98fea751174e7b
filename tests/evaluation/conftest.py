"""The evaluation tests use the session's tiny random checkpoint (tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_checkpoint_path) -> Path:
    return tiny_checkpoint_path
