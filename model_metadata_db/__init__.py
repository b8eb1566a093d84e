"""The model metadata store: DuckDB tables of model annotations, training data, scores and features.

>>> from model_metadata_db import AnalysisStore
>>> with AnalysisStore.from_existing(None) as store:   # an empty in-memory store
...     store.counts()["model_annotations"]
0
"""
from __future__ import annotations

from .errors import StoreError, StoreFileNotFoundError, StoreLockedError
from .report import ImportReport
from .store import AnalysisStore

__all__ = ["AnalysisStore", "StoreError", "StoreFileNotFoundError", "StoreLockedError", "ImportReport"]
