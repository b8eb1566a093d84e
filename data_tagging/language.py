"""The project's one language detector: is a document English, and which language is it?

Used by the parse tagger (other languages are skipped with a reason, not mis-parsed) and by ``freegens`` (the
``language`` column of classified generations, hence ``pct_english``), so one run never holds two answers.

Two stages keep it cheap: a document whose words are mostly English function words (spaCy's English
stop-word list) is English at once; otherwise lingua (a statistical detector) decides on a prefix. Technical
English (API docs, code comments) passes the first stage even when lingua hesitates. lingua compares a set of
languages: all 75 (``("all",)``, low-accuracy trigram models, ~1 s to load) or a fixed list (full models;
``DEFAULT_LANGUAGES``, the most common languages of web text, ~4 s and ~400 MB).
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from functools import lru_cache

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)

DETECTORS = ("lingua", "stopwords", "none")
ALL_LANGUAGES = ("all",)
DEFAULT_LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl", "ru", "zh", "ja", "ko", "ar", "hi", "tr", "pl",
                     "vi", "sv", "id", "uk", "cs", "fa")
UNKNOWN = "unknown"
MAX_CHARS = 2000  # the first 2,000 characters decide; longer text changes nothing but time


class LanguageSpecError(ValueError):
    """A language code that lingua does not know."""


def parse_languages(spec: str | None) -> tuple[str, ...]:
    """``"en,de"`` -> ``("en", "de")``; ``"all"`` -> ``("all",)``; None -> :data:`DEFAULT_LANGUAGES`."""
    if not spec:
        return DEFAULT_LANGUAGES
    codes = tuple(c.strip().lower() for c in spec.split(",") if c.strip())
    if not codes:
        raise LanguageSpecError("--languages is empty; give ISO 639-1 codes like en,de,fr or 'all'")
    return codes


@lru_cache(maxsize=4)
def lingua_detector(languages: tuple[str, ...] = ALL_LANGUAGES):
    """lingua's detector over ``languages`` (built once per process and language set)."""
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    if languages == ALL_LANGUAGES:
        return LanguageDetectorBuilder.from_all_languages().with_low_accuracy_mode().build()
    langs = []
    for code in languages:
        iso = getattr(IsoCode639_1, code.upper(), None)
        if iso is None:
            raise LanguageSpecError(f"--languages: unknown ISO 639-1 code {code!r}")
        langs.append(Language.from_iso_code_639_1(iso))
    if len(langs) < 2:
        raise LanguageSpecError("--languages needs at least two languages (lingua compares them)")
    return LanguageDetectorBuilder.from_languages(*langs).build()


def lingua_language(text: str, languages: tuple[str, ...] = ALL_LANGUAGES) -> str:
    """lingua's ISO 639-1 code for the text's prefix, or ``"unknown"`` when it cannot decide."""
    if not text or not text.strip():
        return UNKNOWN
    lang = lingua_detector(tuple(languages)).detect_language_of(text[:MAX_CHARS])
    return UNKNOWN if lang is None else lang.iso_code_639_1.name.lower()


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
    sys.modules["torch"] = None  # makes `import torch` raise ImportError
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
    """``detect(text) -> LanguageGuess``. ``method``: lingua (default) | stopwords | none (everything English).

    ``languages``: the set lingua compares (:func:`lingua_detector`).
    """

    def __init__(self, method: str = "lingua", *, languages: tuple[str, ...] = ALL_LANGUAGES,
                 prefix_chars: int = MAX_CHARS, stopword_share: float = 0.25) -> None:
        if method not in DETECTORS:
            raise ValueError(f"--language_detector must be one of {', '.join(DETECTORS)}, got {method!r}")
        self.method = method
        self.languages = tuple(languages)
        self.prefix_chars = prefix_chars
        self.stopword_share = stopword_share
        import_spacy()
        from spacy.lang.en.stop_words import STOP_WORDS

        self.stop_words = frozenset(STOP_WORDS)
        if method == "lingua":
            try:
                import lingua  # noqa: F401
            except ImportError:  # degrade to the stop-word rule, which still separates English well
                self.method = "stopwords"

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
            return LanguageGuess(english, "en" if english else UNKNOWN, "stopwords")
        # lingua is built on first need: most English documents pass the stop-word test and never reach it
        code = lingua_language(text[: self.prefix_chars], self.languages)
        return LanguageGuess(code == "en", code, "lingua")
