"""Document-level taggers and their aggregation into dataset/model features (the paper's data features).

Python API (used by :mod:`freegens` for pseudo features)::

    from data_tagging import tag_documents, aggregate_features
    per_doc = tag_documents(docs, ["char_len", "tokens", "parse"])   # DataFrame: id + value columns
    features = aggregate_features(per_doc)                            # {"char_len_mean": ..., ...}

``tag_documents(docs: Iterable[njsl.documents.Document], features: str | list[str], *, n_process=1,
batch_size=64, **options) -> pandas.DataFrame`` — one row per document, in input order: ``id`` then each
tagger's columns (floats; NaN where a value is undefined, e.g. a skipped non-English document) and its
text columns (skip reasons, notes). ``options`` are the taggers' keyword options (``tokenizer``,
``spacy_model``, ``language_detector``, ``code_language``, ``quality_model``...; see ``njsl tag run -h``).

``aggregate_features(per_doc: pandas.DataFrame) -> dict[str, float]`` — mean and std of every per-document
value under the paper's feature names (``dep_parse_dep_head_dist_median_mean``, ``char_len_std``...), plus
pooled keyword rates (``question_words_ratio``...). NaN features are left out.

Files, shards and resume: :func:`data_tagging.runner.run_tagging` (``njsl tag run``); the store:
:func:`data_tagging.aggregate.write_features_to_store` (``njsl tag aggregate``). Taggers are registered
classes (:mod:`data_tagging.registry`); see README.md for the list and the name mapping.
"""
from data_tagging.aggregate import aggregate_features, read_tag_outputs
from data_tagging.registry import TAGGERS, Tagger, TaggingError, register, resolve_features
from data_tagging.runner import run_tagging, tag_documents

__all__ = ["tag_documents", "aggregate_features", "read_tag_outputs", "run_tagging", "resolve_features",
           "register", "Tagger", "TaggingError", "TAGGERS"]
