"""Free generations and domain classification: the paper's "pseudo features".

- :mod:`freegens.generate` samples free generations (lm-eval ``--log_samples`` layout);
- :mod:`freegens.filtering` drops degenerate ones and normalises text;
- :mod:`freegens.classify` labels documents with the paper's domain cascade over any OpenAI-compatible
  endpoint, or with the offline classifier of :mod:`freegens.local_model`;
- :mod:`freegens.features` turns labels into ``domain_*_pct_mean`` / ``pct_english_mean``;
- :mod:`freegens.pipeline` runs filter -> taggers -> domains -> aggregation into the store.

CLIs: ``njsl freegens`` (:mod:`freegens.cli`), ``njsl domains`` (:mod:`freegens.domains_cli`),
``python freegens/classify_domains_multistage.py`` (the paper's path).
"""
from .features import DOMAIN_FEATURES, ENGLISH_FEATURE, domain_features
from .filtering import FilterConfig, FilterReport, normalise_text, rejection_reason
from .taxonomy import LABELS, STAGES

__all__ = ["DOMAIN_FEATURES", "ENGLISH_FEATURE", "domain_features", "FilterConfig", "FilterReport",
           "normalise_text", "rejection_reason", "LABELS", "STAGES"]
