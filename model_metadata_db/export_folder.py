"""Reading DuckDB ``EXPORT DATABASE`` folders (``schema.sql`` + ``load.sql`` + one CSV per table).

The paper's release names absolute paths of the machine that exported it in ``load.sql``; a folder exported by
us names the folder it was written to. Either way each ``COPY`` is pointed at the CSV of the same name inside
the folder actually given, and the tables are loaded into a private in-memory database (so a broken folder can
never touch the store) from which the caller copies them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

import duckdb

from .errors import StoreError, StoreFileNotFoundError

# Only these statements are executed from a folder's schema.sql: it describes tables, nothing else.
_ALLOWED_SCHEMA = re.compile(r"^\s*CREATE\s+(TABLE|SCHEMA|SEQUENCE|TYPE)\b", re.IGNORECASE)
_COPY = re.compile(r"^\s*COPY\s+(?P<table>[\w.\"]+)\s+FROM\s+'(?P<path>(?:[^']|'')*)'\s*(?P<options>\(.*\))?\s*$",
                   re.IGNORECASE | re.DOTALL)


@dataclass
class ExportFolder:
    """A parsed export folder: the tables it defines and the CSV each is loaded from."""
    folder: Path
    schema_statements: list[str]
    copies: list[tuple[str, Path, str]]  # (table, csv inside the folder, COPY options)
    skipped: list[str] = field(default_factory=list)

    @property
    def tables(self) -> list[str]:
        return [t for t, _, _ in self.copies]


def _statements(sql: str) -> list[str]:
    # The files DuckDB writes hold one statement per line ending in ';'. Quoted ';' inside paths are rare, so
    # split on ';' followed by a line end rather than inside a line.
    parts = re.split(r";\s*(?:\n|$)", sql)
    return [p.strip() for p in parts if p.strip() and not p.strip().startswith("--")]


def _basename(path: str) -> str:
    # A path of another machine may be POSIX or Windows; take its last component either way.
    return PureWindowsPath(path).name if "\\" in path else PurePosixPath(path).name


def parse_export_folder(folder: str | Path) -> ExportFolder:
    """Parse ``schema.sql``/``load.sql`` of an export folder and check that every CSV it names is there."""
    folder = Path(folder)
    if not folder.is_dir():
        raise StoreFileNotFoundError(f"export folder {folder} does not exist; give the folder EXPORT DATABASE wrote")
    for name in ("schema.sql", "load.sql"):
        if not (folder / name).is_file():
            raise StoreFileNotFoundError(f"{folder / name} is missing: not an EXPORT DATABASE folder "
                                         "(it needs schema.sql, load.sql and one CSV per table)")
    schema: list[str] = []
    skipped: list[str] = []
    for stmt in _statements((folder / "schema.sql").read_text(encoding="utf-8")):
        (schema if _ALLOWED_SCHEMA.match(stmt) else skipped).append(stmt)
    copies = []
    for stmt in _statements((folder / "load.sql").read_text(encoding="utf-8")):
        match = _COPY.match(stmt)
        if not match:
            skipped.append(stmt)
            continue
        table = match.group("table").strip('"')
        csv = folder / _basename(match.group("path").replace("''", "'"))
        if not csv.is_file():
            raise StoreFileNotFoundError(
                f"{folder}: load.sql loads table {table!r} from {csv.name}, but {csv} is missing; "
                "copy the complete export folder (or re-export it)")
        copies.append((table, csv, match.group("options") or ""))
    if not copies:
        raise StoreError(f"{folder / 'load.sql'}: no COPY ... FROM statement found; not an EXPORT DATABASE folder")
    return ExportFolder(folder, schema, copies, skipped)


def load_export_folder(folder: str | Path) -> tuple[duckdb.DuckDBPyConnection, ExportFolder]:
    """Load an export folder into a new in-memory DuckDB connection (the caller closes it)."""
    parsed = parse_export_folder(folder)
    con = duckdb.connect(":memory:")
    try:
        for stmt in parsed.schema_statements:
            con.execute(stmt)
        for table, csv, options in parsed.copies:
            # The path is a bound-looking literal we build ourselves from a file that exists; DuckDB's COPY
            # does not accept a parameter for the file name, so quote it as an SQL string literal.
            literal = "'" + str(csv.resolve()).replace("'", "''") + "'"
            con.execute(f"COPY {table} FROM {literal} {options}")
    except duckdb.Error as err:
        con.close()
        raise StoreError(f"{parsed.folder}: could not load the export ({err}); is it a complete, "
                         "unmodified EXPORT DATABASE folder?") from None
    return con, parsed
