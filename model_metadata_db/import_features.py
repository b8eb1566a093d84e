"""``njsl db import-features CSV``: a wide feature CSV (one row per id) into the store's ``features`` table.

Made for the paper's pseudo-feature CSV (``generation_features/all_models_feature_stats_3_03_with_ratios.csv``:
``id`` plus numeric columns under the paper's feature names), so that the predictor finds the paper's models'
generation features in the store beside a new model's own (``njsl freegens features``). Every cell is checked
before anything is written; all rows go in in one transaction, so a bad file leaves the store as it was.
Empty cells are skipped (no feature), never stored as 0.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from .errors import StoreError
from .store import AnalysisStore


def read_feature_csv(path: str | Path, id_column: str = "id") -> dict[str, dict[str, float]]:
    """``{id: {feature: value}}`` of a wide CSV; raises :class:`StoreError` naming the bad row/column."""
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"import-features: {path} does not exist")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise StoreError(f"import-features: {path} is not a readable CSV ({str(exc).splitlines()[0]})") from exc
    if id_column not in frame.columns:
        raise StoreError(f"import-features: {path} has no {id_column!r} column (columns: "
                         f"{', '.join(list(frame.columns)[:6])}...); pass --id-column NAME")
    features = [c for c in frame.columns if c != id_column]
    if not features:
        raise StoreError(f"import-features: {path} has no feature columns besides {id_column!r}")
    out: dict[str, dict[str, float]] = {}
    for row_no, record in enumerate(frame.to_dict("records"), start=2):  # line 1 is the header
        entity = record[id_column].strip()
        if not entity:
            raise StoreError(f"import-features: {path}:{row_no}: empty {id_column!r}")
        if entity in out:
            raise StoreError(f"import-features: {path}:{row_no}: id {entity!r} appears twice")
        values: dict[str, float] = {}
        for name in features:
            cell = record[name].strip()
            if cell == "" or cell.lower() == "nan":
                continue
            try:
                value = float(cell)
            except ValueError:
                raise StoreError(f"import-features: {path}:{row_no}: column {name!r} holds {cell!r}, "
                                 "not a number") from None
            if math.isinf(value):
                raise StoreError(f"import-features: {path}:{row_no}: column {name!r} is infinite")
            values[name] = value
        out[entity] = values
    return out


def import_feature_csv(store: AnalysisStore, path: str | Path, *, kind: str = "model", id_column: str = "id",
                       source: str | None = None, overwrite: bool = False) -> tuple[int, int, int]:
    """Write the non-empty cells of the CSV as features of their ids (one transaction).

    A feature the store already has for an id is kept unless ``overwrite`` (the store wins, as in the
    predictor's merge rule: a model's own measured features are not replaced by a table's).
    Returns (ids in the CSV, values written, values kept).
    """
    if kind not in ("model", "dataset"):
        raise StoreError(f"import-features: --kind must be 'model' or 'dataset', got {kind!r}")
    table = read_feature_csv(path, id_column)
    src = source or f"csv:{Path(path).name}"
    have = set() if overwrite else {(r.id, r.feature) for r in store.features(kind).itertuples()
                                    if r.value == r.value}
    rows = [{"kind": kind, "id": entity, "feature": name, "value": value, "source": src}
            for entity, values in table.items() for name, value in values.items() if (entity, name) not in have]
    n_kept = sum(len(v) for v in table.values()) - len(rows)
    if rows:
        store.upsert_rows("features", rows)
    return len(table), len(rows), n_kept
