"""What an import or a write did: rows written per table, the conflict-policy counts, warnings and errors."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

COUNT_NAMES = ("inserted", "unchanged", "rounding_only", "filled", "replaced", "refused")


@dataclass
class ImportReport:
    """Outcome of one import (one file or one batch).

    ``counts`` are rows per outcome of the conflict policy (see conflicts.py): ``inserted`` (new key),
    ``unchanged``, ``rounding_only`` (within tolerance; stored value kept), ``filled`` (a missing stored value
    given), ``replaced`` and ``refused``. ``rows`` counts rows actually written per table. ``conflicts`` lists
    every value a conflict touched (table, id, key, column, old, new, source, resolution). ``changed`` is the
    number of stored rows replaced by a different value.
    """
    source: str
    rows: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unknown_benchmarks: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_NAMES, 0))
    conflicts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def changed(self) -> int:
        return self.counts.get("replaced", 0)

    def add_rows(self, table: str, n: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + n

    def merge_plan(self, plan) -> None:
        for name, n in plan.counts.items():
            self.counts[name] = self.counts.get(name, 0) + n
        self.conflicts += plan.conflicts

    def merge(self, other: ImportReport) -> None:
        for table, n in other.rows.items():
            self.add_rows(table, n)
        for name, n in other.counts.items():
            self.counts[name] = self.counts.get(name, 0) + n
        self.warnings += other.warnings
        self.errors += other.errors
        self.conflicts += other.conflicts
        self.unknown_benchmarks = sorted(set(self.unknown_benchmarks) | set(other.unknown_benchmarks))

    def conflict_frame(self) -> pd.DataFrame:
        cols = ["table", "id", "key", "column", "old", "new", "old_source", "source", "resolution"]
        return pd.DataFrame(self.conflicts, columns=cols)

    def counts_line(self) -> str:
        return ", ".join(f"{self.counts.get(n, 0)} {n.replace('_', '-')}" for n in COUNT_NAMES)

    def summary(self) -> str:
        text = f"{self.source}: {self.counts_line()}"
        if self.warnings:
            text += f"; {len(self.warnings)} warning(s)"
        if self.errors:
            text += f"; {len(self.errors)} error(s)"
        return text
