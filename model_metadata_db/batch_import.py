"""Importing many sources at once: parse and validate everything first, then write it in one transaction.

``parse_sources`` reads every source (export folders, metadata-record folders or files, lm-eval / Open LLM
Leaderboard results, HF configs, CSV files) without touching the store, so no write lock is held while JSON is
parsed. ``write_sources`` then applies all of it in one transaction under the conflict policy: an import is
all-or-nothing (a kill leaves all or none) unless ``continue_on_error`` drops the bad sources, which are listed.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .aliases import canonical_id
from .conflicts import Incoming
from .errors import StoreError
from .export_folder import load_export_folder
from .importers.common import read_json
from .importers.csv_files import detect_csv_kind, read_csv_rows, rows_by_table
from .importers.hf_config import annotation_from_hf_config, read_hf_config
from .importers.lm_eval import parse_lm_eval_results
from .importers.metadata_records import ParsedRecord, _resolve_ids, iter_record_files, known_ids, parse_metadata_record
from .report import ImportReport
from .schema import KEYS, TABLES, column_names
from .validation import validate_row


@dataclass
class ParsedSource(ParsedRecord):
    """One source, parsed: its rows per table, notes, and whether ids are copied as they are (``canonical``
    False: an export folder). Sources that are metadata records carry their ``model_id`` for case resolution."""
    canonical: bool = True


def source_kind(path: Path) -> str:
    """export | records | hf-config | lm-eval | record | csv for one path (folders and JSON/CSV files)."""
    if path.is_dir():
        if (path / "load.sql").is_file():
            return "export"
        if any((path / d).is_dir() for d in ("model_metadata", "dataset_metadata", "model_scores")):
            return "records"
        if (path / "config.json").is_file():
            return "hf-config"
        raise StoreError(f"{path}: not an export folder (load.sql), a metadata_records folder or a model folder")
    if not path.exists():
        raise StoreError(f"{path}: no such file or folder")
    if path.suffix == ".csv":
        return "csv"
    if path.suffix == ".jsonl":
        return "lm-eval"
    data = read_json(path)
    if isinstance(data, list):
        return "lm-eval"  # Open LLM Leaderboard v2 contents rows
    if isinstance(data, dict):
        if "config_general" in data or ("results" in data and ("n-shot" in data or "configs" in data
                                                                or "config" in data)):
            return "lm-eval"
        if "model_type" in data and "id" not in data:
            return "hf-config"
        if "results" in data or "summary" in data or "sha" in data or "id" in data:
            return "record"
    raise StoreError(f"{path}: cannot tell what this JSON is (lm-eval results, metadata record or config.json); "
                     "use `njsl db add-eval` or `njsl db add-model`")


def parse_source(path: Path, *, model_id: str | None = None, assume_shots: int | str | None = None,
                 only: str | None = None, kind: str | None = None) -> list[ParsedSource]:
    """Parse one source (a records folder yields one entry per file); raises :class:`StoreError` when bad.
    ``kind`` is :func:`source_kind`'s answer when the caller has it already."""
    kind = kind or source_kind(path)
    if only and kind != only:
        raise StoreError(f"{path}: expected {only} results, found a {kind} source")
    if kind == "export":
        return [parse_export(path)]
    if kind == "records":
        return [_from_record(p, k, assume_shots) for k, p in iter_record_files(path, ("dataset", "model", "scores"))]
    if kind == "lm-eval":
        shots = assume_shots if isinstance(assume_shots, int) else None
        items, notes = parse_lm_eval_results(path, model_id, assume_shots=shots)
        return [ParsedSource(path, kind, {"evaluation_results": items}, notes)]
    if kind == "hf-config":
        if not model_id:
            raise StoreError(f"{path}: a config.json does not name its model; pass --model-id org/name")
        row = validate_row("model_annotations", annotation_from_hf_config(read_hf_config(path),
                                                                          canonical_id(model_id)))
        return [ParsedSource(path, kind, {"model_annotations": [Incoming(row, str(path))]})]
    if kind == "csv":
        header, _ = read_csv_rows(path)
        csv_kind = detect_csv_kind(header)
        extra = {"assume_shots": assume_shots if isinstance(assume_shots, int) else None} \
            if csv_kind == "scores" else {}
        return [ParsedSource(path, f"csv-{csv_kind}", dict(rows_by_table(csv_kind, path, **extra)))]
    return [_from_record(path, None, assume_shots)]


def _from_record(path: Path, kind: str | None, assume_shots) -> ParsedSource:
    rec = parse_metadata_record(path, kind, assume_shots=assume_shots)
    return ParsedSource(path, rec.kind, rec.batch, rec.warnings, rec.model_id)


def parse_export(folder: Path) -> ParsedSource:
    """An export folder read completely into memory (a private DuckDB), ids as they are."""
    stage, parsed = load_export_folder(folder)
    out = ParsedSource(folder, "export", canonical=False)
    try:
        for table in parsed.tables:
            if table not in TABLES:
                out.warnings.append(f"table {table!r} is not part of the store's schema; skipped")
                continue
            cols = [r[0] for r in stage.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
                [table]).fetchall()]
            extra = [c for c in cols if c not in column_names(table)]
            if extra:
                raise StoreError(f"{folder}: table {table!r} has column(s) {extra} that the store's schema lacks; "
                                 "import it with the version of this package that exported it")
            missing_keys = [k for k in KEYS[table] if k not in cols]
            if missing_keys:
                raise StoreError(f"{folder}: table {table!r} lacks key column(s) {missing_keys}")
            rows = stage.sql(f"SELECT * FROM {table}").to_arrow_table().to_pylist()
            out.batch[table] = [Incoming(r, str(folder)) for r in rows]
    finally:
        stage.close()
    for stmt in parsed.skipped:
        out.warnings.append(f"statement not executed (only CREATE TABLE and COPY are read): {stmt[:80]}")
    return out


def parse_sources(paths: list[Path], **kwargs: Any) -> tuple[list[ParsedSource], list[dict[str, str]]]:
    """Parse every source; (parsed, failures as {path, reason})."""
    parsed, failed = [], []
    for path in map(Path, paths):
        try:
            kind = source_kind(path)
            if kind == "records":  # one entry per file: a bad file fails alone
                for kind, file in iter_record_files(path, ("dataset", "model", "scores")):
                    try:
                        parsed.append(_from_record(file, kind, kwargs.get("assume_shots")))
                    except (StoreError, FileNotFoundError) as err:
                        failed.append({"path": str(file), "reason": str(err)})
                continue
            parsed += parse_source(path, kind=kind, **kwargs)
        except (StoreError, FileNotFoundError) as err:
            failed.append({"path": str(path), "reason": str(err)})
    return parsed, failed


def write_sources(store, parsed: list[ParsedSource], *, on_conflict: str = "error",
                  source: str = "import") -> ImportReport:
    """Write parsed sources in one transaction (all or nothing) under the conflict policy."""
    report = ImportReport(source)
    records = [p for p in parsed if p.model_id]  # metadata records: ids resolved up to case
    with store.transaction():
        if records:
            _resolve_ids(records, *known_ids(store))
        for canonical in (False, True):  # the release as it is first, then what is added to it
            batch: dict[str, list[Incoming]] = {}
            for p in parsed:
                if p.canonical == canonical:
                    for table, items in p.batch.items():
                        batch.setdefault(table, []).extend(items)
            if batch:
                store.apply(batch, on_conflict=on_conflict, source=source, report=report, canonical=canonical)
    for p in parsed:
        report.warnings += p.warnings
    return report

