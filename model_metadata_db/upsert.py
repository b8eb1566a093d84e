"""Upserting an Arrow table into a store table (shared by the store and the export-folder importer)."""
from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa

from .schema import KEYS


def upsert_arrow(con: duckdb.DuckDBPyConnection, table: str, cols: Sequence[str], data: pa.Table) -> None:
    """Insert the Arrow table ``data`` (columns ``cols``) into ``table``; a row whose key exists is updated.

    Columns not in ``cols`` keep their stored values (or NULL for new rows). Run inside a transaction.
    """
    quoted = ", ".join(f'"{c}"' for c in cols)
    updates = [c for c in cols if c not in KEYS[table]]
    conflict = ("DO UPDATE SET " + ", ".join(f'"{c}" = excluded."{c}"' for c in updates)
                if updates else "DO NOTHING")
    con.register("_njsl_incoming", data)
    try:
        con.execute(f"INSERT INTO {table} ({quoted}) SELECT {quoted} FROM _njsl_incoming "
                    f"ON CONFLICT ({', '.join(KEYS[table])}) {conflict}")
    finally:
        con.unregister("_njsl_incoming")
