"""What an import or a write did: rows written per table, warnings, and per-item errors."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ImportReport:
    """Outcome of one import (one file or one batch).

    ``rows`` counts rows written per table (re-importing identical rows still counts them: the write is an
    idempotent upsert). ``warnings`` are kept-but-suspicious findings (e.g. unknown benchmark names);
    ``errors`` are reasons items were not imported (an importer that fails as a whole raises instead).
    """
    source: str
    rows: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unknown_benchmarks: list[str] = field(default_factory=list)
    changed: int = 0  # stored scores replaced by a different value (0 when re-importing the same file)

    @property
    def ok(self) -> bool:
        return not self.errors

    def add_rows(self, table: str, n: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + n

    def merge(self, other: ImportReport) -> None:
        for table, n in other.rows.items():
            self.add_rows(table, n)
        self.warnings += other.warnings
        self.errors += other.errors
        self.changed += other.changed
        self.unknown_benchmarks = sorted(set(self.unknown_benchmarks) | set(other.unknown_benchmarks))

    def summary(self) -> str:
        rows = ", ".join(f"{n} {t}" for t, n in self.rows.items()) or "no rows"
        text = f"{self.source}: {rows}"
        if self.changed:
            text += f"; {self.changed} stored score(s) replaced by a different value"
        if self.warnings:
            text += f"; {len(self.warnings)} warning(s)"
        if self.errors:
            text += f"; {len(self.errors)} error(s)"
        return text
