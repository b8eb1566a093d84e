"""Per-document tag tables -> dataset- or model-level features (the paper's names), and into the store.

``aggregate_features(per_doc)`` asks every registered tagger whose columns are present for its summary
(by default ``<column>_mean`` and ``<column>_std`` over documents that have a value; ``keyword_ratios``
adds pooled rates). Per-document columns already carry the paper's base names, so e.g. the per-document
``dep_parse_dep_head_dist_median`` becomes ``dep_parse_dep_head_dist_median_mean`` / ``..._std``.
"""
from __future__ import annotations

import glob
import math
import re
from pathlib import Path
from collections.abc import Iterable

import pandas as pd

from data_tagging.registry import TAGGERS, TaggingError, _load_builtin_taggers

_SHARD_NAME = re.compile(r"^(?P<stem>.*)-(?P<i>\d{5})-of-(?P<n>\d{5})(?P<suffix>\.parquet)$")


class MissingTagOutputError(FileNotFoundError):
    """No per-document outputs, or some shards of a sharded run are missing/unfinished."""


def tag_output_files(paths: Iterable[str | Path], allow_missing_shards: bool = False) -> list[Path]:
    """The parquet files behind files, folders and glob patterns; checks that sharded runs are complete."""
    files: list[Path] = []
    for spec in paths:
        spec = str(spec)
        matches = [Path(p) for p in sorted(glob.glob(spec))] if any(c in spec for c in "*?[") else [Path(spec)]
        if not matches:
            raise MissingTagOutputError(f"{spec}: no files match")
        for p in matches:
            if p.is_dir():
                files += sorted(q for q in p.rglob("*.parquet")
                                if not any(part.startswith(".") for part in q.relative_to(p).parts))
            elif p.is_file():
                files.append(p)
            else:
                raise MissingTagOutputError(f"{p}: not found")
    if not files:
        raise MissingTagOutputError(f"no per-document parquet files in {', '.join(map(str, paths))}")
    if not allow_missing_shards:
        _check_shards(files)
    return sorted(set(files))


def _check_shards(files: list[Path]) -> None:
    groups: dict[tuple[Path, str, int], set[int]] = {}
    for f in files:
        m = _SHARD_NAME.match(f.name)
        if m:
            groups.setdefault((f.parent, m["stem"], int(m["n"])), set()).add(int(m["i"]))
    for (parent, stem, n), have in groups.items():
        missing = sorted(set(range(n)) - have)
        if missing:
            shown = ", ".join(f"{stem}-{i:05d}-of-{n:05d}.parquet" for i in missing[:5])
            unfinished = [i for i in missing if (parent / f".{stem}-{i:05d}-of-{n:05d}.parquet.parts").exists()]
            hint = f" ({len(unfinished)} still running or killed: rerun them to resume)" if unfinished else ""
            raise MissingTagOutputError(
                f"{parent}: {len(missing)} of {n} shards missing: {shown}{hint}. "
                "Finish them, or pass --allow_missing_shards to aggregate what exists."
            )


def read_tag_outputs(paths: Iterable[str | Path], allow_missing_shards: bool = False) -> pd.DataFrame:
    """All per-document rows of the given outputs in one frame (shards concatenated in name order)."""
    frames = [pd.read_parquet(f) for f in tag_output_files(paths, allow_missing_shards)]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def aggregate_features(per_doc: pd.DataFrame) -> dict[str, float]:
    """Dataset/model-level features of a per-document table (paper names; NaN-valued features dropped)."""
    _load_builtin_taggers()
    out: dict[str, float] = {}
    for cls in TAGGERS.values():
        if any(c in per_doc.columns for c in cls.columns):
            out.update(cls.aggregate(per_doc))
    return {k: v for k, v in out.items() if v is not None and not math.isnan(v)}


def write_features_to_store(store_path: str | Path, kind: str, entity_id: str, features: dict[str, float],
                            source: str) -> None:
    """``store.set_features(kind, entity_id, features, source)`` on the store at ``store_path`` (created if new)."""
    if kind not in ("model", "dataset"):
        raise TaggingError(f"--kind must be 'model' or 'dataset', got {kind!r}")
    try:
        from model_metadata_db import AnalysisStore
    except ImportError as exc:
        raise TaggingError("--store needs the model_metadata_db package (AnalysisStore), which is not "
                           f"importable here ({exc}); use --output to write the features as JSON") from exc
    path = Path(store_path)
    store = AnalysisStore.from_existing(str(path)) if path.exists() else AnalysisStore.create(str(path))
    with store:
        store.set_features(kind, entity_id, features, source)
