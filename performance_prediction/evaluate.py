"""Nested cross-validation over tasks x validation schemes x seeds x predictors.

For each (task, scheme, seed) the outer splitter gives folds; every predictor is fit on the training part
(its encoder and its inner grid search see only that part; family-grouped inner folds under the family
scheme) and predicts the held-out part. Results are per-model predictions; MAE tables are derived from them.
Units run in parallel with joblib; each XGBoost model uses one thread so workers x threads <= cores.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from .data import PredictionData
from .families import families
from .predictors import PREDICTORS, make_predictor
from .progress import Progress
from .tasks import score_upper
from .validation import log_compute, outer_splits


@dataclass
class CVConfig:
    """What to run. ``grid`` is ``paper`` (the paper's 18 points), ``fast`` or a dict."""

    predictors: tuple[str, ...] = ("median", "loglinear", "xgb_scaling", "xgb_all")
    schemes: tuple[str, ...] = ("family", "random")
    seeds: tuple[int, ...] = (42,)
    outer_folds: int = 3
    inner_folds: int = 3
    grid: object = "paper"
    max_bin: int = 256              # XGBoost's default; 32 is ~2x faster on these ~100-row tables
    search: bool = True
    n_jobs: int = 0                 # 0 = number of cores
    shap_predictor: str | None = None   # collect SHAP values of this predictor (first seed only)
    feature_overrides: dict = field(default_factory=dict)   # predictor -> columns (paper's --sel_features)
    fixed_params: dict | None = None   # no search: these XGBoost settings (paper's --n_estimators/--lr/--max_depth)
    progress: bool = True
    alpha: float = 0.1              # predictors with ``predict_interval`` give (1 - alpha) intervals
    extrapolation_top: float = 0.2  # scheme "extrapolation": the largest 20 % by compute are the test set
    # predictors that compute intervals (law/design ones need an inner CV for them); None: every one that can
    interval_predictors: tuple[str, ...] | None = None


@dataclass
class CVResult:
    predictions: pd.DataFrame       # task, scheme, seed, fold, predictor, id, family, y_true, y_pred, lower, upper
    shap: dict = field(default_factory=dict)   # task -> (values [n, f], features DataFrame)
    best_params: pd.DataFrame = field(default_factory=pd.DataFrame)

    def fold_mae(self) -> pd.DataFrame:
        p = self.predictions.assign(abs_err=(self.predictions.y_pred - self.predictions.y_true).abs())
        return (p.groupby(["task", "scheme", "seed", "predictor", "fold"])["abs_err"].mean()
                .rename("mae").reset_index())

    def seed_mae(self) -> pd.DataFrame:
        """MAE per (task, scheme, seed, predictor): the mean of the fold MAEs (the paper's definition)."""
        return (self.fold_mae().groupby(["task", "scheme", "seed", "predictor"])["mae"].mean().reset_index())

    def mae_table(self) -> pd.DataFrame:
        """Mean and std over seeds of the per-seed MAE: task x scheme x predictor."""
        s = self.seed_mae()
        return (s.groupby(["task", "scheme", "predictor"])["mae"].agg(["mean", "std", "count"])
                .rename(columns={"mean": "mae", "std": "mae_std_over_seeds", "count": "n_seeds"}).reset_index())


def predictor_params(name: str, metric: str, seed: int, cfg: CVConfig, pseudo: list[str],
                     task: str | None = None) -> dict:
    params = {"seed": seed, "grid": cfg.grid, "inner_folds": cfg.inner_folds, "search": cfg.search,
              "nthread": 1, "max_bin": cfg.max_bin, "pseudo": tuple(pseudo),
              "higher_is_better": metric != "brier_score", "upper": score_upper(metric),
              "task": task, "metric": metric, "alpha": cfg.alpha}
    if cfg.interval_predictors is not None:
        params["intervals"] = name in cfg.interval_predictors
    if name in cfg.feature_overrides:
        params["features"] = [f for f in cfg.feature_overrides[name] if f != "id"]
    if not cfg.search and cfg.fixed_params:
        params["params"] = dict(cfg.fixed_params)
    return params


def _run_unit(X: pd.DataFrame, y: np.ndarray, fams: list[str], task: str, scheme: str, seed: int,
              cfg: CVConfig, metric: str, pseudo: list[str], want_shap: bool):
    rows, shap_out, params_out = [], None, []
    folds = outer_splits(scheme, len(y), fams, cfg.outer_folds, seed, compute=log_compute(X),
                         top=cfg.extrapolation_top)
    ids = X.index.to_numpy()
    fams_arr = np.asarray(fams)
    shap_vals, shap_feats = [], []
    for k, (tr, te) in enumerate(folds):
        Xtr, Xte = X.iloc[tr], X.iloc[te]
        groups = fams_arr[tr] if scheme == "family" else None
        for name in cfg.predictors:
            est = make_predictor(name, **predictor_params(name, metric, seed, cfg, pseudo, task))
            # the inner search is family-grouped whenever families are known (family and extrapolation schemes)
            est.fit(Xtr, y[tr], groups=groups if scheme != "extrapolation" else fams_arr[tr])
            pred = est.predict(Xte)
            lo, hi = est.predict_interval(Xte) if hasattr(est, "predict_interval") else (np.nan, np.nan)
            rows.append(pd.DataFrame({"task": task, "scheme": scheme, "seed": seed, "fold": k, "predictor": name,
                                      "id": ids[te], "family": fams_arr[te], "y_true": y[te], "y_pred": pred,
                                      "lower": lo, "upper": hi}))
            if hasattr(est, "best_params_"):
                params_out.append({"task": task, "scheme": scheme, "seed": seed, "fold": k, "predictor": name,
                                   **est.best_params_})
            if want_shap and name == cfg.shap_predictor and hasattr(est, "booster_"):
                import shap

                Z = est.transform_features(Xte)
                vals = shap.TreeExplainer(est.booster_).shap_values(Z)
                shap_vals.append(np.asarray(vals))
                frame = pd.DataFrame(Z, columns=est.columns_, index=Xte.index)
                # categories as their raw labels: the fold's ordinal codes differ between folds (issue 12b);
                # explain.display_matrix gives them one code table for every fold
                for col in getattr(est.encoder_, "categories_", {}):
                    frame[col] = Xte[col].astype("object")
                shap_feats.append(frame)
    if shap_vals:
        # folds may drop different all-empty columns: align on the union, in order of first appearance
        cols = list(dict.fromkeys(c for f in shap_feats for c in f.columns))
        vals = [pd.DataFrame(v, columns=f.columns, index=f.index).reindex(columns=cols) for v, f in
                zip(shap_vals, shap_feats, strict=True)]
        shap_out = (pd.concat(vals), pd.concat([f.reindex(columns=cols) for f in shap_feats]))
    return task, scheme, seed, pd.concat(rows, ignore_index=True), shap_out, params_out


def n_workers(n_jobs: int) -> int:
    return n_jobs if n_jobs and n_jobs > 0 else max(1, len(os.sched_getaffinity(0)))


def run_cv(data: PredictionData, cfg: CVConfig) -> CVResult:
    """Run every (task, scheme, seed) unit; returns per-model predictions (+ SHAP, chosen hyper-parameters)."""
    for name in cfg.predictors:
        if name not in PREDICTORS:
            make_predictor(name)   # raises the clear error
    units = []
    for task in data.task_names:
        X, y = data.task_frame(task)
        fams = families(X.index)
        for scheme in cfg.schemes:
            for i, seed in enumerate(cfg.seeds):
                want_shap = cfg.shap_predictor is not None and i == 0
                units.append((X, y, fams, task, scheme, seed, want_shap))
    jobs = (delayed(_run_unit)(X, y, f, t, s, seed, cfg, data.metric, data.pseudo_features, w)
            for X, y, f, t, s, seed, w in units)
    workers = n_workers(cfg.n_jobs)
    bar = Progress(len(units), f"CV {data.metric}, {'+'.join(cfg.predictors)} (tasks x schemes x seeds)",
                   enabled=cfg.progress)
    preds, shap_out, params = [], {}, []
    if workers == 1:
        results = (_run_unit(X, y, f, t, s, seed, cfg, data.metric, data.pseudo_features, w)
                   for X, y, f, t, s, seed, w in units)
    else:
        results = Parallel(n_jobs=workers, return_as="generator_unordered")(jobs)
    for task, scheme, _seed, frame, sh, par in results:
        preds.append(frame)
        params += par
        if sh is not None:
            shap_out[(task, scheme)] = sh
        bar.update(1)
    bar.close()
    predictions = pd.concat(preds, ignore_index=True).sort_values(
        ["task", "scheme", "seed", "predictor", "fold", "id"], kind="mergesort").reset_index(drop=True)
    return CVResult(predictions=predictions, shap=shap_out, best_params=pd.DataFrame(params))
