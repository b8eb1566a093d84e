"""Predict language-model benchmark scores from design decisions (the paper's main experiment).

Modules (one concept each):
``tasks``       which benchmark series are predicted and how aliases/subtasks are merged
``data``        loading models, features and targets from the store (``model_metadata_db``)
``features``    feature groups and the fold-local encoder (no leakage)
``families``    model family of an id (rule + override table) for family-grouped validation
``predictors``  registry of sklearn-style predictors (median, log-linear, XGBoost variants)
``validation``  outer/inner splitters (random, family)
``evaluate``    nested cross-validation over tasks x seeds x schemes
``significance``, ``selection``, ``explain``, ``conformal``, ``report``, ``what_if``, ``cli``
"""
