"""One id per model: the project's alias table (``metadata/model_aliases.csv``) and its use.

The table maps ids that name one model — hub-name variants (``Llama-2-7b`` / ``Llama-2-7b-hf``), case twins
(``pythia-410M`` / ``pythia-410m``), filesystem-path ids of the paper's own trained models — to a canonical id,
with the reason for each entry. Imports store canonical ids; reads of the release (which keeps the aliases)
map ids on the fly. When a model has a score under both ids, the canonical id's own value is kept and the
alias's is dropped (listed by :func:`alias_overlaps`).
"""
from __future__ import annotations

import csv
import functools
import re
from pathlib import Path

import pandas as pd

from .errors import StoreError

ALIAS_FILE = Path(__file__).resolve().parents[1] / "metadata" / "model_aliases.csv"
FILLS_FILE = Path(__file__).resolve().parents[1] / "metadata" / "annotation_fills.csv"
_PATH_LIKE = re.compile(r"^(/|~|\.{1,2}/|[A-Za-z]:\\)")


@functools.lru_cache(maxsize=4)
def _load(path: str) -> dict[str, str]:
    file = Path(path)
    if not file.is_file():
        raise StoreError(f"alias table {file} is missing; it ships with the project (metadata/model_aliases.csv)")
    out: dict[str, str] = {}
    with file.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != ["alias", "canonical", "reason"]:
            raise StoreError(f"{file}: header must be alias,canonical,reason, got {reader.fieldnames}")
        for line, row in enumerate(reader, start=2):
            alias, canon, reason = ((row.get(k) or "").strip() for k in ("alias", "canonical", "reason"))
            if not alias or not canon or not reason:
                raise StoreError(f"{file} line {line}: alias, canonical and reason must all be given")
            if alias == canon or alias in out:
                raise StoreError(f"{file} line {line}: alias {alias!r} maps to itself or is listed twice")
            out[alias] = canon
    chained = sorted(a for a, c in out.items() if c in out)
    if chained:
        raise StoreError(f"{file}: canonical id(s) of {chained} are themselves aliases; map to the final id")
    return out


def load_aliases(path: str | Path | None = None) -> dict[str, str]:
    """alias id -> canonical id, from ``path`` (default: the project's ``metadata/model_aliases.csv``)."""
    return dict(_load(str(path or ALIAS_FILE)))


def canonical_id(model_id: str, aliases: dict[str, str] | None = None) -> str:
    """The canonical id of ``model_id`` (itself when it is no alias)."""
    table = load_aliases() if aliases is None else aliases
    return table.get(model_id, model_id)


def canonicalize(frame: pd.DataFrame, keys: list[str], aliases: dict[str, str] | None = None) -> pd.DataFrame:
    """``frame`` with ``id`` mapped to canonical ids; where two ids now share ``keys`` the canonical id's own row
    wins and the alias's row only fills columns the canonical row lacks."""
    table = load_aliases() if aliases is None else aliases
    if frame.empty or not set(frame["id"]) & set(table):
        return frame
    out = frame.copy()
    out["_own"] = ~out["id"].isin(list(table))
    out["id"] = out["id"].map(lambda i: table.get(i, i))
    out = out.sort_values("_own", ascending=False, kind="stable")
    if keys == ["id"]:
        # annotations: fill each column from the alias row where the canonical row has nothing
        out = out.groupby("id", sort=False, as_index=False).first()
    else:
        out = out.drop_duplicates(subset=keys, keep="first")
    return out.drop(columns="_own").reset_index(drop=True)


def alias_overlaps(scores: pd.DataFrame, aliases: dict[str, str] | None = None) -> pd.DataFrame:
    """Score keys a model has under both an alias and its canonical id, with both values (the alias's is dropped)."""
    table = load_aliases() if aliases is None else aliases
    alias_rows = scores[scores["id"].isin(list(table))].copy()
    if alias_rows.empty:
        return pd.DataFrame(columns=["alias", "id", "benchmark", "setting", "metric", "alias_value", "value"])
    alias_rows["alias"] = alias_rows["id"]
    alias_rows["id"] = alias_rows["id"].map(table)
    merged = alias_rows.merge(scores, on=["id", "benchmark", "setting", "metric"], suffixes=("_alias", ""))
    merged = merged.rename(columns={"metric_value_alias": "alias_value", "metric_value": "value"})
    return merged[["alias", "id", "benchmark", "setting", "metric", "alias_value", "value"]]


def propose_aliases(ids: list[str], aliases: dict[str, str] | None = None) -> pd.DataFrame:
    """Candidate alias entries among ``ids`` not yet in the table: case twins, ``-hf`` variants, path ids whose
    last component is a known id. Review each before adding it to ``metadata/model_aliases.csv``."""
    table = load_aliases() if aliases is None else aliases
    known = set(ids)
    rows = []
    lower: dict[str, list[str]] = {}
    for i in sorted(known):
        lower.setdefault(i.lower(), []).append(i)
    for group in lower.values():
        if len(group) > 1:
            canon = min(group, key=lambda i: (sum(ch.isupper() for ch in i), i))
            rows += [{"alias": i, "canonical": canon, "reason": "case twin"} for i in group if i != canon]
    for i in sorted(known):
        if i.endswith("-hf") and i[:-3] in known:
            rows.append({"alias": i[:-3], "canonical": i, "reason": "hub-name variant (-hf)"})
        if _PATH_LIKE.match(i):
            base = i.rstrip("/").rsplit("/", 1)[-1]
            if base in known:
                rows.append({"alias": i, "canonical": base, "reason": "filesystem path of a known id"})
    out = pd.DataFrame(rows, columns=["alias", "canonical", "reason"])
    return out[~out["alias"].isin(list(table))].drop_duplicates("alias").reset_index(drop=True)


@functools.lru_cache(maxsize=4)
def _load_fills(path: str) -> tuple[tuple[str, str, float], ...]:
    file = Path(path)
    if not file.is_file():
        return ()
    out = []
    with file.open(encoding="utf-8", newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            if not all((row.get(k) or "").strip() for k in ("id", "column", "value", "source", "reason")):
                raise StoreError(f"{file} line {line}: id, column, value, source and reason must all be given")
            try:
                out.append((row["id"].strip(), row["column"].strip(), float(row["value"])))
            except ValueError:
                raise StoreError(f"{file} line {line}: value {row['value']!r} is not a number") from None
    return tuple(out)


def apply_fills(annotations: pd.DataFrame, path: str | Path | None = None) -> pd.DataFrame:
    """Fill missing annotation values from the reviewed ``metadata/annotation_fills.csv`` (never overrides a
    stored value; each entry names its source)."""
    fills = _load_fills(str(path or FILLS_FILE))
    if not fills or annotations.empty:
        return annotations
    out = annotations.copy()
    for model_id, column, value in fills:
        if column not in out.columns:
            raise StoreError(f"annotation_fills.csv: unknown column {column!r}")
        hit = (out["id"] == model_id) & out[column].isna()
        out.loc[hit, column] = value
    return out
