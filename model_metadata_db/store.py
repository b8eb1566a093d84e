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

from .aliases import apply_fills, canonical_id, canonicalize, load_aliases
from .benchmarks import is_known_benchmark
from .conflicts import Incoming, Plan, check_policy, plan_rows, raise_undecided
from .errors import StoreError, StoreFileNotFoundError, StoreLockedError
from .hygiene import flag_scores, training_mask
from .paper_api import PaperAPI
from .report import ImportReport
from .schema import KEYS, SENTINEL, TABLES, column_names, columns, schema_sql, schema_statements
from .upsert import unregister_quietly, upsert_arrow
from .validation import validate_rows, validate_score_rows

MEMORY = ":memory:"
# Files are written in the storage format of DuckDB 1.1 (what pyproject's floor `duckdb>=1.1` can read);
# DuckDB 2.0's default format ("v2.0.0+") cannot be opened by any 1.x release.
STORAGE_COMPATIBILITY = "v1.1.0"
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


class AnalysisStore(PaperAPI):
    """A DuckDB store with the paper's three tables (+ our extra columns) and a ``features`` table.

    ``AnalysisStore(db_path)`` (the paper's constructor) opens ``db_path`` with the schema: memory, an existing
    file (never emptied, unlike the paper's, which drops its tables) or a new file. :meth:`from_existing`
    opens what exists and :meth:`create` only creates; see docs/CONTRACTS.md for the API.
    """

    def __init__(self, db_path: str | Path | None = MEMORY, create_new: bool = False, *,
                 lock_timeout: float = 60.0):
        self._setup(db_path, lock_timeout)
        if self.path is None:
            assert self._con is not None  # an in-memory store holds its connection
            self._con.execute(schema_sql())
        elif self.path.exists():
            if create_new:
                raise StoreError(f"{self.path} already exists and create_new=True; this store never empties a "
                                 "file: remove it first, or open it with create_new=False")
            self._verify()
            self._migrate()
        else:
            _create_file(self.path)

    def _setup(self, path: str | Path | None, lock_timeout: float) -> None:
        self.path: Path | None = None if path is None or _is_memory(path) else Path(path)
        self.lock_timeout = lock_timeout
        self._con: duckdb.DuckDBPyConnection | None = duckdb.connect(MEMORY) if self.path is None else None
        self._session_con: duckdb.DuckDBPyConnection | None = None
        self._tx_con: duckdb.DuckDBPyConnection | None = None
        self._closed = False

    @classmethod
    def _bare(cls, path: str | Path | None, lock_timeout: float) -> AnalysisStore:
        store = cls.__new__(cls)
        store._setup(path, lock_timeout)
        return store

    # ------------------------------------------------------------------ opening
    @classmethod
    def create(cls, path: str | Path | None = None, *, lock_timeout: float = 60.0) -> AnalysisStore:
        """A new, empty store with the schema: in memory (``None``/``":memory:"``) or a new ``.duckdb`` file."""
        if _is_memory(path):
            store = cls._bare(None, lock_timeout)
            assert store._con is not None  # an in-memory store holds its connection
            store._con.execute(schema_sql())
            return store
        assert path is not None
        path = Path(path)
        if path.exists():
            raise StoreError(f"{path} already exists; open it with AnalysisStore.from_existing() "
                             "(or remove it to start over)")
        _create_file(path)
        return cls._bare(path, lock_timeout)

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
            raise StoreFileNotFoundError(f"store {path} does not exist; create it with `njsl db create {path}` or "
                                         "AnalysisStore.create(), or give an EXPORT DATABASE folder")
        store = cls._bare(path, lock_timeout)
        store._verify()
        store._migrate()
        return store

    def _verify(self) -> None:
        """Read every table once: a corrupt or truncated file fails here, before anything is written to it.

        DuckDB checks a block's checksum only when it reads the block, so a store with one bad block would
        otherwise accept writes (to other blocks) while reads of the bad one crash.
        """
        try:
            with self._connection(write=False) as con:
                tables = [r[0] for r in con.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()]
                for table in tables:
                    if table in TABLES:
                        con.execute(f"SELECT * FROM {table}").fetchall()
        except duckdb.Error as err:
            raise StoreError(f"store {self.path} is corrupt or not a DuckDB store ({_first_line(err)}); "
                             "nothing was read or written. Restore it from a backup or rebuild it from an "
                             "export (`njsl db import FOLDER --db NEW.duckdb --create`)") from None

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
                    raise StoreError(f"cannot open store {self.path}: {_first_line(err)} (a truncated or corrupt "
                                     "file, or an unreadable one); nothing was read or written") from None
                if time.monotonic() > deadline:
                    raise StoreLockedError(f"store {self.path} is locked by another process for more than "
                                           f"{self.lock_timeout:g} s; retry when it has finished") from None
                # Short, jittered waits: readers of a busy file release it within milliseconds, and a writer
                # that backs off for long would keep missing the gaps between them.
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 1.5, 0.1)
            except duckdb.Error as err:  # a truncated or foreign file: one line, not a traceback
                raise StoreError(f"cannot open store {self.path}: it is corrupt or not a DuckDB database "
                                 f"({_first_line(err)}); nothing was read or written. Restore it from a backup or "
                                 "rebuild it from an export (`njsl db import FOLDER --db NEW.duckdb --create`)"
                                 ) from None

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
    def con(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection (the paper's attribute). On a file store it holds the file open read-write
        until :meth:`close`, so other processes wait for it."""
        if self._closed:
            raise StoreError("the store is closed; open it again with AnalysisStore.from_existing()")
        if self._con is not None:
            return self._con
        if self._session_con is None:
            self._session_con = self._open(write=True)
        return self._session_con

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

    def annotations(self, canonical: bool = True) -> pd.DataFrame:
        """``model_annotations`` (one row per model id; -1 sentinels as NaN).

        With ``canonical`` ids are mapped through ``metadata/model_aliases.csv`` (an alias's row only fills
        what the canonical id's row lacks) and missing values are filled from the reviewed
        ``metadata/annotation_fills.csv``; ``canonical=False`` returns the table as stored.
        """
        frame = self._canonical(self._table("model_annotations"), ["id"], canonical)
        if canonical:
            frame = apply_fills(frame)
        return frame

    def dataset_info(self, canonical: bool = True) -> pd.DataFrame:
        """``dataset_info`` (pretraining data per model id; -1 sentinels as NaN; canonical ids by default)."""
        return self._canonical(self._table("dataset_info"), ["id"], canonical)

    def scores(self, benchmark: str | Sequence[str] | None = None, setting: str | Sequence[str] | None = None,
               metric: str | Sequence[str] | None = None, ids: Sequence[str] | None = None,
               canonical: bool = True) -> pd.DataFrame:
        """Rows of ``evaluation_results`` filtered by benchmark/setting/metric/ids (each a value or a list).

        With ``canonical`` (default) ids are canonical and ``ids`` are matched after mapping; where a model has
        a score under an alias and under its canonical id, the canonical id's own score is kept.
        """
        where, params = [], []
        for col, value in (("benchmark", benchmark), ("setting", setting), ("metric", metric)):
            values = _as_list(value)
            if values is not None:
                where.append(f"list_contains(?::VARCHAR[], {col})")
                params.append(values)
        wanted = _as_list(ids)
        if wanted is not None and not canonical:
            where.append("list_contains(?::VARCHAR[], id)")
            params.append(wanted)
        sql = ("SELECT id, benchmark, setting, metric, metric_value, metric_stderr, n_samples, n_total "
               "FROM evaluation_results")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY benchmark, setting, metric, id"
        frame = self._canonical(_clean(self.query(sql, params), "evaluation_results"),
                                ["id", "benchmark", "setting", "metric"], canonical)
        if wanted is not None and canonical:
            frame = frame[frame["id"].isin([canonical_id(i) for i in wanted])].reset_index(drop=True)
        return frame

    def _canonical(self, frame: pd.DataFrame, keys: list[str], canonical: bool) -> pd.DataFrame:
        if not canonical:
            return frame
        return canonicalize(frame, keys)

    def flagged_scores(self) -> pd.DataFrame:
        """Scores that do not train the predictor by default, each with its flag and reason (hygiene.py)."""
        return flag_scores(self.scores())

    def training_scores(self, metric: str | Sequence[str] | None = None, *, include_flagged: bool = False,
                        include_partial: bool = False, **filters: Any) -> pd.DataFrame:
        """Scores for training the predictor: canonical ids, without flagged (broken runs, rows outside a task's
        definition) and partial evaluations unless asked (``include_flagged`` / ``include_partial``)."""
        scores = self.scores(metric=metric, **filters)
        # flags are judged on every metric of a run (a broken perplexity flags the run's accuracy too)
        mask = training_mask(scores, self.flagged_scores(), include_flagged=include_flagged,
                             include_partial=include_partial)
        return scores[mask].reset_index(drop=True)

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

    def models_with_features(self, canonical: bool = True) -> pd.DataFrame:
        """One row per annotated model id: annotations ⟕ dataset_info ⟕ model features (wide)."""
        ann = self.annotations(canonical)
        info = self.dataset_info(canonical)
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
    def upsert_annotation(self, row: Mapping[str, Any], *, on_conflict: str = "error",
                          source: str = "upsert_annotation") -> ImportReport:
        """Insert or update one ``model_annotations`` row; columns not given keep their stored value.

        A given value that differs from a stored one beyond rounding follows ``on_conflict`` (see conflicts.py).
        """
        return self.upsert_rows("model_annotations", [row], on_conflict=on_conflict, source=source)

    def upsert_dataset_info(self, row: Mapping[str, Any], *, on_conflict: str = "error",
                            source: str = "upsert_dataset_info") -> ImportReport:
        """Insert or update one ``dataset_info`` row; columns not given keep their stored value."""
        return self.upsert_rows("dataset_info", [row], on_conflict=on_conflict, source=source)

    def add_eval_results(self, rows: pd.DataFrame | Iterable[Mapping[str, Any]], *,
                         source: str = "add_eval_results", on_conflict: str = "error") -> ImportReport:
        """Insert scores (id, benchmark, setting, metric, metric_value, metric_stderr[, n_samples, n_total]).

        A score that would change a stored one beyond rounding follows ``on_conflict``: ``error`` (default:
        raise :class:`ConflictError` with the diff, nothing written), ``keep`` or ``replace``. Unknown benchmark
        names are kept and listed in the report's ``unknown_benchmarks``/``warnings``.
        """
        clean = validate_score_rows(_records(rows))
        return self.apply({"evaluation_results": [Incoming(r, source) for r in clean]}, on_conflict=on_conflict,
                          source=source)

    def upsert_rows(self, table: str, rows: Iterable[Mapping[str, Any]], *, on_conflict: str = "error",
                    source: str = "upsert_rows") -> ImportReport:
        """Validate and upsert rows of any table in one transaction, under the conflict policy."""
        if table not in TABLES:
            raise StoreError(f"unknown table {table!r}; tables: {list(TABLES)}")
        clean = validate_rows(table, _records(rows))
        return self.apply({table: [Incoming(r, source) for r in clean]}, on_conflict=on_conflict, source=source)

    def apply(self, batch: Mapping[str, Sequence[Incoming]], *, on_conflict: str = "error",
              source: str = "import", report: ImportReport | None = None, canonical: bool = True) -> ImportReport:
        """Write validated rows of several tables in one transaction under the conflict policy.

        With ``canonical`` ids are mapped to canonical ids (``metadata/model_aliases.csv``) first (an export
        folder is copied as it is). Raises :class:`ConflictError` (nothing written) when a stored value would
        change and the policy does not decide it.
        """
        check_policy(on_conflict)
        report = report or ImportReport(source)
        aliases = load_aliases() if canonical else {}
        plan = Plan()
        with self.transaction():
            for table in TABLES:
                items = list(batch.get(table, ()))
                if not items:
                    continue
                mapped: dict[str, str] = {}
                for item in items:
                    canon = aliases.get(item.row["id"])
                    if canon is not None and (table != "features" or item.row.get("kind") == "model"):
                        mapped[item.row["id"]] = canon
                        item.row = {**item.row, "id": canon}
                report.warnings += [f"model id {a!r} stored as {c!r} (metadata/model_aliases.csv)"
                                    for a, c in mapped.items()]
                plan_rows(table, items, self._stored_rows(table, items), on_conflict, plan)
            raise_undecided(plan, on_conflict)
            for table, rows in plan.writes.items():
                if rows:
                    self._write(table, rows)
                    report.add_rows(table, len(rows))
        scores = [i.row for i in batch.get("evaluation_results", ())]
        if scores:
            unknown = sorted({r["benchmark"] for r in scores if not is_known_benchmark(r["benchmark"])})
            if unknown:
                known_here = set(self.query("SELECT DISTINCT benchmark FROM evaluation_results WHERE "
                                            "list_contains(?::VARCHAR[], benchmark) AND NOT list_contains(?::VARCHAR[],"
                                            " id)", [unknown, sorted({r["id"] for r in scores})])["benchmark"])
                unknown = [b for b in unknown if b not in known_here]
            if unknown:
                report.unknown_benchmarks = sorted(set(report.unknown_benchmarks) | set(unknown))
                report.warnings.append(f"unknown benchmark name(s) kept as given: {', '.join(unknown)} "
                                       "(not in the release's vocabulary; check the spelling)")
        report.merge_plan(plan)
        return report

    def _stored_rows(self, table: str, items: Sequence[Incoming]) -> dict[tuple, dict[str, Any]]:
        """Stored rows with the keys of ``items`` (key tuple -> row dict), read inside the current transaction."""
        keys = KEYS[table]
        types = {c.name: c.type for c in columns()[table]}
        arrow = pa.table({k: pa.array([i.row[k] for i in items], type=_ARROW_TYPES[types[k]]) for k in keys})
        with self._connection(write=False) as con:
            con.register("_njsl_keys", arrow)
            try:
                on = " AND ".join(f't."{k}" = k."{k}"' for k in keys)
                rows = con.execute(f"SELECT DISTINCT t.* FROM {table} t JOIN _njsl_keys k ON {on}").fetchall()
                names = [d[0] for d in con.description]
            finally:
                unregister_quietly(con, "_njsl_keys")
        out = {}
        for values in rows:
            row = dict(zip(names, values, strict=True))
            out[tuple(row[k] for k in keys)] = row
        return out

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
        # Derived features are recomputed from their source: a new computation replaces the old one.
        self.apply({"features": [Incoming(r, source) for r in clean]}, on_conflict="replace", source=source)

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


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__


def _create_file(path: Path) -> None:
    """A new ``.duckdb`` file with the schema, built under a temporary name (a crash leaves nothing behind)."""
    if not path.parent.is_dir():
        raise StoreFileNotFoundError(f"cannot create store {path}: folder {path.parent} does not exist")
    try:
        with atomic_path(path) as tmp:
            con = duckdb.connect(str(tmp), config={"storage_compatibility_version": STORAGE_COMPATIBILITY})
            try:
                con.execute(schema_sql())
            finally:
                con.close()
    except PermissionError as err:
        reason = (err.strerror or "permission denied").lower()
        raise StoreError(f"cannot create store {path}: {reason} (the folder is not writable); "
                         "choose a writable --db path") from None
    except duckdb.Error as err:
        raise StoreError(f"cannot create store {path}: {_first_line(err)}") from None


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
