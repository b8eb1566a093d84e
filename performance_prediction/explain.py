"""SHAP (TreeExplainer) importance per task, from the held-out folds of the cross-validation.

Two cautions are built in (issue 12b):

* **Category colours mean one thing across folds.** Each fold's model codes categories from its own training
  part, so the same code can be a different category in another fold. The CV keeps the raw labels beside the
  SHAP values and :func:`display_matrix` gives every category one code (its rank among all labels of the task),
  shared by all folds; the figure names the codes.
* **Often-missing features are family proxies.** A feature missing for a large share of models (data mix,
  several architecture fields) is missing for whole families at once, so a tree can split on "missing" and read
  it as "this family". :func:`shap_importance` reports each feature's missing share and flags those at or above
  ``PROXY_MISSING_SHARE``; the report repeats the warning beside the SHAP table and the figures mark them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

PROXY_MISSING_SHARE = 0.4


def _is_categorical(col: pd.Series) -> bool:
    return col.dtype == object or isinstance(col.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(col)


def display_matrix(feats: pd.DataFrame) -> tuple[np.ndarray, dict[str, list[str]]]:
    """Feature values for colouring: numeric columns as they are, categories coded by one table for all folds.

    Returns the float matrix (NaN = missing) and, per categorical column, its labels in code order.
    """
    out = np.full(feats.shape, np.nan)
    legends: dict[str, list[str]] = {}
    for j, col in enumerate(feats.columns):
        s = feats[col]
        if _is_categorical(s):
            labels = sorted(s.dropna().astype(str).unique())
            codes = {c: float(i) for i, c in enumerate(labels)}
            out[:, j] = s.map(lambda v, codes=codes: codes.get(str(v), np.nan) if pd.notna(v) else np.nan)
            legends[col] = labels
        else:
            out[:, j] = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    return out, legends


def shap_importance(shap: dict) -> pd.DataFrame:
    """Long table task, scheme, feature, mean_abs_shap, mean_shap, missing_share, proxy_warning, rank."""
    rows = []
    for (task, scheme), (vals, feats) in shap.items():
        for col in vals.columns:
            v = vals[col].to_numpy(dtype=float)
            v = v[np.isfinite(v)]
            missing = float(feats[col].isna().mean()) if col in feats else float("nan")
            rows.append({"task": task, "scheme": scheme, "feature": col,
                         "mean_abs_shap": float(np.abs(v).mean()) if len(v) else 0.0,
                         "mean_shap": float(v.mean()) if len(v) else 0.0,
                         "missing_share": missing, "proxy_warning": bool(missing >= PROXY_MISSING_SHARE)})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["rank"] = out.groupby(["task", "scheme"])["mean_abs_shap"].rank(ascending=False, method="first").astype(int)
    return out.sort_values(["scheme", "task", "rank"]).reset_index(drop=True)


def shap_summary_png(vals: pd.DataFrame, feats: pd.DataFrame, title: str, path: Path, max_display: int = 12) -> None:
    """Beeswarm summary plot; categories coloured by fixed codes (named below), often-missing features starred."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    matrix, legends = display_matrix(feats.reindex(columns=vals.columns))
    names = [f"{c} *" if feats[c].isna().mean() >= PROXY_MISSING_SHARE else c for c in vals.columns]
    plt.figure()
    shap.summary_plot(vals.fillna(0.0).to_numpy(), matrix, feature_names=names, max_display=max_display,
                      show=False, plot_size=(9, 6.5))
    plt.title(title)
    order = np.argsort(-np.abs(vals.fillna(0.0).to_numpy()).mean(axis=0))[:max_display]
    shown = [vals.columns[i] for i in order if vals.columns[i] in legends]
    notes = [f"{c}: " + ", ".join(f"{i}={lab}" for i, lab in enumerate(legends[c])) for c in shown]
    notes.append(f"* missing for >= {PROXY_MISSING_SHARE:.0%} of models: may stand for model families "
                 "(grey = missing)")
    plt.gcf().text(0.01, 0.005, "\n".join(notes), fontsize=6.5, va="bottom")
    plt.tight_layout(rect=(0, 0.03 + 0.018 * len(notes), 1, 1))
    plt.savefig(path, dpi=110)
    plt.close("all")
