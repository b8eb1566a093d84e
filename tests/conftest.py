"""Fixtures shared by every test area."""
from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import pytest

from njsl.paths import shared_dir

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_MODE", "offline")


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared data folder ($NJSL_SHARED_DIR, default ../shared); skips the test when it is absent."""
    path = shared_dir()
    if not (path / "data").is_dir():
        pytest.skip(f"shared data not found at {path} (set NJSL_SHARED_DIR)")
    return path


@pytest.fixture(scope="session")
def stdlib_dir() -> Path:
    """Python's own standard library sources: real code and docstrings available on every machine."""
    return Path(sysconfig.get_paths()["stdlib"])
