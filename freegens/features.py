"""Domain and language features of a model's generations (or of a dataset sample), named as the paper's CSV.

``domain_<d>_pct_mean`` is the percentage of documents with a content domain that fall in ``d``
(media folded into reference). Documents labelled ``incoherent`` or ``unknown`` are left out of the denominator:
the paper's values (``../shared/data/generation_features``) sum to 100 over the six domains for every model that
has them. ``pct_english_mean`` is the percentage of all classified documents detected as English (0-100).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from .taxonomy import FEATURE_DOMAINS, feature_domain

DOMAIN_FEATURES = tuple(f"domain_{d}_pct_mean" for d in FEATURE_DOMAINS)
ENGLISH_FEATURE = "pct_english_mean"


def domain_features(labels: Iterable[str], languages: Iterable[str]) -> dict[str, float]:
    """The paper's domain/language features from per-document labels and ISO 639-1 languages.

    Domain percentages are NaN when no document has a content domain (all incoherent/unknown), and
    ``pct_english_mean`` is NaN with no documents: missing, not zero.
    """
    labels, languages = list(labels), list(languages)
    counts = Counter(d for d in map(feature_domain, labels) if d is not None)
    total = sum(counts.values())
    out = {f"domain_{d}_pct_mean": (100.0 * counts[d] / total if total else float("nan")) for d in FEATURE_DOMAINS}
    out[ENGLISH_FEATURE] = (100.0 * sum(lang == "en" for lang in languages) / len(languages)
                            if languages else float("nan"))
    return out


def label_counts(labels: Iterable[str]) -> dict[str, int]:
    """How many documents got each label (for reports)."""
    return dict(Counter(labels).most_common())
