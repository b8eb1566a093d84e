"""Document language (ISO 639-1) with lingua, for ``pct_english`` and the classifier's output column.

lingua's high-accuracy models for all 75 languages take ~10 s and ~1 GB to load; a fixed set of the most common
languages of web text takes ~4 s and ~400 MB and is what ``pct_english`` needs (English or not). The set is a
flag (``--languages en,de,...``; ``all`` for every language).
"""
from __future__ import annotations

from functools import lru_cache

DEFAULT_LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl", "ru", "zh", "ja", "ko", "ar", "hi", "tr", "pl",
                     "vi", "sv", "id", "uk", "cs", "fa")
UNKNOWN = "unknown"
MAX_CHARS = 2000   # the first 2,000 characters decide; longer text changes nothing but time


class LanguageSpecError(ValueError):
    """A language code that lingua does not know."""


def parse_languages(spec: str | None) -> tuple[str, ...]:
    """``"en,de"`` -> ``("en", "de")``; ``"all"`` -> ``("all",)``; None -> the default set."""
    if not spec:
        return DEFAULT_LANGUAGES
    codes = tuple(c.strip().lower() for c in spec.split(",") if c.strip())
    if not codes:
        raise LanguageSpecError("--languages is empty; give ISO 639-1 codes like en,de,fr or 'all'")
    return codes


@lru_cache(maxsize=4)
def _detector(languages: tuple[str, ...]):
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    if languages == ("all",):
        return LanguageDetectorBuilder.from_all_languages().build()
    langs = []
    for code in languages:
        iso = getattr(IsoCode639_1, code.upper(), None)
        if iso is None:
            raise LanguageSpecError(f"--languages: unknown ISO 639-1 code {code!r}")
        langs.append(Language.from_iso_code_639_1(iso))
    if len(langs) < 2:
        raise LanguageSpecError("--languages needs at least two languages (lingua compares them)")
    return LanguageDetectorBuilder.from_languages(*langs).build()


def detect_language(text: str, languages: tuple[str, ...] = DEFAULT_LANGUAGES) -> str:
    """The ISO 639-1 code of the text's language, or ``"unknown"`` when lingua cannot decide."""
    if not text or not text.strip():
        return UNKNOWN
    lang = _detector(tuple(languages)).detect_language_of(text[:MAX_CHARS])
    return UNKNOWN if lang is None else lang.iso_code_639_1.name.lower()
