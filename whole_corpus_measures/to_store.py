"""The entropy result (``njsl entropy``'s JSON) as the paper's features, and into the store.

The paper's ``entropy_mean`` is its ``mean_corpus_entropy``: the unweighted mean over distinct contexts of the
next-token entropy (our ``mean_context_entropy_bits``). Its CSV's ``entropy_std`` column is empty (its
aggregation never filled it); ours is the population standard deviation of the same per-context entropies.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def entropy_features(result: dict[str, Any], ngram: int | None = None) -> dict[str, float]:
    """``{"entropy_mean": ..., "entropy_std": ...}`` of one order of an entropy result (default: the only one,
    else order 1); NaN values are left out."""
    orders = result["entropy"]
    if ngram is None:
        ngram = int(next(iter(orders))) if len(orders) == 1 else 1
    key = str(ngram)
    if key not in orders:
        raise ValueError(f"--store_ngram {ngram}: the run computed orders {sorted(orders, key=int)} only")
    o = orders[key]
    feats = {"entropy_mean": o["mean_context_entropy_bits"], "entropy_std": o.get("std_context_entropy_bits")}
    return {k: float(v) for k, v in feats.items() if v is not None and not math.isnan(float(v))}


def write_entropy_to_store(store_path: str | Path, kind: str, entity_id: str, result: dict[str, Any],
                           ngram: int | None = None) -> dict[str, float]:
    """Write :func:`entropy_features` of ``result`` for ``entity_id`` (store created when missing)."""
    from data_tagging.aggregate import write_features_to_store

    feats = entropy_features(result, ngram)
    if not feats:
        raise ValueError("the entropy result has no value to store (no token had a context)")
    source = f"njsl entropy n={ngram if ngram is not None else next(iter(result['entropy']))} " \
             f"tokenizer={result.get('tokenizer')}"
    write_features_to_store(store_path, kind, entity_id, feats, source)
    return feats
