"""Model family of an id: a documented rule plus an override table (``families.yaml``).

Rule: lower-case the id; split ``org/name``; cut ``name`` at the first *size token* (``7b``, ``1.4b``,
``350m``, ``8x7b``, ``1b7``, ``220m``...) and drop version/variant tokens (``hf``, ``deduped``, ``chat``,
``instruct``, ``base``, ``v0.1``...); family = ``org/stem`` (or ``stem`` without an org). So every Pythia
size (deduped or not) is ``eleutherai/pythia`` and ``meta-llama/Llama-2-13b-hf`` is ``meta-llama/llama-2``.
The override table maps exact ids to a family where the rule cannot see it (fine-tunes, renames).
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import yaml

from .errors import PredictionInputError

DEFAULT_OVERRIDES = Path(__file__).with_name("families.yaml")
_SIZE = re.compile(r"^(\d+(\.\d+)?[kmbt]|\d+x\d+(\.\d+)?[mb]|\d+b\d+|\d+k)$")
_VARIANT = re.compile(r"^(hf|deduped|chat|instruct|base|model|v\d+(\.\d+)*|mono|multi|nl|p)$")


def family_rule(model_id: str) -> str:
    """The family the rule gives (no overrides)."""
    model_id = model_id.strip().lower()
    org, _, name = model_id.rpartition("/")
    tokens = [t for t in re.split(r"[-_]", name) if t]
    stem: list[str] = []
    for tok in tokens:
        if _SIZE.match(tok):
            break
        stem.append(tok)
    while stem and _VARIANT.match(stem[-1]):
        stem.pop()
    stem_s = "-".join(stem) or name
    return f"{org}/{stem_s}" if org else stem_s


@lru_cache(maxsize=8)
def load_overrides(path: str | None = None) -> dict[str, str]:
    """Override table ``{id: family}`` from YAML (``overrides:`` mapping), validated on load."""
    p = Path(path) if path else DEFAULT_OVERRIDES
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as err:
        raise PredictionInputError(f"family override file {p} does not exist") from err
    table = doc.get("overrides", {}) if isinstance(doc, dict) else None
    if not isinstance(table, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
        raise PredictionInputError(f"{p}: field 'overrides' must map model ids (str) to family names (str)")
    return dict(table)


def family_of(model_id: str, overrides: dict[str, str] | None = None) -> str:
    """Family of one id: the override when listed, else the rule."""
    table = load_overrides() if overrides is None else overrides
    return table.get(model_id, family_rule(model_id))


def families(ids, overrides_path: str | None = None) -> list[str]:
    table = load_overrides(overrides_path)
    return [family_of(i, table) for i in ids]
