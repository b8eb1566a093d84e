"""``keyword_ratios``: the paper's keyword counts per 100,000 characters.

The word lists and patterns are the paper's (its ``extract_keyword_features.py``, which wrote the keyword
columns of ``all_models_feature_stats_3_03_with_ratios.csv``), kept as data in ``data/paper_keywords.json``
with their source. Every pattern is matched case-insensitively anywhere in the text, exactly as the paper's
``re.findall(pattern, text, re.IGNORECASE)``:

- ``question_words``: how, what, why, when, where, who, which, whose as whole words.
- ``imperative_verbs``: do, make, consider, take, use, ensure, check, build, apply, run, create, find, go, try,
  turn, start, stop, put, keep, leave, get, move as whole words, wherever they stand.
- ``conjunctions``: and, but, or, so, because, although, however, therefore, yet as whole words.
- ``instructions_words``: the substrings ``Question:``, ``Answer:``, ``Instruction:``, ``User:``, ``Assistant:``,
  ``Q:``, ``A:`` (no word boundary, so ``data:`` counts through ``a:``, as in the paper).
- ``numbers``: ``\\b\\d+\\b|\\b\\d+\\.\\d+\\b|\\b\\d+%\\b`` (the integer branch wins first, so ``3.14`` counts twice).

Per document: each count, its rate ``<name>_ratio = 1e5 * count / characters`` and ``keyword_chars``.
Aggregation writes the paper's pooled ``<name>_ratio`` (all counts over all characters of a model's documents,
the paper's unit) and the mean/std of the per-document rates.
"""
from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any
from collections.abc import Sequence

import pandas as pd

from njsl.documents import Document

from data_tagging.registry import Tagger, register

KEYWORDS_FILE = Path(__file__).resolve().parent / "data" / "paper_keywords.json"
_NUMBER_FORMS = {"integer": r"\b\d+\b", "decimal": r"\b\d+\.\d+\b", "percentage": r"\b\d+%\b"}


def _pattern(spec: dict[str, Any]) -> str:
    kind = spec["kind"]
    if kind == "words":
        return r"\b(" + "|".join(re.escape(w) for w in spec["words"]) + r")\b"
    if kind == "markers":
        return "(" + "|".join(re.escape(m) for m in spec["markers"]) + ")"
    if kind == "numbers":
        return "|".join(_NUMBER_FORMS[f] for f in spec["forms"])
    raise ValueError(f"{KEYWORDS_FILE}: unknown keyword kind {kind!r}")


@lru_cache(maxsize=1)
def keyword_patterns() -> dict[str, re.Pattern]:
    """Name -> compiled pattern, in the data file's order (the paper's column order)."""
    spec = json.loads(KEYWORDS_FILE.read_text(encoding="utf-8"))
    flags = re.IGNORECASE if spec.get("flags") == "IGNORECASE" else 0
    return {name: re.compile(_pattern(cls), flags) for name, cls in spec["classes"].items()}


PER_CHARS = 100_000
KEYWORD_NAMES: tuple[str, ...] = tuple(keyword_patterns())


def count_keywords(text: str) -> dict[str, int]:
    """Raw counts of every keyword class in ``text`` (non-overlapping matches, as ``re.findall`` counts)."""
    return {name: sum(1 for _ in pattern.finditer(text)) for name, pattern in keyword_patterns().items()}


@register
class KeywordRatios(Tagger):
    name = "keyword_ratios"
    columns = KEYWORD_NAMES + tuple(f"{n}_ratio" for n in KEYWORD_NAMES) + ("keyword_chars",)
    description = ("the paper's question words, imperative verbs, conjunctions, instruction markers, numbers "
                   "(per 100k chars)")

    def tag(self, docs: Sequence[Document]) -> list[dict[str, Any]]:
        rows = []
        for d in docs:
            counts = count_keywords(d.text)
            chars = len(d.text)
            row: dict[str, Any] = {k: float(v) for k, v in counts.items()}
            row.update({f"{k}_ratio": (PER_CHARS * v / chars if chars else math.nan) for k, v in counts.items()})
            row["keyword_chars"] = float(chars)
            rows.append(row)
        return rows

    @classmethod
    def aggregate(cls, per_doc: pd.DataFrame) -> dict[str, float]:
        out: dict[str, float] = {}
        if "keyword_chars" not in per_doc:
            return out
        total_chars = float(per_doc["keyword_chars"].sum())  # NaN rows (empty documents) are skipped by sum
        for name in KEYWORD_NAMES:
            if name in per_doc and total_chars > 0:
                out[f"{name}_ratio"] = PER_CHARS * float(per_doc[name].sum()) / total_chars
            rate = f"{name}_ratio"
            if rate in per_doc:
                values = per_doc[rate].dropna()
                if len(values):
                    out[f"{rate}_mean"] = float(values.mean())
                    out[f"{rate}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        return out
