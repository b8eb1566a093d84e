"""Outer splitters: ``random`` (the paper's shuffled KFold) and ``family`` (no family on both sides)."""
from __future__ import annotations

import numpy as np
from sklearn.model_selection import GroupKFold, KFold

from .errors import PredictionInputError

SCHEMES = ("family", "random")


def outer_splits(scheme: str, n_rows: int, groups, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/test index pairs for one seed. ``family`` shuffles families (seeded) into ``n_folds`` groups."""
    idx = np.arange(n_rows)
    if scheme == "random":
        return list(KFold(n_folds, shuffle=True, random_state=seed).split(idx))
    if scheme == "family":
        groups = np.asarray(groups)
        if len(set(groups)) < n_folds:
            raise PredictionInputError(f"family validation needs >= {n_folds} families, found {len(set(groups))}")
        return list(GroupKFold(n_folds, shuffle=True, random_state=seed).split(idx, groups=groups))
    raise PredictionInputError(f"unknown validation scheme {scheme!r}; choose from {', '.join(SCHEMES)}")
