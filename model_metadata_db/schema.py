"""The store's schema: the SQL file shipped with the package and the column types it defines."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

TABLES = ("model_annotations", "dataset_info", "evaluation_results", "features")
# Key columns of each table (the PRIMARY KEYs in schema.sql).
KEYS: dict[str, tuple[str, ...]] = {
    "model_annotations": ("id",),
    "dataset_info": ("id",),
    "evaluation_results": ("id", "benchmark", "setting", "metric"),
    "features": ("kind", "id", "feature"),
}
# Columns we appended to the release's model_annotations (all nullable).
EXTRA_ANNOTATION_COLUMNS = ("num_layers", "num_kv_heads", "vocab_size", "ffn_hidden_size", "architecture_family",
                            "training_objective", "training_framework", "source_url",
                            # mixture of experts (active_params: parameters one token uses) and the loss (HELM)
                            "num_experts", "moe_top_k", "active_params", "training_loss", "helm_alpha")
NUMERIC_TYPES = ("INTEGER", "BIGINT", "DOUBLE")
# Numeric columns in which the release writes -1 for "missing"; reads turn it into NaN. metric_value is not
# among them: "*_diff" metrics (truthfulqa_gen) are legitimately negative.
SENTINEL = -1


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # VARCHAR | INTEGER | BIGINT | DOUBLE | BOOLEAN | JSON

    @property
    def numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    @property
    def integer(self) -> bool:
        return self.type in ("INTEGER", "BIGINT")


def schema_sql() -> str:
    """The package's ``schema.sql`` (CREATE TABLE statements for every table)."""
    # Read beside this module (not importlib.resources): works for plain, editable and namespace installs alike.
    return (Path(__file__).parent / "schema.sql").read_text(encoding="utf-8")


def schema_statements() -> list[str]:
    """The ``CREATE TABLE`` statements of ``schema.sql``, comments removed (a comment may hold a ';')."""
    code = "\n".join(line for line in schema_sql().splitlines() if not line.lstrip().startswith("--"))
    return [stmt.strip() for stmt in code.split(";") if stmt.strip()]


_CREATE = re.compile(r"CREATE TABLE\s+(\w+)\s*\((.*)\);", re.IGNORECASE)
_COLUMN = re.compile(r"^\s*(\w+)\s+(VARCHAR|INTEGER|BIGINT|DOUBLE|BOOLEAN|JSON)\b", re.IGNORECASE)


@functools.lru_cache(maxsize=1)
def columns() -> dict[str, tuple[Column, ...]]:
    """Columns of each table, in schema order, parsed from ``schema.sql`` (the single source of truth)."""
    out: dict[str, tuple[Column, ...]] = {}
    for line in schema_sql().splitlines():
        match = _CREATE.match(line.strip())
        if not match:
            continue
        cols = []
        for part in match.group(2).split(","):
            col = _COLUMN.match(part)
            if col:  # skips the "PRIMARY KEY(...)" parts
                cols.append(Column(col.group(1), col.group(2).upper()))
        out[match.group(1)] = tuple(cols)
    return out


def column_names(table: str) -> list[str]:
    return [c.name for c in columns()[table]]
