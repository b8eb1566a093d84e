"""CSV imports in the paper's layouts (``metadata/duckdb/test_data/*.csv`` of the paper's repository).

* models: one row per model, columns of ``model_annotations`` plus ``safetensors:total`` (the hub's parameter
  count; it wins over ``total_params`` when both are given, as in the paper's importer);
* dataset features: ``id`` and ``pretraining_summary:<column>`` (or ``pretraining_summary_<column>``);
  other ``<stage>_summary:<name>`` columns go into the row's ``metadata`` JSON;
* scores: ``id`` (or ``model_name``) and one column per score, ``<benchmark>_<N>-shot_<metric>`` with an optional
  ``_stderr`` column beside it. A column without ``_<N>-shot_`` has no recorded shot count: refused unless
  ``assume_shots`` is given (the paper's importer skipped such columns silently).

Each row is validated like any other write; the rows then go through the conflict policy (conflicts.py).
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from ..aliases import canonical_id
from ..conflicts import Incoming
from ..errors import StoreError, StoreFileNotFoundError
from ..schema import column_names, columns
from ..validation import validate_row
from .common import check_model_id

# Longest first: "acc_norm" must win over "acc".
SCORE_METRICS: tuple[tuple[str, str], ...] = (
    ("acc_norm", "acc_norm"), ("exact_match", "accuracy"), ("brier_score", "brier_score"),
    ("perplexity", "perplexity"), ("acc", "accuracy"), ("em", "accuracy"), ("f1", "f1"), ("mc1", "mc1"),
    ("mc2", "mc2"),
)
_SHOT_COLUMN = re.compile(r"^(?P<bench>.+?)_(?P<shots>\d+)-shot_(?P<rest>.+)$")
_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def read_csv_rows(path: str | Path) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV file; a missing file or empty header is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise StoreFileNotFoundError(f"{path}: no such file")
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            raise StoreError(f"{path}: empty CSV (no header row)")
        rows = list(reader)
    return list(reader.fieldnames), rows


def _cell(text: str | None, col_type: str, where: str) -> Any:
    if text is None or text.strip() == "":
        return None
    text = text.strip()
    if col_type in ("INTEGER", "BIGINT"):
        try:
            number = float(text)
        except ValueError:
            raise StoreError(f"{where}: {text!r} is not a number") from None
        return int(number) if number == int(number) else number
    if col_type == "DOUBLE":
        try:
            return float(text)
        except ValueError:
            raise StoreError(f"{where}: {text!r} is not a number") from None
    if col_type == "BOOLEAN":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise StoreError(f"{where}: {text!r} is not true/false")
    return text


def _model_id(value: Any, where: str) -> str:
    return check_model_id(canonical_id(value.strip()) if isinstance(value, str) else value, where)


def model_rows_from_csv(path: str | Path) -> list[Incoming]:
    """``model_annotations`` rows of a model-features CSV (the paper's ``model.csv`` layout)."""
    header, rows = read_csv_rows(path)
    types = {c.name: c.type for c in columns()["model_annotations"]}
    unknown = [c for c in header if c not in types and c != "safetensors:total"]
    if unknown:
        raise StoreError(f"{path}: unknown column(s) {unknown}; model columns are {list(types)} "
                         "(+ safetensors:total)")
    if "id" not in header:
        raise StoreError(f"{path}: no 'id' column")
    out = []
    for n, raw in enumerate(rows, start=2):
        where = f"{path} line {n}"
        row = {c: _cell(raw[c], types[c], f"{where} column {c!r}") for c in header if c in types}
        hub = _cell(raw.get("safetensors:total"), "BIGINT", f"{where} column 'safetensors:total'")
        if hub:
            row["total_params"] = hub
        row["id"] = _model_id(row.get("id"), where)
        out.append(Incoming(validate_row("model_annotations", row), str(path)))
    return out


def dataset_rows_from_csv(path: str | Path) -> list[Incoming]:
    """``dataset_info`` rows of a dataset-features CSV (the paper's ``dataset.csv`` layout)."""
    header, rows = read_csv_rows(path)
    if "id" not in header:
        raise StoreError(f"{path}: no 'id' column")
    known = set(column_names("dataset_info"))
    mapping: dict[str, str] = {}
    extra: list[str] = []
    for col in header:
        name = col.replace(":", "_")
        if col == "id":
            continue
        if name in known and name != "metadata":
            mapping[col] = name
        elif re.match(r"^\w+_summary[:_]", col):
            extra.append(col)
        else:
            raise StoreError(f"{path}: unknown column {col!r}; dataset columns are pretraining_summary:<name> "
                             f"for {sorted(c for c in known if c.startswith('pretraining_summary_'))}")
    out = []
    for n, raw in enumerate(rows, start=2):
        where = f"{path} line {n}"
        row: dict[str, Any] = {"id": _model_id(raw["id"], where)}
        for col, name in mapping.items():
            row[name] = _cell(raw[col], "DOUBLE", f"{where} column {col!r}")
        meta = {c.replace(":", "_"): _cell(raw[c], "DOUBLE", f"{where} column {c!r}") for c in extra}
        meta = {k: v for k, v in meta.items() if v is not None}
        if meta:
            row["metadata"] = json.dumps(meta, sort_keys=True)
        out.append(Incoming(validate_row("dataset_info", row), str(path)))
    return out


def _split_metric(rest: str) -> tuple[str, bool] | None:
    stderr = rest.endswith("_stderr")
    base = rest[: -len("_stderr")] if stderr else rest
    for key, name in SCORE_METRICS:
        if base == key:
            return name, stderr
    return None


def parse_score_column(col: str, assume_shots: int | None = None) -> tuple[str, str, str, bool] | None:
    """(benchmark, setting, metric, is_stderr) of a score column name; ``None`` when it has no known metric."""
    match = _SHOT_COLUMN.match(col)
    if match:
        parsed = _split_metric(match.group("rest"))
        if parsed is None:
            return None
        return match.group("bench"), f"{match.group('shots')}-shot", parsed[0], parsed[1]
    for key, name in SCORE_METRICS:
        for suffix, is_stderr in ((f"_{key}_stderr", True), (f"_{key}", False)):
            if col.endswith(suffix) and len(col) > len(suffix):
                if assume_shots is None:
                    raise _NoShotColumn(col)
                return col[: -len(suffix)], f"{assume_shots}-shot", name, is_stderr
    return None


class _NoShotColumn(Exception):
    pass


def score_rows_from_csv(path: str | Path, *, assume_shots: int | None = None) -> list[Incoming]:
    """``evaluation_results`` rows of a wide scores CSV (the paper's ``scores.csv`` layout)."""
    header, rows = read_csv_rows(path)
    return score_rows_from_table(header, rows, str(path), assume_shots=assume_shots)


def score_rows_from_frame(frame, source: str = "scores_df", *, assume_shots: int | None = None) -> list[Incoming]:
    """``evaluation_results`` rows of a wide scores DataFrame (same column layout as the scores CSV)."""
    header = [str(c) for c in frame.columns]
    rows = [{str(k): (None if v is None or v != v else str(v)) for k, v in r.items()}
            for r in frame.to_dict(orient="records")]
    return score_rows_from_table(header, rows, source, assume_shots=assume_shots)


def score_rows_from_table(header: list[str], rows: list[dict[str, Any]], path: str, *,
                          assume_shots: int | None = None) -> list[Incoming]:
    """Rows of a wide score table: an ``id``/``model_name`` column and ``<bench>_<N>-shot_<metric>`` columns."""
    id_col = "id" if "id" in header else "model_name" if "model_name" in header else None
    if id_col is None:
        raise StoreError(f"{path}: no 'id' (or 'model_name') column")
    parsed: dict[str, tuple[str, str, str, bool]] = {}
    shotless, unknown = [], []
    for col in header:
        if col == id_col:
            continue
        try:
            info = parse_score_column(col, assume_shots)
        except _NoShotColumn:
            shotless.append(col)
            continue
        if info is None:
            unknown.append(col)
        else:
            parsed[col] = info
    if shotless:
        raise StoreError(f"{path}: {len(shotless)} column(s) have no shot count (e.g. {shotless[:3]}); refused "
                         "rather than guessed: name them <benchmark>_<N>-shot_<metric> or pass --assume-shots N")
    if unknown:
        raise StoreError(f"{path}: column(s) {unknown[:5]} name no known metric "
                         f"({[k for k, _ in SCORE_METRICS]}); rename or drop them")
    out = []
    for n, raw in enumerate(rows, start=2):
        where = f"{path} line {n}"
        model_id = _model_id(raw[id_col], where)
        values: dict[tuple[str, str, str], dict[str, Any]] = {}
        for col, (bench, setting, metric, is_stderr) in parsed.items():
            value = _cell(raw[col], "DOUBLE", f"{where} column {col!r}")
            entry = values.setdefault((bench, setting, metric), {})
            entry["metric_stderr" if is_stderr else "metric_value"] = value
        for (bench, setting, metric), entry in values.items():
            if entry.get("metric_value") is None:
                continue
            row = {"id": model_id, "benchmark": bench, "setting": setting, "metric": metric,
                   "metric_value": entry["metric_value"], "metric_stderr": entry.get("metric_stderr")}
            out.append(Incoming(validate_row("evaluation_results", row), str(path)))
    return out


def rows_by_table(kind: str, path: str | Path, **kwargs: Any) -> Mapping[str, list[Incoming]]:
    """The batch of one CSV of ``kind`` (models | datasets | scores)."""
    if kind == "models":
        return {"model_annotations": model_rows_from_csv(path)}
    if kind == "datasets":
        return {"dataset_info": dataset_rows_from_csv(path)}
    if kind == "scores":
        return {"evaluation_results": score_rows_from_csv(path, **kwargs)}
    raise StoreError(f"unknown CSV kind {kind!r}; use models, datasets or scores")


def detect_csv_kind(header: list[str]) -> str:
    """models | datasets | scores from a CSV header."""
    if any(c.startswith("pretraining_summary") for c in header):
        return "datasets"
    if "dimension" in header or "safetensors:total" in header or "num_heads" in header:
        return "models"
    return "scores"
