"""The conflict policy: what an import may change in the store, and the counts every import ends with.

Every write path (release folders, metadata records, lm-eval results, CSV files, HF configs, register-run)
goes through :func:`plan_rows`. Each incoming row is compared with the stored row of the same key, column by
column:

* **unchanged** — every given value equals the stored one;
* **rounding-only** — differences are within :data:`REL_TOL` (the stored value is kept);
* **filled** — a stored NULL (or the release's -1 "missing") gets a value; nothing is lost, so no permission
  is needed;
* **conflict** — a stored value would change beyond rounding. The policy decides: ``error`` (default) stops
  the import, writes nothing and prints the diff; ``keep`` keeps the stored value (the row is **refused**);
  ``replace`` writes the new value (**replaced**); ``newest`` lets the row with the later ``last_updated``
  win (an undated side, or a tie, stops the import).

Two rows for one key inside one import (two record files of one model) are compared the same way before the
store is looked at; ``replace`` then takes the last one in import order and ``newest`` the later
``last_updated`` (the other row counts as refused), ``keep`` refuses both. Every incoming row gets exactly one
outcome in the counts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Mapping, Sequence

import pandas as pd

from .errors import StoreError
from .report import COUNT_NAMES
from .schema import KEYS, SENTINEL

POLICIES = ("error", "keep", "replace", "newest")
# Two numbers are "the same up to rounding" when they differ by at most REL_TOL * max(1, |a|, |b|). The release's
# CSV keeps 16 decimals and some runs stored float32 (relative precision 6e-8); one item of a 10,000-item
# benchmark moves an accuracy by 1e-4. 1e-6 separates the two by two orders of magnitude on each side.
REL_TOL = 1e-6
# In evaluation_results a value and its stderr travel together: a conflicting value takes its stderr along.
LINKED = {"evaluation_results": ("metric_value", "metric_stderr", "n_samples", "n_total")}


class ConflictError(StoreError):
    """An import would change stored values beyond rounding and no policy allowed it."""

    def __init__(self, message: str, diff: pd.DataFrame):
        super().__init__(message)
        self.diff = diff


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise StoreError(f"on_conflict must be one of {list(POLICIES)}, got {policy!r}")
    return policy


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def compare(old: Any, new: Any, *, sentinel: bool = True) -> str:
    """``same`` | ``rounding`` | ``fill`` | ``conflict`` for one stored value and one incoming value.

    With ``sentinel`` a stored -1 counts as missing (the release's marker; not for ``metric_value``).
    """
    if _missing(new):
        return "same"  # an absent incoming value never erases a stored one
    if _missing(old) or (sentinel and isinstance(old, (int, float)) and not isinstance(old, bool)
                         and old == SENTINEL and new != SENTINEL):
        return "fill"
    if old == new:
        return "same"
    if isinstance(old, (int, float)) and isinstance(new, (int, float)) and not isinstance(old, bool) \
            and not isinstance(new, bool):
        return "rounding" if abs(old - new) <= REL_TOL * max(1.0, abs(old), abs(new)) else "conflict"
    return "conflict"


@dataclass
class Incoming:
    """One row of an import with where it came from (file) and when it was produced (``last_updated``)."""
    row: dict[str, Any]
    source: str
    updated: str | None = None


@dataclass
class Plan:
    """What an import will do: rows to write per table, counts, and the conflicts found."""
    writes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_NAMES, 0))
    conflicts: list[dict[str, Any]] = field(default_factory=list)

    def diff(self) -> pd.DataFrame:
        cols = ["table", "id", "key", "column", "old", "new", "old_source", "source", "resolution"]
        return pd.DataFrame(self.conflicts, columns=cols)


def _key_text(table: str, row: Mapping[str, Any]) -> str:
    return " ".join(str(row[k]) for k in KEYS[table] if k != "id")


def _newest(a: Incoming, b: Incoming) -> Incoming | None:
    if not a.updated or not b.updated or a.updated == b.updated:
        return None
    return a if str(a.updated) > str(b.updated) else b


def _merge_batch(table: str, items: Sequence[Incoming], policy: str, plan: Plan) -> list[Incoming]:
    """Collapse rows sharing a key inside one import; conflicting ones follow the policy."""
    by_key: dict[tuple, Incoming] = {}
    refused: set[tuple] = set()
    order: list[tuple] = []
    for item in items:
        key = tuple(item.row[k] for k in KEYS[table])
        if key not in by_key:
            by_key[key] = item
            order.append(key)
            continue
        first = by_key[key]
        bad = [c for c in item.row if c not in KEYS[table]
               and compare(first.row.get(c), item.row[c], sentinel=c != "metric_value") == "conflict"]
        if not bad:
            merged = dict(first.row)
            merged.update({c: v for c, v in item.row.items() if not _missing(v) and _missing(first.row.get(c))})
            by_key[key] = Incoming(merged, first.source, first.updated)
            plan.counts["unchanged"] += 1
            continue
        winner = None
        if policy == "replace":
            winner = item
        elif policy == "newest":
            winner = _newest(first, item)
        for col in bad:
            plan.conflicts.append({"table": table, "id": item.row["id"], "key": _key_text(table, item.row),
                                   "column": col, "old": first.row.get(col), "new": item.row[col],
                                   "old_source": first.source, "source": item.source,
                                   "resolution": ("two rows in this import; " +
                                                  (f"{winner.source} wins" if winner else
                                                   "both refused" if policy == "keep" else "undecided"))})
        if winner is None and policy in ("error", "newest"):
            continue  # reported as an error by plan_rows
        if winner is None:  # keep: neither file is trusted over the other
            refused.add(key)
            plan.counts["refused"] += 2
            continue
        by_key[key] = winner
        plan.counts["refused"] += 1  # the losing row: every incoming row gets exactly one outcome
    return [by_key[k] for k in order if k not in refused]


def plan_rows(table: str, items: Sequence[Incoming], stored: dict[tuple, dict[str, Any]], policy: str,
              plan: Plan) -> None:
    """Decide, row by row, what of ``items`` is written to ``table`` given the ``stored`` rows (by key)."""
    check_policy(policy)
    merged = _merge_batch(table, items, policy, plan)
    writes = plan.writes.setdefault(table, [])
    linked = LINKED.get(table, ())
    for item in merged:
        row = item.row
        key = tuple(row[k] for k in KEYS[table])
        old = stored.get(key)
        if old is None:
            writes.append(row)
            plan.counts["inserted"] += 1
            continue
        verdicts = {c: compare(old.get(c), v, sentinel=c != "metric_value") for c, v in row.items()
                    if c not in KEYS[table]}
        reported = [c for c, v in verdicts.items() if v == "conflict"]
        conflict_cols = list(reported)
        if linked and verdicts.get(linked[0]) == "conflict":
            conflict_cols += [c for c in linked if c in row and c not in conflict_cols]
        fill_cols = [c for c, v in verdicts.items() if v == "fill" and c not in conflict_cols]
        if conflict_cols:
            take: bool | None = policy == "replace"
            if policy in ("error", "newest"):
                take = None  # the store keeps no last_updated: "newest" only settles rows of one import
            for col in reported:
                plan.conflicts.append({"table": table, "id": row["id"], "key": _key_text(table, row), "column": col,
                                       "old": old.get(col), "new": row[col], "old_source": "store",
                                       "source": item.source,
                                       "resolution": {True: "replaced", False: "kept", None: "undecided"}[take]})
            if take is None:
                continue
            cols = set(fill_cols) | (set(conflict_cols) if take else set())
            plan.counts["replaced" if take else "refused"] += 1
        elif fill_cols:
            cols = set(fill_cols)
            plan.counts["filled"] += 1
        elif any(v == "rounding" for v in verdicts.values()):
            plan.counts["rounding_only"] += 1
            continue
        else:
            plan.counts["unchanged"] += 1
            continue
        if cols:
            writes.append({c: v for c, v in row.items() if c in KEYS[table] or c in cols})


def raise_undecided(plan: Plan, policy: str) -> None:
    """Stop the import (before anything is written) when a conflict was left undecided by the policy."""
    undecided = [c for c in plan.conflicts if c["resolution"].endswith("undecided")]
    if undecided:
        diff = pd.DataFrame(undecided)
        raise ConflictError(conflict_message(diff, policy), diff)


def conflict_message(diff: pd.DataFrame, policy: str) -> str:
    """The diff of refused changes as text: one line per value, then how to proceed."""
    lines = [f"{len(diff)} stored value(s) would change beyond rounding (tolerance {REL_TOL:g} relative); "
             "nothing was written:"]
    for r in diff.head(20).itertuples():
        key = f" {r.key}" if r.key else ""
        other = "stored value" if r.old_source == "store" else f"two rows in this import, other from {r.old_source}"
        lines.append(f"  {r.table} {r.id}{key} {r.column}: {r.old!r} -> {r.new!r} (from {r.source}; {other})")
    if len(diff) > 20:
        lines.append(f"  ... {len(diff) - 20} more")
    if policy == "newest":
        lines.append("--on-conflict newest needs a distinct last_updated on both sides; choose keep or replace")
    else:
        lines.append("choose with --on-conflict keep|replace|newest (API: on_conflict=...)")
    return "\n".join(lines)
