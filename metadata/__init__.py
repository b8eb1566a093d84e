"""The project's own metadata: where our store lives and the record our training runs leave behind.

* ``metadata/njsl.duckdb`` — the default store of ``njsl db`` (override with ``--db`` or ``$NJSL_DB``); build it
  with ``njsl db import ../shared/data/paper_db_2025_03_03`` and add our runs with ``njsl db add-model`` /
  ``njsl db add-eval``. It is data, not code: keep it out of git (export it with ``njsl db export`` to share).
* ``run_info_schema.json`` — JSON schema of ``RUN_DIR/run_info.json`` (docs/CONTRACTS.md, "Trainer run
  directory"); :func:`validate_run_info` checks one before a run is registered in the store.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from collections.abc import Mapping

METADATA_DIR = Path(__file__).resolve().parent
DEFAULT_STORE = METADATA_DIR / "njsl.duckdb"
RUN_INFO_SCHEMA = METADATA_DIR / "run_info_schema.json"


class RunInfoError(ValueError):
    """A run_info.json that does not match ``run_info_schema.json``."""


def validate_run_info(data: Mapping[str, Any], source: str = "run_info.json") -> None:
    """Raise :class:`RunInfoError` naming the first bad field of a run record."""
    import jsonschema
    schema = json.loads(RUN_INFO_SCHEMA.read_text(encoding="utf-8"))
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(map(str, err.absolute_path)) or "(top level)"
        raise RunInfoError(f"{source}: field {where}: {err.message}")


__all__ = ["DEFAULT_STORE", "RUN_INFO_SCHEMA", "RunInfoError", "validate_run_info"]
