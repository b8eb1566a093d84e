"""The analysis store: a DuckDB database of model annotations, training data, scores and derived features.

Concurrency design: DuckDB lets one process write a database file while no other process has it open, and
lets several processes read it (read-only) together. A file store therefore opens a short-lived connection
for each call — read-only for reads, read-write for writes and transactions — and retries while another
process holds the file, so two readers and a writer in different processes take turns instead of failing or
corrupting anything. A memory store keeps its single connection.
"""
from __future__ import annotations

import contextlib
import math
import random
import time
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Iterator, Mapping, Sequence

import duckdb
import pandas as pd
import pyarrow as pa

from njsl.atomic import atomic_path

from .benchmarks import is_known_benchmark
from .errors import StoreError, StoreFileNotFoundError, StoreLockedError
from .report import ImportReport
from .schema import SENTINEL, TABLES, column_names, columns, schema_sql, schema_statements
from .upsert import upsert_arrow
from .validation import validate_rows

MEMORY = ":memory:"
FEATURE_KINDS = ("model", "dataset")
_ARROW_TYPES = {"VARCHAR": pa.string(), "JSON": pa.string(), "INTEGER": pa.int32(), "BIGINT": pa.int64(),
                "DOUBLE": pa.float64(), "BOOLEAN": pa.bool_()}
# Numeric columns where -1 means "missing" (the release mixes -1 and NULL): every numeric column of the two
# per-model tables and the score's stderr. Not metric_value: "*_diff" metrics can be exactly negative.
_SENTINEL_TABLES = ("model_annotations", "dataset_info")


def _is_memory(path: str | Path | None) -> bool:
    return path is None or str(path) == MEMORY


def _is_lock_error(err: Exception) -> bool:
    text = str(err).lower()
    return "lock" in text and ("conflict" in text or "could not set" in text or "resource temporarily" in text)


def _as_list(value: str | Sequence[str] | None) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


class AnalysisStore:
    """A DuckDB store with the paper's three tables (+ our extra columns) and a ``features`` table.

    Open one with :meth:`from_existing` or :meth:`create`; see docs/CONTRACTS.md for the API.
    """

    def __init__(self, path: str | Path | None = None, *, lock_timeout: float = 60.0):
        self.path: Path | None = None if path is None or _is_memory(path) else Path(path)
        self.lock_timeout = lock_timeout
        self._con: duckdb.DuckDBPyConnection | None = duckdb.connect(MEMORY) if self.path is None else None
        self._session_con: duckdb.DuckDBPyConnection | None = None
        self._tx_con: duckdb.DuckDBPyConnection | None = None
        self._closed = False

    # ------------------------------------------------------------------ opening
    @classmethod
    def create(cls, path: str | Path | None = None, *, lock_timeout: float = 60.0) -> AnalysisStore:
        """A new, empty store with the schema: in memory (``None``/``":memory:"``) or a new ``.duckdb`` file."""
        if _is_memory(path):
            store = cls(None, lock_timeout=lock_timeout)
            assert store._con is not None  # an in-memory store holds its connection
            store._con.execute(schema_sql())
            return store
        assert path is not None
        path = Path(path)
        if path.exists():
            raise StoreError(f"{path} already exists; open it with AnalysisStore.from_existing() "
                             "(or remove it to start over)")
        # Build the file under a temporary name so a crash never leaves a half-initialised store behind.
        with atomic_path(path) as tmp:
            con = duckdb.connect(str(tmp))
            try:
                con.execute(schema_sql())
            finally:
                con.close()
        return cls(path, lock_timeout=lock_timeout)

    @classmethod
    def from_existing(cls, path: str | Path | None, *, lock_timeout: float = 60.0) -> AnalysisStore:
        """Open a ``.duckdb`` file, an ``EXPORT DATABASE`` folder (loaded into memory) or memory.

        A ``.duckdb`` file lacking our extra columns/tables (e.g. one written by the paper's code) gets them
        added (nullable; nothing else changes).
        """
        if _is_memory(path):
            return cls.create(None, lock_timeout=lock_timeout)
        assert path is not None
        path = Path(path)
        if path.is_dir():
            from .importers.export_folder import import_export_folder
            store = cls.create(None, lock_timeout=lock_timeout)
            try:
                import_export_folder(store, path)
            except BaseException:
                store.close()
                raise
            return store
        if not path.is_file():
            raise StoreFileNotFoundError(f"store {path} does not exist; create it with `njsl db import` or "
                                         "AnalysisStore.create(), or give an EXPORT DATABASE folder")
        store = cls(path, lock_timeout=lock_timeout)
        store._migrate()
        return store

    def _migrate(self) -> None:
        """Add missing tables/columns of our schema to an existing file (all nullable, so nothing changes)."""
        with self._connection(write=False) as con:
            existing = con.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main'"
            ).fetchall()
        have: dict[str, set[str]] = {}
        for table, col in existing:
            have.setdefault(table, set()).add(col)
        statements = schema_statements()
        todo = []
        for table in TABLES:
            if table not in have:
                todo += [s for s in statements if f"CREATE TABLE {table}(" in s]
                continue
            for col in columns()[table]:
                if col.name not in have[table]:
                    todo.append(f'ALTER TABLE {table} ADD COLUMN "{col.name}" {col.type}')
        if todo:
            with self.transaction() as con:
                for stmt in todo:
                    con.execute(stmt)

    # ------------------------------------------------------------------ connections
    def _open(self, write: bool) -> duckdb.DuckDBPyConnection:
        """Connect to the file, waiting while another process holds a conflicting lock."""
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.005
        read_only = not write
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.ConnectionException as err:
                # This process already has the file open read-write (another store object in a transaction):
                # DuckDB refuses a read-only connection beside it, but shares a read-write one.
                if read_only and "different configuration" in str(err):
                    read_only = False
                    continue
                if "different configuration" not in str(err):
                    raise StoreError(f"cannot open store {self.path}: {err}") from None
                # A read-only connection of another thread of this process is open: wait for it like a lock.
                if time.monotonic() > deadline:
                    raise StoreLockedError(f"store {self.path} is held read-only by this process for more than "
                                           f"{self.lock_timeout:g} s") from None
                time.sleep(delay)
            except duckdb.IOException as err:
                if not _is_lock_error(err):
                    raise StoreError(f"cannot open store {self.path}: {err}") from None
                if time.monotonic() > deadline:
                    raise StoreLockedError(f"store {self.path} is locked by another process for more than "
                                           f"{self.lock_timeout:g} s; retry when it has finished") from None
                # Short, jittered waits: readers of a busy file release it within milliseconds, and a writer
                # that backs off for long would keep missing the gaps between them.
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 1.5, 0.1)

    @contextlib.contextmanager
    def _connection(self, write: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if self._closed:
            raise StoreError("the store is closed; open it again with AnalysisStore.from_existing()")
        if self._tx_con is not None:
            yield self._tx_con
        elif self._con is not None:
            yield self._con
        elif self._session_con is not None:
            yield self._session_con
        else:
            con = self._open(write)
            try:
                yield con
            finally:
                con.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Group writes into one transaction: all of them or none. Nested calls join the outer one."""
        if self._tx_con is not None:
            yield self._tx_con
            return
        if self._closed:
            raise StoreError("the store is closed; open it again with AnalysisStore.from_existing()")
        held = self._con if self._con is not None else self._session_con
        con = held if held is not None else self._open(write=True)
        con.execute("BEGIN TRANSACTION")
        self._tx_con = con
        try:
            yield con
        except BaseException:
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
        else:
            try:
                con.execute("COMMIT")
            except duckdb.Error as err:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise StoreError(f"could not commit to {self.location}: {err}") from None
        finally:
            self._tx_con = None
            if con is not held:
                con.close()

    @contextlib.contextmanager
    def session(self) -> Iterator[AnalysisStore]:
        """Hold one read-write connection to a file store for a batch of calls (e.g. a folder import).

        Each write still commits in its own transaction; the session only saves reopening the file per call
        (and keeps other processes waiting until it ends). A no-op for memory stores and nested sessions.
        """
        if self._con is not None or self._session_con is not None or self._tx_con is not None:
            yield self
            return
        self._session_con = self._open(write=True)
        try:
            yield self
        finally:
            con, self._session_con = self._session_con, None
            con.close()

    @property
    def location(self) -> str:
        return MEMORY if self.path is None else str(self.path)

    def close(self) -> None:
        if self._session_con is not None:
            self._session_con.close()
            self._session_con = None
        if self._con is not None:
            self._con.close()
            self._con = None
        self._closed = True

    def __enter__(self) -> AnalysisStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AnalysisStore({self.location!r})"

    # ------------------------------------------------------------------ reads
    def query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> pd.DataFrame:
        """Run a read query (values passed as ``params``, never formatted into ``sql``) → DataFrame."""
        with self._connection(write=False) as con:
            return con.execute(sql, params or []).df()

    def _table(self, table: str, order: str = "id") -> pd.DataFrame:
        return _clean(self.query(f"SELECT * FROM {table} ORDER BY {order}"), table)

    def annotations(self) -> pd.DataFrame:
        """``model_annotations`` (one row per model id; -1 sentinels as NaN)."""
        return self._table("model_annotations")

    def dataset_info(self) -> pd.DataFrame:
        """``dataset_info`` (pretraining data per model id; -1 sentinels as NaN)."""
        return self._table("dataset_info")

    def scores(self, benchmark: str | Sequence[str] | None = None, setting: str | Sequence[str] | None = None,
               metric: str | Sequence[str] | None = None, ids: Sequence[str] | None = None) -> pd.DataFrame:
        """Rows of ``evaluation_results`` filtered by benchmark/setting/metric/ids (each a value or a list)."""
        where, params = [], []
        for col, value in (("benchmark", benchmark), ("setting", setting), ("metric", metric), ("id", ids)):
            values = _as_list(value)
            if values is not None:
                where.append(f"list_contains(?::VARCHAR[], {col})")
                params.append(values)
        sql = "SELECT id, benchmark, setting, metric, metric_value, metric_stderr FROM evaluation_results"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY benchmark, setting, metric, id"
        return _clean(self.query(sql, params), "evaluation_results")

    def benchmarks(self) -> pd.DataFrame:
        """benchmark, setting, metric, n_models — every score series in the store."""
        return self.query("SELECT benchmark, setting, metric, count(DISTINCT id) AS n_models "
                          "FROM evaluation_results GROUP BY ALL ORDER BY benchmark, setting, metric")

    def coverage(self) -> pd.DataFrame:
        """Per (benchmark, setting, metric): models with a score, and of those with an annotation / data info."""
        return self.query(
            "SELECT e.benchmark, e.setting, e.metric, count(DISTINCT e.id) AS n_models, "
            "count(DISTINCT a.id) AS n_with_annotation, count(DISTINCT d.id) AS n_with_dataset_info, "
            "count(DISTINCT CASE WHEN a.id IS NOT NULL AND d.id IS NOT NULL THEN e.id END) AS n_with_both "
            "FROM evaluation_results e LEFT JOIN model_annotations a ON a.id = e.id "
            "LEFT JOIN dataset_info d ON d.id = e.id "
            "GROUP BY ALL ORDER BY n_models DESC, e.benchmark, e.setting, e.metric")

    def features(self, kind: str | None = None) -> pd.DataFrame:
        """The ``features`` table in long form (kind, id, feature, value, source), optionally one kind."""
        if kind is not None:
            _check_kind(kind)
            return self.query("SELECT * FROM features WHERE kind = ? ORDER BY id, feature", [kind])
        return self.query("SELECT * FROM features ORDER BY kind, id, feature")

    def features_wide(self, kind: str = "model") -> pd.DataFrame:
        """Features of one kind as a wide frame: index ``id``, one float column per feature name."""
        long = self.features(kind)
        if long.empty:
            return pd.DataFrame(index=pd.Index([], name="id", dtype="str"))
        wide = long.pivot(index="id", columns="feature", values="value").astype("float64")
        wide.columns.name = None
        return wide

    def models_with_features(self) -> pd.DataFrame:
        """One row per annotated model id: annotations ⟕ dataset_info ⟕ model features (wide)."""
        ann = self.annotations()
        info = self.dataset_info()
        merged = ann.merge(info, on="id", how="left")
        feats = self.features_wide("model")
        if len(feats.columns):
            # A feature named like a table column would be ambiguous; prefix it rather than overwrite.
            feats = feats.rename(columns={c: f"feature_{c}" for c in feats.columns if c in merged.columns})
            merged = merged.merge(feats, left_on="id", right_index=True, how="left")
        return merged

    def counts(self) -> dict[str, int]:
        """Rows per table and distinct evaluated model ids."""
        with self._connection(write=False) as con:
            out = {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in TABLES}
            out["evaluated_ids"] = con.execute("SELECT count(DISTINCT id) FROM evaluation_results").fetchall()[0][0]
        return out

    # ------------------------------------------------------------------ writes
    def upsert_annotation(self, row: Mapping[str, Any]) -> None:
        """Insert or update one ``model_annotations`` row; columns not given keep their stored value."""
        self.upsert_rows("model_annotations", [row])

    def upsert_dataset_info(self, row: Mapping[str, Any]) -> None:
        """Insert or update one ``dataset_info`` row; columns not given keep their stored value."""
        self.upsert_rows("dataset_info", [row])

    def add_eval_results(self, rows: pd.DataFrame | Iterable[Mapping[str, Any]], *,
                         source: str = "add_eval_results") -> ImportReport:
        """Insert or replace scores (id, benchmark, setting, metric, metric_value, metric_stderr).

        Unknown benchmark names are kept and listed in the report's ``unknown_benchmarks``/``warnings``.
        """
        records = _records(rows)
        clean = validate_rows("evaluation_results", records)
        for row in clean:
            if row.get("metric_value") is None:
                raise StoreError(f"evaluation_results row (id={row['id']!r}, benchmark={row['benchmark']!r}): "
                                 "required field 'metric_value' is missing")
        report = ImportReport(source)
        unknown = sorted({r["benchmark"] for r in clean if not is_known_benchmark(r["benchmark"])})
        with self.transaction():
            if unknown:
                known_here = set(self.query("SELECT DISTINCT benchmark FROM evaluation_results "
                                            "WHERE list_contains(?::VARCHAR[], benchmark)", [unknown])["benchmark"])
                unknown = [b for b in unknown if b not in known_here]
            report.changed = self._count_changed(clean)
            self._write("evaluation_results", clean)
        report.add_rows("evaluation_results", len(clean))
        if unknown:
            report.unknown_benchmarks = unknown
            report.warnings.append(f"unknown benchmark name(s) kept as given: {', '.join(unknown)} "
                                   "(not in the release's vocabulary; check the spelling)")
        return report

    def _count_changed(self, rows: list[dict[str, Any]]) -> int:
        """How many of these scores replace a stored score with a different value (0 for a re-import)."""
        arrow = pa.table({
            "id": pa.array([r["id"] for r in rows], pa.string()),
            "benchmark": pa.array([r["benchmark"] for r in rows], pa.string()),
            "setting": pa.array([r["setting"] for r in rows], pa.string()),
            "metric": pa.array([r["metric"] for r in rows], pa.string()),
            "metric_value": pa.array([r["metric_value"] for r in rows], pa.float64())})
        with self._connection(write=False) as con:
            con.register("_njsl_new", arrow)
            try:
                return con.execute(
                    "SELECT count(*) FROM _njsl_new n JOIN evaluation_results e USING (id, benchmark, setting, metric) "
                    "WHERE e.metric_value IS DISTINCT FROM n.metric_value").fetchall()[0][0]
            finally:
                con.unregister("_njsl_new")

    def upsert_rows(self, table: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Validate and upsert rows of any table in one transaction; returns the number of rows."""
        if table not in TABLES:
            raise StoreError(f"unknown table {table!r}; tables: {list(TABLES)}")
        clean = validate_rows(table, _records(rows))
        with self.transaction():
            self._write(table, clean)
        return len(clean)

    def set_features(self, kind: str, entity_id: str, features: Mapping[str, float], source: str) -> None:
        """Set features of one model/dataset id: replaces those feature names for that id (one transaction)."""
        _check_kind(kind)
        if not isinstance(entity_id, str) or not entity_id.strip():
            raise StoreError(f"features: entity id must be a non-empty string, got {entity_id!r}")
        if not isinstance(source, str) or not source.strip():
            raise StoreError(f"features of {entity_id!r}: 'source' must name where the values come from")
        rows = []
        for name, value in features.items():
            rows.append({"kind": kind, "id": entity_id, "feature": name, "source": source,
                         "value": None if isinstance(value, float) and math.isnan(value) else value})
        clean = validate_rows("features", rows)
        with self.transaction():
            self._write("features", clean)

    def delete_model(self, model_id: str) -> dict[str, int]:
        """Remove a model id from every table (one transaction); returns rows removed per table."""
        removed = {}
        with self.transaction() as con:
            for table in TABLES:
                extra = " AND kind = 'model'" if table == "features" else ""
                n = con.execute(f"SELECT count(*) FROM {table} WHERE id = ?{extra}", [model_id]).fetchall()[0][0]
                con.execute(f"DELETE FROM {table} WHERE id = ?{extra}", [model_id])
                removed[table] = n
        return removed

    def _write(self, table: str, rows: list[dict[str, Any]]) -> None:
        """Upsert validated rows, grouped by the set of columns they give."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:
            cols = tuple(c for c in column_names(table) if c in row)
            groups.setdefault(cols, []).append(row)
        types = {c.name: c.type for c in columns()[table]}
        with self.transaction() as con:
            for cols, group in groups.items():
                arrow = pa.table({c: pa.array([r[c] for r in group], type=_ARROW_TYPES[types[c]]) for c in cols})
                upsert_arrow(con, table, cols, arrow)

    # ------------------------------------------------------------------ export
    def export(self, folder: str | Path, *, overwrite: bool = False) -> Path:
        """Write an ``EXPORT DATABASE`` folder (CSV) that re-imports to identical tables; atomic."""
        folder = Path(folder)
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())) and not overwrite:
            raise StoreError(f"export folder {folder} exists and is not empty; choose a new folder "
                             "(or pass overwrite=True / --overwrite)")
        with atomic_path(folder) as tmp, self._connection(write=False) as con:
            literal = "'" + str(tmp).replace("'", "''") + "'"
            con.execute(f"EXPORT DATABASE {literal} (FORMAT csv)")
            # load.sql names the temporary folder; point it at the final one so DuckDB's own IMPORT DATABASE
            # works too (our importer ignores the directory part anyway).
            load = tmp / "load.sql"
            load.write_text(load.read_text(encoding="utf-8").replace(str(tmp), str(folder.resolve())),
                            encoding="utf-8")
        return folder


def _check_kind(kind: str) -> None:
    if kind not in FEATURE_KINDS:
        raise StoreError(f"features: kind must be one of {list(FEATURE_KINDS)}, got {kind!r}")


def _records(rows: pd.DataFrame | Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if isinstance(rows, pd.DataFrame):
        # to_dict gives numpy scalars; .item() turns them into Python numbers for validation.
        return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()}
                for r in rows.to_dict(orient="records")]
    if isinstance(rows, Mapping):
        raise StoreError("expected a list of rows (dicts) or a DataFrame, got a single dict; wrap it in a list")
    return list(rows)


def _clean(frame: pd.DataFrame, table: str) -> pd.DataFrame:
    """Numeric columns as float64 with NaN for missing; -1 sentinels → NaN where the release uses them."""
    types = {c.name: c for c in columns().get(table, ())}
    for name in frame.columns:
        col = types.get(name)
        if col is None or not col.numeric:
            continue
        values = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        if table in _SENTINEL_TABLES or name == "metric_stderr":
            values = values.mask(values == SENTINEL)
        frame[name] = values
    return frame
