"""Fixtures of the store tests: the paper's release loaded once per session (read-only use)."""
from __future__ import annotations

import pytest

from model_metadata_db import AnalysisStore


@pytest.fixture(scope="session")
def release_dir(shared):
    path = shared / "data" / "paper_db_2025_03_03"
    if not (path / "load.sql").is_file():
        pytest.skip(f"paper release not found at {path}")
    return path


@pytest.fixture(scope="session")
def release(release_dir):
    """The release imported into memory. Tests must not write to it (use release_copy for that)."""
    store = AnalysisStore.from_existing(release_dir)
    yield store
    store.close()


@pytest.fixture
def release_copy(release_dir):
    store = AnalysisStore.from_existing(release_dir)
    yield store
    store.close()


@pytest.fixture
def store():
    with AnalysisStore.create(None) as s:
        yield s
