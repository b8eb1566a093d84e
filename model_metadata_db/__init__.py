"""The model metadata store: DuckDB tables of model annotations, training data, scores and features.

>>> from model_metadata_db import AnalysisStore
>>> with AnalysisStore.from_existing(None) as store:   # an empty in-memory store
...     store.counts()["model_annotations"]
0
"""
from __future__ import annotations

from .conflicts import ConflictError
from .errors import StoreError, StoreFileNotFoundError, StoreLockedError
from .paper_api import update_specific_columns
from .paper_tables import load_table_from_db
from .report import ImportReport
from .store import AnalysisStore

__all__ = ["AnalysisStore", "StoreError", "StoreFileNotFoundError", "StoreLockedError", "ImportReport",
           "ConflictError", "load_table_from_db", "update_specific_columns"]
