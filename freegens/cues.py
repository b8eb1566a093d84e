"""Cue counts for the offline domain classifier, one lexicon per category of the paper's cascade.

The lexicons are ours, written from what the paper's cascade prompts tell the model to look for (its
``classify_domains_multistage.py``): programming keywords and file names for *code*; URLs, @mentions,
"click here", comments and shopping language for *web*; citations, equations, patents and research vocabulary
for *academic*; chapters, dialogue and narration for *books*; definitions, encyclopedic and legal phrasing and
chat turns for *reference*; timestamps, transcripts and broadcasts for *media*; tables, records and scores for
*specific_datasets*. With 5-23 labelled examples of the rare categories, n-grams alone cannot learn these cues;
counting them gives each category a few dense features that generalise from few examples.
"""
from __future__ import annotations

import math
import re

CUE_PATTERNS: dict[str, str] = {
    "code": r"\b(?:code|function|class|method|variable|array|string|compil\w*|debug\w*|install\w*|linux|windows|"
            r"ubuntu|python|java|javascript|php|sql|html|css|api|library|plugin|script|server|database|query|syntax|"
            r"bug|github|stack\s?overflow|arduino|software|driver|kernel|command|terminal|git|json|xml|npm|"
            r"repository|parameter|boolean|integer|compiler|source|programming|developer|sketch|pin|"
            r"\w+\.(?:py|js|dll|exe|cpp|h|java|php|sh))\b",
    "web": r"(?:https?://|www\.|@\w+|#\w+|\b(?:click|subscribe|sign up|log in|login|comments?|posted|reply|share|"
           r"cart|price|buy|shop|order|shipping|reviews?|rating|newsletter|follow us|privacy|cookies?|blog|website|"
           r"online|product|customers?|sale|deals?|free|\$\d+))\b",
    "academic": r"(?:\bet al\b|\[\d+\]|\(\w+,? \d{4}\)|\b(?:abstract|hypothes\w+|methodolog\w+|significant\w*|"
                r"theorem|lemma|proof|equation|patent\w*|claims?|embodiment|journal|doi|study|studies|analysis|"
                r"research\w*|participants|data|results|findings|university|professor|thesis|dissertation|essay)\b)",
    "books": r"(?:\b(?:chapter|novel|said|asked|replied|whispered|she|he|her|his|him|story|book|author|fiction|"
             r"character|tale)\b|[\"\u201c\u201d])",
    "reference": r"\b(?:is a|are a|refers? to|defined|definition|encyclop\w+|wikipedia|references|external links|"
                 r"see also|born|was an?|court|plaintiff|defendant|section|pursuant|act|law|user:|assistant:|"
                 r"example|e\.g|also known|located|population|species|history)\b",
    "media": r"(?:\b\d{1,2}:\d{2}\b|\b(?:transcript|episode|podcast|broadcast|interview\w*|video|watch|listen|audio|"
             r"subtitles?|captions?|host|show|tv|radio|film|music|song|album|cbc|nbc|cnn|npr|air(?:ed|s)?)\b)",
    "specific_datasets": r"(?:\b(?:table|total|average|rank\w*|records?|number of|id|database|collection|search|"
                         r"results|statistics|stats|score[sd]?|matches|games?)\b|\|)",
}
_COMPILED = {k: re.compile(v, re.IGNORECASE) for k, v in CUE_PATTERNS.items()}


def cue_features(text: str) -> list[float]:
    """Per category: matches per 100 words and log(1 + matches) (14 numbers, in ``CUE_PATTERNS`` order)."""
    words = max(len(text.split()), 1)
    out: list[float] = []
    for pattern in _COMPILED.values():
        n = sum(1 for _ in pattern.finditer(text))
        out += [100.0 * n / words, math.log1p(n)]
    return out


# --- Cues for the three rare categories, written from the paper's definitions of them -------------------------
# (its classify_domains_multistage.py prompts; restated in freegens.taxonomy). Each number below answers one
# clause of a definition; none was chosen or tuned by looking at which labelled documents it catches.
#   incoherent: "extreme repetition" / "mostly gibberish" / "code mixes in a way that does not make sense (such
#               as different languages referencing entirely different subjects)" / "multiple documents mixed
#               into one"
#   media: "podcasts, subtitles, and other media-related text" / "audio or video timestamps" / "subtitles or
#          captions"
#   specific_datasets: "biomedical datasets or molecules, chess PGNs or specific data formats" / "unique names
#                      or identifiers" / "dataset-specific formatting" / "data or metadata descriptions"
_WORD = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)
_CONTENT_WORD = re.compile(r"[^\W\d_]{4,}", re.UNICODE)
_SUBTITLE_TIME = re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:[,.]\d{1,3})?\b|-->")
_NAMED_TURN = re.compile(r"^\s*(?:>>\s*)?[A-Z][A-Za-z.'\-]*(?: [A-Z][A-Za-z.'\-]*){0,2}:\s", re.MULTILINE)
_SOUND_CUE = re.compile(r"[\[(](?:music|applause|laughter|laughs|inaudible|crosstalk|silence|cheering|"
                        r"sound|noise|intro|outro|theme music|commercial break)[^\])]{0,20}[\])]", re.IGNORECASE)
_PGN_MOVE = re.compile(r"\b\d{1,3}\.\s*(?:O-O(?:-O)?|[KQRBN]?[a-h]?[1-8]?x?[a-h][1-8](?:=[QRBN])?)[+#]?")
_PGN_TAG = re.compile(r"^\[(?:Event|Site|Date|Round|White|Black|Result|ECO|WhiteElo|BlackElo) \"", re.MULTILINE)
_FORMULA = re.compile(r"\b(?:[A-Z][a-z]?\d{1,3}){2,}\b")  # C6H12O6-like chemical formulas
_IDENTIFIER = re.compile(r"\b(?=[A-Za-z0-9_\-]*[A-Za-z])(?=[A-Za-z0-9_\-]*\d)[A-Za-z0-9_\-]{4,}\b")
_KEY_VALUE = re.compile(r"^\s*[\w][\w .\-/()]{0,30}\s*[:=]\s*\S", re.MULTILINE)


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def rare_class_cues(text: str) -> list[float]:
    """Eleven numbers from the paper's definitions of incoherent, media and specific_datasets (see above):

    incoherent: share of repeated word 3-grams, share of repeated lines, share of word tokens without a vowel
    (gibberish), share of non-ASCII among letters and the smaller of the ASCII/non-ASCII letter shares (languages
    mixed), content-word overlap (Jaccard) of the first and second half (low: unrelated subjects run together);
    media: subtitle timestamps/arrows and sound cues such as [music] per line, speaker-turn lines ("NAME:",
    ">>") per line; specific_datasets: chess moves/PGN tags, chemical formulas and letter-digit identifiers per
    word, key-value and number-dominated lines per line.
    """
    words = [w.lower() for w in _WORD.findall(text)]
    n_words = max(len(words), 1)
    grams = list(zip(words, words[1:], words[2:], strict=False))
    repeated_grams = _share(len(grams) - len(set(grams)), len(grams))
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    n_lines = max(len(lines), 1)
    repeated_lines = _share(len(lines) - len(set(lines)), len(lines))
    alpha = [w for w in words if w.isalpha()]
    no_vowel = _share(sum(1 for w in alpha if len(w) > 1 and w.isascii() and not set(w) & set("aeiouy")),
                      len(alpha))
    letters = [c for c in text if c.isalpha()]
    non_ascii = _share(sum(1 for c in letters if not c.isascii()), len(letters))
    half = len(text) // 2
    first = {w.lower() for w in _CONTENT_WORD.findall(text[:half])}
    second = {w.lower() for w in _CONTENT_WORD.findall(text[half:])}
    overlap = _share(len(first & second), len(first | second))
    media_marks = len(_SUBTITLE_TIME.findall(text)) + len(_SOUND_CUE.findall(text))
    turns = len(_NAMED_TURN.findall(text))
    chess = len(_PGN_MOVE.findall(text)) + 5 * len(_PGN_TAG.findall(text))
    numeric_lines = sum(1 for ln in lines if _numeric_share(ln) >= 0.5)
    return [repeated_grams, repeated_lines, no_vowel, non_ascii, min(non_ascii, 1 - non_ascii), overlap,
            media_marks / n_lines, turns / n_lines,
            (chess + len(_FORMULA.findall(text)) + len(_IDENTIFIER.findall(text))) / n_words,
            len(_KEY_VALUE.findall(text)) / n_lines, numeric_lines / n_lines]


def _numeric_share(line: str) -> float:
    tokens = line.split()
    return _share(sum(1 for t in tokens if any(c.isdigit() for c in t)), len(tokens))
