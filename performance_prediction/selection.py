"""Forward feature selection per task, scored out-of-sample (nested).

Greedy forward selection starts from the scaling features and adds, one at a time, the candidate that lowers
the inner-CV MAE most, while the gain is >= ``min_gain`` (at most ``max_added`` features). Selecting and
scoring on the same folds inflates the gain, so the selection runs *inside* each outer training fold and the
chosen set is then scored on the outer test fold it never saw, against scaling-only on the same fold.
Both numbers are reported: ``inner_gain`` (what the paper reports) and ``outer_gain`` (honest).

Speed: candidates are scored with fixed XGBoost settings (depth 3, lr 0.1, 100 trees, 32 bins) instead of a
grid search per candidate; outer folds run in parallel.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from .data import PredictionData
from .evaluate import n_workers
from .families import families
from .features import SCALING, feature_set
from .predictors import XGBSearchRegressor
from .progress import Progress
from .validation import outer_splits

FIXED = {"max_depth": 3, "learning_rate": 0.1, "n_estimators": 100}


@dataclass
class SelectionConfig:
    scheme: str = "family"
    seed: int = 42
    outer_folds: int = 3
    inner_folds: int = 3
    max_added: int = 6
    min_gain: float = 1e-4
    max_bin: int = 32
    candidates: tuple[str, ...] | None = None    # default: every non-scaling feature
    n_jobs: int = 0
    progress: bool = True


def _model(features, seed, cfg, metric):
    return XGBSearchRegressor(features=list(features), params=FIXED, seed=seed, max_bin=cfg.max_bin,
                              higher_is_better=metric != "brier_score")


def cv_mae(X, y, groups, features, scheme, folds, seed, cfg, metric) -> float:
    """Mean fold MAE of the fixed-settings model on ``features``."""
    errs = []
    for tr, va in outer_splits(scheme, len(y), groups, folds, seed):
        est = _model(features, seed, cfg, metric).fit(X.iloc[tr], y[tr])
        errs.append(np.mean(np.abs(est.predict(X.iloc[va]) - y[va])))
    return float(np.mean(errs))


def forward_select(X, y, groups, candidates, cfg: SelectionConfig, metric: str, seed: int):
    """Greedy forward selection on (X, y) with inner CV. Returns (selected extra features, history)."""
    scheme = cfg.scheme if groups is not None and len(set(groups)) >= cfg.inner_folds else "random"
    selected: list[str] = []
    current = cv_mae(X, y, groups, SCALING, scheme, cfg.inner_folds, seed, cfg, metric)
    baseline = current
    history = []
    remaining = [c for c in candidates if c in X.columns and X[c].notna().any()]
    while remaining and len(selected) < cfg.max_added:
        scores = {c: cv_mae(X, y, groups, [*SCALING, *selected, c], scheme, cfg.inner_folds, seed, cfg, metric)
                  for c in remaining}
        best = min(scores, key=lambda c: (scores[c], remaining.index(c)))
        gain = current - scores[best]
        if gain < cfg.min_gain:
            break
        history.append({"feature": best, "mae_before": current, "mae_after": scores[best], "improvement": gain})
        selected.append(best)
        remaining.remove(best)
        current = scores[best]
    return selected, history, baseline, current


def _outer_fold(task, k, tr, te, X, y, fams, candidates, cfg, metric):
    groups = np.asarray(fams)[tr] if cfg.scheme == "family" else None
    sel, hist, base_in, final_in = forward_select(X.iloc[tr], y[tr], groups, candidates, cfg, metric, cfg.seed)
    out = {}
    for name, feats in (("scaling", list(SCALING)), ("selected", [*SCALING, *sel])):
        est = _model(feats, cfg.seed, cfg, metric).fit(X.iloc[tr], y[tr])
        out[name] = float(np.mean(np.abs(est.predict(X.iloc[te]) - y[te])))
    return {"task": task, "fold": k, "selected_features": sel, "inner_mae_scaling": base_in,
            "inner_mae_selected": final_in, "inner_gain": base_in - final_in,
            "outer_mae_scaling": out["scaling"], "outer_mae_selected": out["selected"],
            "outer_gain": out["scaling"] - out["selected"], "history": hist}


def _final(task, X, y, fams, candidates, cfg, metric):
    groups = np.asarray(fams) if cfg.scheme == "family" else None
    sel, hist, base, final = forward_select(X, y, groups, candidates, cfg, metric, cfg.seed)
    return task, sel, hist, base, final


def nested_forward_selection(data: PredictionData, cfg: SelectionConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per task: nested selection (outer folds) and a final selection on all models.

    Returns (per-fold table, per-task summary in the paper's ``selected_feats`` CSV layout plus the
    out-of-sample gain columns).
    """
    candidates = list(cfg.candidates) if cfg.candidates else [
        c for c in feature_set("all", data.pseudo_features) if c not in SCALING]
    jobs = []
    for task in data.task_names:
        X, y = data.task_frame(task)
        fams = families(X.index)
        for k, (tr, te) in enumerate(outer_splits(cfg.scheme, len(y), fams, cfg.outer_folds, cfg.seed)):
            jobs.append(delayed(_outer_fold)(task, k, tr, te, X, y, fams, candidates, cfg, data.metric))
        jobs.append(delayed(_final)(task, X, y, fams, candidates, cfg, data.metric))
    bar = Progress(len(jobs), f"forward selection {data.metric}, {cfg.scheme} folds (tasks x (outer folds + final))",
                   enabled=cfg.progress, unit="job")
    folds, finals = [], {}
    for res in Parallel(n_jobs=n_workers(cfg.n_jobs), return_as="generator_unordered")(jobs):
        if isinstance(res, dict):
            folds.append(res)
        else:
            finals[res[0]] = res[1:]
        bar.update(1)
    bar.close()
    fold_df = pd.DataFrame(folds).sort_values(["task", "fold"]).reset_index(drop=True)
    settings = {t.name: t.setting for t in data.tasks}
    rows = []
    for task in data.task_names:
        sel, hist, base, final = finals[task]
        f = fold_df[fold_df["task"] == task]
        rows.append({
            "selected_features": str([*SCALING, *sel]),
            "improvement_scores": str({h["feature"]: {"mae_improvement": h["improvement"]} for h in hist}),
            "selection_history": str(hist), "final_mae": final, "baseline_mae": base,
            "task": task, "setting": settings[task],
            "inner_gain_mean": f["inner_gain"].mean(), "outer_gain_mean": f["outer_gain"].mean(),
            "outer_mae_scaling": f["outer_mae_scaling"].mean(), "outer_mae_selected": f["outer_mae_selected"].mean(),
        })
    return fold_df, pd.DataFrame(rows)


def selection_verdict(folds: pd.DataFrame) -> dict:
    """What nested selection gains out of sample, over every task and outer fold.

    ``mean_outer_mae_*``: mean over tasks of the outer-fold MAE with scaling features only and with the selected
    set; ``tasks_better``: tasks whose mean outer gain is > 0; ``distinct_sets``: per task, how many different
    sets its outer folds chose (1 = stable); ``feature_counts``: how many outer folds chose each feature.
    """
    per_task = folds.groupby("task")[["outer_mae_scaling", "outer_mae_selected", "outer_gain", "inner_gain"]].mean()
    sets = folds.groupby("task")["selected_features"].agg(lambda s: len({tuple(x) for x in s}))
    counts = pd.Series([f for sel in folds["selected_features"] for f in sel], dtype=object).value_counts()
    return {"mean_outer_mae_scaling": float(per_task["outer_mae_scaling"].mean()),
            "mean_outer_mae_selected": float(per_task["outer_mae_selected"].mean()),
            "mean_inner_gain": float(per_task["inner_gain"].mean()),
            "mean_outer_gain": float(per_task["outer_gain"].mean()),
            "tasks_better": int((per_task["outer_gain"] > 0).sum()), "n_tasks": len(per_task),
            "stable_tasks": int((sets == 1).sum()), "distinct_sets": sets.to_dict(),
            "feature_counts": counts.to_dict(), "n_folds": len(folds)}


def fold_sets_table(folds: pd.DataFrame) -> pd.DataFrame:
    """One row per task x outer fold: the features that fold's selection added, and its inner/outer gain."""
    out = folds[["task", "fold", "selected_features", "inner_gain", "outer_gain"]].copy()
    out["selected_features"] = out["selected_features"].map(lambda s: ", ".join(s) if len(s) else "(none)")
    return out
