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
