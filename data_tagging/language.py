"""Is a document English? Decided before parsing, so other languages are skipped with a reason, not mis-parsed.

Two stages keep it cheap: a document whose words are mostly English function words (spaCy's English
stop-word list) is English at once; otherwise lingua (a statistical detector over 75 languages) decides on
a prefix. Technical English (API docs, code comments) passes the first stage even when lingua hesitates.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

DETECTORS = ("lingua", "stopwords", "none")


def import_spacy():
    """``import spacy`` without paying for torch.

    thinc (spaCy's ML layer) imports torch whenever it is installed, 4-6 s per process, although the CNN
    pipelines (``en_core_web_sm``) never use it. While spaCy is imported, ``torch`` is marked unavailable;
    the mark is removed right after, so later ``import torch`` elsewhere works as usual. Set
    ``NJSL_SPACY_WITH_TORCH=1`` for transformer pipelines that need thinc's torch support.
    """
    if "spacy" in sys.modules or "torch" in sys.modules or os.environ.get("NJSL_SPACY_WITH_TORCH"):
        import spacy

        return spacy
    sys.modules["torch"] = None  # type: ignore[assignment]  # makes `import torch` raise ImportError
    try:
        import spacy
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]
    return spacy


@dataclass
class LanguageGuess:
    english: bool
    language: str  # ISO 639-1 code when known, else a name; "unknown" when undecidable
    method: str


class EnglishDetector:
    """``detect(text) -> LanguageGuess``. ``method``: lingua (default) | stopwords | none (everything English)."""

    def __init__(self, method: str = "lingua", *, prefix_chars: int = 2000, stopword_share: float = 0.25) -> None:
        if method not in DETECTORS:
            raise ValueError(f"--language_detector must be one of {', '.join(DETECTORS)}, got {method!r}")
        self.method = method
        self.prefix_chars = prefix_chars
        self.stopword_share = stopword_share
        import_spacy()
        from spacy.lang.en.stop_words import STOP_WORDS

        self.stop_words = frozenset(STOP_WORDS)
        self._lingua = None
        if method == "lingua":
            try:
                import lingua  # noqa: F401
            except ImportError:  # degrade to the stop-word rule, which still separates English well
                self.method = "stopwords"

    def _lingua_detector(self):
        # Built on first need: most English documents pass the stop-word test and never reach it. Low
        # accuracy mode (trigram models) loads in ~1 s instead of ~30 s and is reliable on paragraph-long text.
        if self._lingua is None:
            from lingua import LanguageDetectorBuilder

            self._lingua = LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()
        return self._lingua

    def stopword_ratio(self, text: str) -> tuple[float, int]:
        words = _WORD.findall(text[: self.prefix_chars].lower())
        if not words:
            return 0.0, 0
        return sum(w in self.stop_words for w in words) / len(words), len(words)

    def detect(self, text: str) -> LanguageGuess:
        if self.method == "none":
            return LanguageGuess(True, "en", "none")
        share, n_words = self.stopword_ratio(text)
        if n_words >= 5 and share >= self.stopword_share:
            return LanguageGuess(True, "en", "stopwords")
        if self.method == "stopwords":
            # Stop-word rule only: a lower bar, since no second opinion exists.
            english = n_words > 0 and share >= self.stopword_share / 2
            return LanguageGuess(english, "en" if english else "unknown", "stopwords")
        lang = self._lingua_detector().detect_language_of(text[: self.prefix_chars])
        if lang is None:
            return LanguageGuess(False, "unknown", "lingua")
        code = lang.iso_code_639_1.name.lower()
        return LanguageGuess(code == "en", code, "lingua")
