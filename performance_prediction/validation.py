"""Outer splitters: ``random`` (the paper's shuffled KFold), ``family`` (no family on both sides) and
``extrapolation`` (train on the models below a compute cutoff, test on the largest ``top`` share)."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold

from .errors import PredictionInputError

SCHEMES = ("family", "random", "extrapolation")


def log_compute(X: pd.DataFrame) -> np.ndarray:
    """log(6 N D) per row (NaN where params or tokens are missing)."""
    n = pd.to_numeric(X["total_params"], errors="coerce").to_numpy(float)
    d = pd.to_numeric(X["pretraining_summary_total_tokens_billions"], errors="coerce").to_numpy(float) * 1e9
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((n > 0) & (d > 0), np.log(6.0 * n * d), np.nan)


def outer_splits(scheme: str, n_rows: int, groups, n_folds: int, seed: int, compute=None,
                 top: float = 0.2) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/test index pairs for one seed. ``family`` shuffles families (seeded) into ``n_folds`` groups;
    ``extrapolation`` is one split (the same for every seed): test = the ``top`` share of rows by ``compute``."""
    idx = np.arange(n_rows)
    if scheme == "extrapolation":
        if compute is None:
            raise PredictionInputError("extrapolation validation needs the compute of every model")
        c = np.asarray(compute, float)
        n_test = max(1, int(round(top * n_rows)))
        order = np.argsort(-np.nan_to_num(c, nan=-np.inf), kind="mergesort")   # stable: ties keep row order
        test = np.sort(order[:n_test])
        return [(np.setdiff1d(idx, test), test)]
    if scheme == "random":
        return list(KFold(n_folds, shuffle=True, random_state=seed).split(idx))
    if scheme == "family":
        groups = np.asarray(groups)
        if len(set(groups)) < n_folds:
            raise PredictionInputError(f"family validation needs >= {n_folds} families, found {len(set(groups))}")
        return list(GroupKFold(n_folds, shuffle=True, random_state=seed).split(idx, groups=groups))
    raise PredictionInputError(f"unknown validation scheme {scheme!r}; choose from {', '.join(SCHEMES)}")
