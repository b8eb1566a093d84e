"""Prediction intervals from cross-validation residuals (split/cross-conformal) and their measured coverage.

Interval for a new model: prediction +/- q, where q is the ceil((n+1)(1-alpha))/n empirical quantile of the
absolute out-of-fold residuals of that task (family-grouped CV residuals by default, because a planned model
is usually a new family). Coverage is measured without peeking: for each (seed, fold), q is computed from the
residuals of the *other* folds and checked on this fold's models.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def conformal_quantile(abs_residuals, alpha: float = 0.1) -> float:
    r = np.sort(np.asarray(abs_residuals, float))
    n = len(r)
    if n == 0:
        return float("nan")
    k = int(np.ceil((n + 1) * (1 - alpha)))
    return float(r[min(k, n) - 1])


def interval_half_widths(predictions: pd.DataFrame, predictor: str, scheme: str, alpha: float = 0.1) -> pd.Series:
    """q per task from all out-of-fold residuals of ``predictor`` under ``scheme``."""
    p = predictions[(predictions["predictor"] == predictor) & (predictions["scheme"] == scheme)]
    return p.groupby("task").apply(lambda g: conformal_quantile((g.y_pred - g.y_true).abs(), alpha),
                                   include_groups=False).rename("half_width")


def coverage(predictions: pd.DataFrame, predictor: str, alpha: float = 0.1) -> pd.DataFrame:
    """Measured coverage of the (1-alpha) interval per task and scheme (leave-one-fold-out quantiles)."""
    rows = []
    p = predictions[predictions["predictor"] == predictor].assign(
        r=lambda d: (d.y_pred - d.y_true).abs())
    for (task, scheme), g in p.groupby(["task", "scheme"]):
        hits, widths = [], []
        for (seed, fold), gf in g.groupby(["seed", "fold"]):
            others = g[(g["seed"] == seed) & (g["fold"] != fold)]["r"]
            q = conformal_quantile(others, alpha)
            hits.extend((gf["r"] <= q).tolist())
            widths.append(q)
        rows.append({"task": task, "scheme": scheme, "predictor": predictor, "nominal": 1 - alpha,
                     "coverage": float(np.mean(hits)), "mean_half_width": float(np.mean(widths)),
                     "n": len(hits)})
    return pd.DataFrame(rows)
