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


def snapshot(store) -> dict:
    """Every table's raw content, to assert that a failed write changed nothing."""
    return {t: store.query(f"SELECT * FROM {t} ORDER BY ALL") for t in
            ("model_annotations", "dataset_info", "evaluation_results", "features")}


def assert_unchanged(before: dict, after: dict) -> None:
    import pandas as pd
    for table in before:
        pd.testing.assert_frame_equal(before[table], after[table], obj=table)


@pytest.fixture
def unchanged():
    """``with unchanged(store): ...`` asserts that the block left every table exactly as it was."""
    import contextlib

    @contextlib.contextmanager
    def check(store):
        before = snapshot(store)
        yield
        assert_unchanged(before, snapshot(store))
    return check
