"""Import an ``EXPORT DATABASE`` folder (the paper's release, or one written by ``AnalysisStore.export``)."""
from __future__ import annotations

from pathlib import Path

from ..errors import StoreError
from ..export_folder import load_export_folder
from ..report import ImportReport
from ..schema import KEYS, TABLES, column_names
from ..upsert import upsert_arrow


def import_export_folder(store, folder: str | Path) -> ImportReport:
    """Copy every known table of an export folder into ``store`` in one transaction; rows are upserted.

    Values are imported unchanged (the release's -1 markers and out-of-vocabulary values included:
    ``njsl db check`` reports them). Columns our schema has and the folder lacks stay NULL; a column the folder
    has and our schema lacks is an error (it would be silently lost); tables we do not know are skipped and
    listed in the report's warnings. A missing CSV fails before anything is written.
    """
    folder = Path(folder)
    report = ImportReport(str(folder))
    stage, parsed = load_export_folder(folder)
    try:
        staged = {}
        for table in parsed.tables:
            if table not in TABLES:
                report.warnings.append(f"table {table!r} is not part of the store's schema; skipped")
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
            staged[table] = (cols, stage.sql(f"SELECT * FROM {table}").to_arrow_table())
        with store.transaction() as con:
            for table, (cols, data) in staged.items():
                upsert_arrow(con, table, cols, data)
                report.add_rows(table, data.num_rows)
    finally:
        stage.close()
    for stmt in parsed.skipped:
        report.warnings.append(f"statement not executed (only CREATE TABLE and COPY are read): {stmt[:80]}")
    return report
