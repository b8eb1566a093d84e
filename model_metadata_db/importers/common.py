"""Helpers shared by the file importers."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ..errors import StoreError, StoreFileNotFoundError

_PATH_LIKE = re.compile(r"^(/|~|\.{1,2}/|[A-Za-z]:\\)")


def read_json(path: str | Path, notes: list[str] | None = None) -> Any:
    """Parse a JSON file; errors name the file and the position of a syntax error.

    A key repeated inside one object with *different* values is an error (``json`` would silently keep the
    last one); repeated with the same value it is only noted in ``notes`` (the shared falcon-7b scores record
    has ``drop`` twice, identical).
    """
    path = Path(path)
    if not path.is_file():
        raise StoreFileNotFoundError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise StoreError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    repeated: list[str] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                if out[key] != value:
                    raise _DuplicateKey(key, [k for k, _ in pairs][:6])
                repeated.append(key)
            out[key] = value
        return out

    try:
        data = json.loads(text, object_pairs_hook=pairs_hook)
    except json.JSONDecodeError as err:
        raise StoreError(f"{path}: malformed JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
    except _DuplicateKey as err:
        raise StoreError(f"{path}: duplicate key {err.args[0]!r} with different values in one JSON object "
                         f"(keys {err.args[1]}); remove one of them") from None
    if repeated and notes is not None:
        notes.append(f"key(s) {sorted(set(repeated))} repeated with identical values in one object; read once")
    return data


class _DuplicateKey(Exception):
    pass


def check_model_id(model_id: Any, source: str) -> str:
    """A model id must be a non-empty name like ``org/name``, not a filesystem path or a header word."""
    if not isinstance(model_id, str) or not model_id.strip():
        raise StoreError(f"{source}: the model id is missing or empty; give it (e.g. --model-id org/name)")
    model_id = model_id.strip()
    if _PATH_LIKE.match(model_id):
        raise StoreError(f"{source}: model id {model_id!r} is a filesystem path; give a stable name "
                         "(e.g. --model-id org/name) so the scores join the model's annotation")
    if model_id in ("model_name", "id", "model"):
        raise StoreError(f"{source}: model id {model_id!r} looks like a column header; give the real id")
    return model_id
