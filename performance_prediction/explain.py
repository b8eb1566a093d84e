"""SHAP (TreeExplainer) importance per task, from the held-out folds of the cross-validation."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def shap_importance(shap: dict) -> pd.DataFrame:
    """Long table task, scheme, feature, mean_abs_shap, mean_shap, rank (1 = most important)."""
    rows = []
    for (task, scheme), (vals, _feats) in shap.items():
        for col in vals.columns:
            v = vals[col].to_numpy(dtype=float)
            v = v[np.isfinite(v)]
            rows.append({"task": task, "scheme": scheme, "feature": col,
                         "mean_abs_shap": float(np.abs(v).mean()) if len(v) else 0.0,
                         "mean_shap": float(v.mean()) if len(v) else 0.0})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["rank"] = out.groupby(["task", "scheme"])["mean_abs_shap"].rank(ascending=False, method="first").astype(int)
    return out.sort_values(["scheme", "task", "rank"]).reset_index(drop=True)


def shap_summary_png(vals: pd.DataFrame, feats: pd.DataFrame, title: str, path: Path, max_display: int = 12) -> None:
    """Beeswarm summary plot (features with no value in a fold contribute 0 there)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap

    plt.figure()
    shap.summary_plot(vals.fillna(0.0).to_numpy(), feats.to_numpy(dtype=float), feature_names=list(vals.columns),
                      max_display=max_display, show=False, plot_size=(9, 6))
    plt.title(title)
    plt.tight_layout()
    plt.savefig(path, dpi=110)
    plt.close("all")
