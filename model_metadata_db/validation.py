"""Validation of rows before they reach the database: types, ranges, vocabulary, duplicate keys.

Every check raises :class:`StoreError` naming the table, the row id and the field, so a caller can fix the
input; nothing is written when any row of a batch fails.
"""
from __future__ import annotations

import json
import math
import numbers
from typing import Any
from collections.abc import Iterable, Mapping

from .errors import StoreError
from .schema import KEYS, SENTINEL, Column, column_names, columns
from .vocabulary import normalize_value

# Upper bounds that catch unit mistakes (params given in billions vs units is fine; 1e15 params is not).
ABSURD: dict[str, float] = {
    "total_params": 1e13, "dimension": 1e6, "num_heads": 1e4, "num_kv_heads": 1e4, "num_layers": 1e4,
    "mlp_ratio": 100.0, "sequence_length": 1e8, "vocab_size": 1e7, "ffn_hidden_size": 1e7,
    "batch_instances": 1e8, "batch_tokens": 1e11, "pretraining_summary_total_tokens_billions": 1e6,
}
PERCENT_COLUMNS = ("pretraining_summary_percentage_web", "pretraining_summary_percentage_code",
                   "pretraining_summary_percentage_books", "pretraining_summary_percentage_reference",
                   "pretraining_summary_percentage_academic")
# The five domain shares should sum to ~100; the release has rows up to 103.1 (rounding, double counting).
PERCENT_SUM_LIMIT = 105.0


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or _is_pd_na(value)


def _is_pd_na(value: Any) -> bool:
    try:
        import pandas as pd
        return value is pd.NA or value is pd.NaT
    except ImportError:  # pragma: no cover
        return False


def _where(table: str, row: Mapping[str, Any]) -> str:
    key = ", ".join(f"{k}={row.get(k)!r}" for k in KEYS[table] if k in row)
    return f"{table} row ({key})" if key else f"{table} row"


def coerce_value(table: str, col: Column, value: Any, row: Mapping[str, Any]) -> Any:
    """Check one value against its column type; return it in the Python type DuckDB expects."""
    if getattr(value, "shape", None) == () and hasattr(value, "item"):
        value = value.item()  # numpy scalars (from pandas frames) -> Python numbers/bools
    if _is_missing(value):
        return None
    if col.type in ("INTEGER", "BIGINT", "DOUBLE"):
        # bool is an int subclass in Python: reject it, True is no dimension.
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise StoreError(f"{_where(table, row)}: field {col.name!r} must be a number, got {value!r} "
                             f"({type(value).__name__}); write it without quotes or leave it empty")
        value = float(value) if col.type == "DOUBLE" else value
        if isinstance(value, float) and not math.isfinite(value):
            raise StoreError(f"{_where(table, row)}: field {col.name!r} is {value!r}; "
                             "give a finite number or leave it empty")
        if col.integer:
            if float(value) != int(value):
                raise StoreError(f"{_where(table, row)}: field {col.name!r} must be a whole number, got {value!r}")
            value = int(value)
        return value
    if col.type == "BOOLEAN":
        if not isinstance(value, bool):
            if isinstance(value, numbers.Integral) and value in (0, 1):
                return bool(value)
            raise StoreError(f"{_where(table, row)}: field {col.name!r} must be true/false, got {value!r}")
        return value
    if col.type == "JSON":
        if isinstance(value, str):
            try:
                json.loads(value)
            except json.JSONDecodeError as err:
                raise StoreError(f"{_where(table, row)}: field {col.name!r} is not valid JSON ({err})") from None
            return value
        try:
            return json.dumps(value, sort_keys=True)
        except TypeError as err:
            raise StoreError(f"{_where(table, row)}: field {col.name!r} cannot be stored as JSON ({err})") from None
    # VARCHAR
    if not isinstance(value, str):
        raise StoreError(f"{_where(table, row)}: field {col.name!r} must be text, "
                         f"got {value!r} ({type(value).__name__})")
    return value


# Metrics that are fractions (or a Brier score over two classes at most 2): catches percents given as 45.0.
FRACTION_METRICS = ("accuracy", "acc_norm", "em", "f1", "mc1", "mc2", "bleu_acc", "rouge1_acc", "rouge2_acc",
                    "rougeL_acc")
METRIC_RANGES: dict[str, tuple[float, float]] = {**{m: (0.0, 1.0) for m in FRACTION_METRICS},
                                                 "brier_score": (0.0, 2.0), "perplexity": (1.0, math.inf)}


def _check_metric(row: Mapping[str, Any]) -> None:
    bounds = METRIC_RANGES.get(str(row.get("metric")))
    value = row.get("metric_value")
    if bounds and value is not None and not bounds[0] <= value <= bounds[1]:
        hint = "; give a fraction, not a percent" if bounds == (0.0, 1.0) and 1 < value <= 100 else ""
        raise StoreError(f"{_where('evaluation_results', row)}: metric {row['metric']!r} must be within "
                         f"[{bounds[0]:g}, {bounds[1]:g}], got {value}{hint}")


def _check_range(table: str, name: str, value: Any, row: Mapping[str, Any]) -> None:
    if value is None or not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    if value < 0 and table != "evaluation_results":
        raise StoreError(f"{_where(table, row)}: field {name!r} is negative ({value}); "
                         "give a value >= 0 or leave it empty")
    if name in ABSURD and value > ABSURD[name]:
        raise StoreError(f"{_where(table, row)}: field {name!r} = {value:g} is implausibly large "
                         f"(limit {ABSURD[name]:g}); check the unit")
    if name.startswith("pretraining_summary_percentage_") and value > 100:
        raise StoreError(f"{_where(table, row)}: field {name!r} = {value} is above 100 %; give a percentage in 0..100")


def validate_row(table: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """Validate one row of ``table``; return it with values coerced, categorical values normalised.

    Only the columns present in ``row`` are returned (an upsert leaves the others as they are).
    """
    if not isinstance(row, Mapping):
        raise StoreError(f"{table}: expected a mapping of column -> value, got {type(row).__name__}")
    cols = {c.name: c for c in columns()[table]}
    unknown = sorted(set(row) - set(cols))
    if unknown:
        raise StoreError(f"{_where(table, row)}: unknown column(s) {unknown}; known columns: {list(cols)}")
    for key in KEYS[table]:
        value = row.get(key)
        if _is_missing(value) or (isinstance(value, str) and not value.strip()):
            raise StoreError(f"{_where(table, row)}: required field {key!r} is missing or empty")
    out: dict[str, Any] = {}
    for name, value in row.items():
        value = coerce_value(table, cols[name], value, row)
        # The release writes -1 for "missing" beside NULL; our writes store NULL (reads treat both as NaN).
        if value == SENTINEL and not isinstance(value, bool) and cols[name].numeric and name != "metric_value" \
                and table != "features":
            value = None
        if table == "model_annotations":
            try:
                value = normalize_value(name, value)
            except StoreError as err:
                raise StoreError(f"{_where(table, row)}: {err}") from None
        _check_range(table, name, value, row)
        out[name] = value
    if table == "dataset_info":
        shares = [out.get(c) for c in PERCENT_COLUMNS]
        total = sum(v for v in shares if v is not None and v >= 0)
        if total > PERCENT_SUM_LIMIT:
            raise StoreError(f"{_where(table, row)}: domain percentages (web+code+books+reference+academic) sum "
                             f"to {total:g} > {PERCENT_SUM_LIMIT:g}; give shares of 100")
    if table == "evaluation_results":
        if out.get("metric_stderr") is not None and out["metric_stderr"] < 0:
            raise StoreError(f"{_where(table, row)}: field 'metric_stderr' is negative ({out['metric_stderr']})")
        _check_metric(out)
    return out


def validate_rows(table: str, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Validate a batch; duplicate keys inside the batch are an error (which value would win is ambiguous)."""
    seen: dict[tuple, int] = {}
    out = []
    for i, row in enumerate(rows):
        clean = validate_row(table, row)
        key = tuple(clean[k] for k in KEYS[table])
        if key in seen:
            raise StoreError(f"{table}: duplicate key {dict(zip(KEYS[table], key, strict=False))} in rows "
                             f"{seen[key]} and {i} of one import; keep one of them")
        seen[key] = i
        out.append(clean)
    return out


__all__ = ["validate_row", "validate_rows", "coerce_value", "column_names", "PERCENT_COLUMNS"]
