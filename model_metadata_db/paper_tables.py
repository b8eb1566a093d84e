"""The paper's module-level reader ``load_table_from_db`` (its ``model_metadata_db.py``), over our store."""
from __future__ import annotations

import pandas as pd

from .errors import StoreError
from .store import AnalysisStore


def load_table_from_db(db_path: str, table_to_load: str, metric: str | None = None) -> pd.DataFrame:
    """One table of the store at ``db_path``: ``model``, ``dataset`` or ``evaluation`` (optionally one metric).

    Ids are canonical (``metadata/model_aliases.csv``)."""
    if table_to_load not in ("model", "dataset", "evaluation"):
        raise StoreError("Invalid table_to_load value. Choose from 'model', 'dataset', 'evaluation'")
    with AnalysisStore.from_existing(db_path) as store:
        if table_to_load == "model":
            return store.annotations()
        if table_to_load == "dataset":
            return store.dataset_info()
        return store.scores(metric=metric)
