"""``keyword_ratios``: instruction/QA-style surface markers per 100,000 characters.

Counts (case-insensitive, whole words only):

- ``question_words``: what, why, how, when, where, which, who, whom, whose.
- ``imperative_verbs``: a verb from :data:`IMPERATIVE_VERBS` opening a line or a sentence (after ``.!?:``),
  optionally after a list marker (``-``, ``*``, ``1.``) — the position that makes it a command — and not
  followed by a colon (``Answer:`` is a QA marker, not a command).
- ``conjunctions``: coordinating and common subordinating conjunctions (:data:`CONJUNCTIONS`).
- ``qa_markers`` (paper: ``instructions_words``): ``Question:``, ``Answer:``, ``Q:``, ``A:`` at the start of a
  line only (leading spaces allowed), so ``FAQ:`` or ``a: b`` inside a sentence do not count.
- ``numbers``: digit runs such as ``42``, ``3.14``, ``1,000``.

Per document the tagger writes each count and its rate ``<name>_ratio = 1e5 * count / characters``.
Aggregation writes the paper's pooled ``<name>_ratio`` (all counts over all characters) and the mean/std of
the per-document rates.
"""
from __future__ import annotations

import math
import re
from typing import Any
from collections.abc import Sequence

import pandas as pd

from njsl.documents import Document

from data_tagging.registry import Tagger, register

QUESTION_WORDS = ("what", "why", "how", "when", "where", "which", "who", "whom", "whose")
IMPERATIVE_VERBS = (
    "write", "explain", "describe", "list", "give", "provide", "summarize", "summarise", "translate",
    "answer", "solve", "calculate", "compute", "find", "determine", "identify", "classify", "compare",
    "create", "generate", "make", "use", "show", "tell", "define", "choose", "select", "complete", "fill",
    "read", "consider", "note", "let", "add", "remove", "check", "try", "take", "put", "get", "see",
    "imagine", "suppose", "assume", "rewrite", "edit", "correct", "evaluate", "analyze", "analyse",
    "discuss", "outline", "name", "state", "prove", "simplify", "convert", "sort", "return", "print",
)
CONJUNCTIONS = (
    "and", "or", "but", "nor", "yet", "so", "because", "although", "though", "while", "whereas", "unless",
    "since", "if", "however", "therefore", "moreover", "furthermore", "thus",
)

PER_CHARS = 100_000

# (output name, paper's name of the pooled ratio, compiled pattern)
_PATTERNS: tuple[tuple[str, str, re.Pattern], ...] = (
    ("question_words", "question_words_ratio",
     re.compile(r"\b(?:{})\b".format("|".join(QUESTION_WORDS)), re.IGNORECASE)),
    ("imperative_verbs", "imperative_verbs_ratio",
     re.compile(r"(?:^|[.!?:]\s+)[ \t]*(?:(?:[-*\u2022]|\d+[.)])[ \t]+)?(?:{})\b(?![ \t]*:)".format(
         "|".join(IMPERATIVE_VERBS)), re.IGNORECASE | re.MULTILINE)),
    ("conjunctions", "conjunctions_ratio",
     re.compile(r"\b(?:{})\b".format("|".join(CONJUNCTIONS)), re.IGNORECASE)),
    ("qa_markers", "instructions_words_ratio",
     re.compile(r"^[ \t]*(?:Question|Answer|Q|A)[ \t]*:", re.IGNORECASE | re.MULTILINE)),
    ("numbers", "numbers_ratio", re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\w])")),
)


def count_keywords(text: str) -> dict[str, int]:
    """Raw counts of every keyword class in ``text``."""
    return {name: sum(1 for _ in pattern.finditer(text)) for name, _, pattern in _PATTERNS}


@register
class KeywordRatios(Tagger):
    name = "keyword_ratios"
    columns = tuple(n for n, _, _ in _PATTERNS) + tuple(f"{n}_ratio" for n, _, _ in _PATTERNS) + ("keyword_chars",)
    description = "question words, imperative verbs, conjunctions, QA markers, numbers (per 100k characters)"

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
        total_chars = float(per_doc["keyword_chars"].sum())
        for name, paper_name, _ in _PATTERNS:
            if name in per_doc and total_chars > 0:
                out[paper_name] = PER_CHARS * float(per_doc[name].sum()) / total_chars
            rate = f"{name}_ratio"
            if rate in per_doc:
                values = per_doc[rate].dropna()
                if len(values):
                    # qa_markers_ratio_mean is exported under the paper's instructions_words name too.
                    base = paper_name
                    out[f"{base}_mean"] = float(values.mean())
                    out[f"{base}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        return out
