"""Drop degenerate generations before measuring them, and normalise the text of the rest.

Small or badly-sampled models produce empty strings, one word repeated hundreds of times, the same line over
and over, or loops of a phrase; their parse depth or domain says nothing about the model's training data.
Each check below is a flag; a document is dropped for the first check it fails, and the counts say why.
Text normalisation: ``ftfy.fix_text`` (mojibake, broken escapes) then Unicode NFKC.

The duplicate-line/paragraph and n-gram checks follow the repetition filters of Gopher (Rae et al. 2021,
table A1): fraction of characters in duplicated lines/paragraphs, and fraction of characters covered by
word n-grams occurring more than once.
"""
from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field

_WORD = re.compile(r"\S+")
_PARA = re.compile(r"\n\s*\n")

REASONS = ("too_short", "word_repeat", "duplicate_paragraphs", "duplicate_lines", "ngram_repetition")


@dataclass
class FilterConfig:
    min_words: int = 10                   # too_short: fewer words
    min_chars: int = 50                   # too_short: fewer characters
    max_word_repeat: int = 10             # word_repeat: the same word this many times in a row
    max_dup_line_frac: float = 0.3        # duplicate_lines: share of characters in repeated lines
    max_dup_para_frac: float = 0.3        # duplicate_paragraphs: share of characters in repeated paragraphs
    ngram_n: int = 5                      # ngram_repetition: word n-gram size
    max_dup_ngram_frac: float = 0.3       # ngram_repetition: share of characters in repeated n-grams

    def validate(self) -> None:
        for name in ("max_dup_line_frac", "max_dup_para_frac", "max_dup_ngram_frac"):
            v = getattr(self, name)
            if not 0 <= v <= 1:
                raise ValueError(f"--{name} must be between 0 and 1, got {v}")
        for name in ("min_words", "min_chars"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        for name in ("max_word_repeat", "ngram_n"):
            if getattr(self, name) < 2:
                raise ValueError(f"--{name} must be >= 2, got {getattr(self, name)}")


@dataclass
class FilterReport:
    total: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=lambda: {r: 0 for r in REASONS})

    def add(self, reason: str | None) -> None:
        self.total += 1
        if reason is None:
            self.kept += 1
        else:
            self.dropped[reason] += 1

    def summary(self) -> str:
        why = ", ".join(f"{k}: {v}" for k, v in self.dropped.items() if v) or "none"
        return f"kept {self.kept} of {self.total} generation(s); dropped: {why}"

    def as_dict(self) -> dict:
        return asdict(self)


def normalise_text(text: str) -> str:
    """ftfy's repairs then NFKC (full-width letters, ligatures, compatibility forms), outer whitespace stripped."""
    import ftfy

    return unicodedata.normalize("NFKC", ftfy.fix_text(text)).strip()


def longest_word_run(words: list[str]) -> int:
    """Length of the longest run of one word repeated consecutively (case-insensitive)."""
    best = run = 0
    prev = None
    for w in words:
        w = w.lower()
        run = run + 1 if w == prev else 1
        prev = w
        best = max(best, run)
    return best


def duplicate_fraction(units: list[str]) -> float:
    """Share of characters in units (lines, paragraphs) that repeat an earlier unit."""
    units = [u.strip() for u in units if u.strip()]
    total = sum(len(u) for u in units)
    if not total:
        return 0.0
    seen: set[str] = set()
    dup = 0
    for u in units:
        if u in seen:
            dup += len(u)
        seen.add(u)
    return dup / total


def duplicate_ngram_fraction(words: list[str], n: int) -> float:
    """Share of word characters covered by word n-grams that occur more than once (Gopher's measure)."""
    if len(words) < n:
        return 0.0
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    counts = Counter(grams)
    covered = [False] * len(words)
    for i, g in enumerate(grams):
        if counts[g] > 1:
            for j in range(i, i + n):
                covered[j] = True
    total = sum(len(w) for w in words)
    return sum(len(w) for w, c in zip(words, covered, strict=False) if c) / total if total else 0.0


def rejection_reason(text: str, cfg: FilterConfig) -> str | None:
    """The first check the (normalised) text fails, or None when it is kept."""
    words = _WORD.findall(text)
    if len(words) < cfg.min_words or len(text) < cfg.min_chars:
        return "too_short"
    if longest_word_run(words) >= cfg.max_word_repeat:
        return "word_repeat"
    # Paragraphs first: a repeated paragraph repeats its lines too, and the coarser unit is the better reason.
    if duplicate_fraction(_PARA.split(text)) > cfg.max_dup_para_frac:
        return "duplicate_paragraphs"
    if duplicate_fraction(text.splitlines()) > cfg.max_dup_line_frac:
        return "duplicate_lines"
    if duplicate_ngram_fraction([w.lower() for w in words], cfg.ngram_n) > cfg.max_dup_ngram_frac:
        return "ngram_repetition"
    return None
