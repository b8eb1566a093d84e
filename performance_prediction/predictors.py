"""Predictors as a registry of sklearn-style estimators: ``fit(X, y, groups=None)`` / ``predict(X)``.

``X`` is the raw model table (a DataFrame, one row per model); each predictor picks its columns and fits its
own ``FeatureEncoder`` inside ``fit`` — so encoding is learnt from the training fold only. ``groups`` (model
families) make the inner hyper-parameter search family-grouped too.

Adding a predictor = one small registered factory::

    @register("my_predictor", "one line for the report")
    def _my(**kw): return XGBSearchRegressor(feature_kind="all", target="logit", **kw)
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from itertools import product

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import GroupKFold, KFold

from njsl.registry import Registry

from .errors import PredictionInputError
from .features import SCALING, FeatureEncoder, feature_set
from .boost import LawBoostRegressor
from .laws import LawRegressor
from .ensemble import EnsembleRegressor

# The paper's inner grid (performance_predict_from_db.py, train_and_evaluate_w_search).
PAPER_GRID: dict[str, list] = {"max_depth": [2, 3, 5], "learning_rate": [0.01, 0.1, 0.3], "n_estimators": [50, 100]}
# A smaller grid: lr 0.01 with <= 100 trees under-fits on these targets and was never best in our runs
# (see README); dropping it halves the search.
FAST_GRID: dict[str, list] = {"max_depth": [2, 3, 5], "learning_rate": [0.1, 0.3], "n_estimators": [50, 100]}
GRIDS = {"paper": PAPER_GRID, "fast": FAST_GRID}
# XGBoost losses a tree model may fit (issue 12, session 8: the absolute and pseudo-Huber losses for an MAE target)
TREE_OBJECTIVES = ("reg:squarederror", "reg:absoluteerror", "reg:pseudohubererror")
# Family-bootstrap refits averaged by the bagged law/design predictors (issue 12, session 6: 25 beat 10 on brier;
# each costs about one law fit per form, warm-started)
BAGS = 25

# name -> (factory, one-line description for the report)
PREDICTORS: Registry[tuple[Callable[..., BaseEstimator], str]] = Registry("predictor", error=PredictionInputError)


def register(name: str, description: str):
    """Decorator registering a predictor factory under ``name`` (a name registered twice is refused)."""
    def deco(factory):
        PREDICTORS.add(name, (factory, description))
        return factory
    return deco


def _factory_params(entry: tuple[Callable[..., BaseEstimator], str]) -> Iterable[str]:
    return entry[0]().get_params()


def make_predictor(name: str, **params) -> BaseEstimator:
    """A fresh predictor by registry name; ``params`` go to the factory.

    One parameter set serves every predictor (a baseline ignores the search's ``grid``); a parameter no
    predictor takes is refused with a did-you-mean.
    """
    est = PREDICTORS.get(name)[0]()
    est.set_params(**PREDICTORS.pick_options(name, params, _factory_params))
    return est


def resolve_grid(grid) -> dict[str, Any]:
    if isinstance(grid, dict):
        return grid
    if grid not in GRIDS:
        raise PredictionInputError(f"unknown grid {grid!r}; choose from {', '.join(GRIDS)}")
    return GRIDS[grid]


# ----------------------------------------------------------------------------------------------- baselines
class MedianBaseline(BaseEstimator, RegressorMixin):
    """Predicts the training median (the paper's baseline)."""

    def fit(self, X, y, groups=None):
        self.median_ = float(np.median(y))
        return self

    def predict(self, X):
        return np.full(len(X), self.median_)


class LogLinearScaling(BaseEstimator, RegressorMixin):
    """Linear fit of the score on log(params) and log(tokens) (a log-linear scaling law)."""

    def fit(self, X, y, groups=None):
        self.encoder_ = FeatureEncoder(list(SCALING)).fit(X)
        Z = self.encoder_.transform(X).astype(float)
        self.fill_ = np.nanmedian(Z, axis=0)
        Z = np.where(np.isnan(Z), self.fill_, Z)
        self.model_ = LinearRegression().fit(Z, y)
        return self

    def predict(self, X):
        Z = self.encoder_.transform(X).astype(float)
        return self.model_.predict(np.where(np.isnan(Z), self.fill_, Z))


# ----------------------------------------------------------------------------------------------- XGBoost
class XGBSearchRegressor(BaseEstimator, RegressorMixin):
    """XGBoost with an inner grid search (scored by MAE) over depth, learning rate and number of trees.

    Options for generalising to unseen families (see README, "Family-grouped validation"):
    ``target="logit"`` fits logit(score / upper) and maps back; ``monotone=True`` constrains the prediction to
    rise with params and tokens (fall, with ``higher_is_better=False``); ``residual=True`` first fits
    ``LogLinearScaling`` and boosts on its residuals; ``shrink`` multiplies the boosted part (residual models)
    and ``min_child_weight``/``reg_lambda`` regularise the trees. ``objective``: XGBoost's loss, one of
    :data:`TREE_OBJECTIVES` (the squared error by default; an absolute or pseudo-Huber loss fits the MAE the
    predictors are scored by more closely; ``huber_slope``: the pseudo-Huber loss's delta, in score units);
    ``subsample`` < 1 fits each tree on that share of the rows (drawn
    with ``seed``).

    Speed: each (depth, lr) is trained once per inner fold with the largest ``n_estimators`` and scored at
    every grid size with ``iteration_range`` (same result as separate fits); ``nthread`` threads per model.
    """

    def __init__(self, feature_kind: str = "all", features: list[str] | None = None, pseudo: tuple = (),
                 grid="paper", inner_folds: int = 3, search: bool = True, target: str = "identity",
                 upper: float = 1.0, monotone: bool = False, higher_is_better: bool = True,
                 residual: bool = False, shrink: float = 1.0, min_child_weight: float = 1.0,
                 reg_lambda: float = 1.0, max_bin: int = 64, seed: int = 0, nthread: int = 1,
                 params: dict | None = None, objective: str = "reg:squarederror", huber_slope: float = 0.05,
                 subsample: float = 1.0):
        self.feature_kind = feature_kind
        self.features = features
        self.pseudo = pseudo
        self.grid = grid
        self.inner_folds = inner_folds
        self.search = search
        self.target = target
        self.upper = upper
        self.monotone = monotone
        self.higher_is_better = higher_is_better
        self.residual = residual
        self.shrink = shrink
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.max_bin = max_bin
        self.seed = seed
        self.nthread = nthread
        self.params = params
        self.objective = objective
        self.huber_slope = huber_slope
        self.subsample = subsample

    # -- target transform
    def _fwd(self, y):
        if self.target == "logit":
            p = np.clip(np.asarray(y, float) / self.upper, 1e-3, 1 - 1e-3)
            return np.log(p / (1 - p))
        return np.asarray(y, float)

    def _inv(self, z):
        if self.target == "logit":
            return self.upper / (1 + np.exp(-z))
        return z

    def columns(self, X: pd.DataFrame) -> list[str]:
        cols = list(self.features) if self.features else feature_set(self.feature_kind, list(self.pseudo))
        # columns with no value at all (e.g. store extras empty in the release) carry no information
        return [c for c in cols if c in X.columns and X[c].notna().any()]

    def _base_params(self) -> dict:
        p = {"objective": self.objective, "tree_method": "hist", "max_bin": self.max_bin,
             "nthread": self.nthread, "seed": self.seed, "verbosity": 0,
             "min_child_weight": self.min_child_weight, "lambda": self.reg_lambda, "subsample": self.subsample}
        if self.objective == "reg:pseudohubererror":
            p["huber_slope"] = self.huber_slope
        if self.monotone:
            sign = 1 if self.higher_is_better else -1
            p["monotone_constraints"] = "(" + ",".join(
                str(sign if c in SCALING else 0) for c in self.columns_) + ")"
        return p

    def _start(self, t: np.ndarray) -> dict:
        # XGBoost's own starting score for the pseudo-Huber loss diverges with a small slope (25 on scores in
        # [0, 1]); the target's median is the loss's minimiser for a constant up to the slope
        return {"base_score": float(np.median(t))} if self.objective == "reg:pseudohubererror" else {}

    def fit(self, X: pd.DataFrame, y, groups=None):
        if self.objective not in TREE_OBJECTIVES:
            raise ValueError(f"objective must be one of {', '.join(TREE_OBJECTIVES)}, got {self.objective!r}")
        if isinstance(self.subsample, bool) or not isinstance(self.subsample, int | float) \
                or not 0.0 < self.subsample <= 1.0:
            raise ValueError(f"subsample must be a number in (0, 1], got {self.subsample!r}")
        y = np.asarray(y, float)
        self.columns_ = self.columns(X)
        if not self.columns_:
            raise PredictionInputError("no usable feature columns for XGBoost (all selected features are empty)")
        self.encoder_ = FeatureEncoder(self.columns_).fit(X)
        Z = self.encoder_.transform(X)
        if self.residual:
            self.base_ = LogLinearScaling().fit(X, y)
            t = self._fwd(y) - self._fwd(self.base_.predict(X))
        else:
            t = self._fwd(y)
        base = self._base_params()
        grid = resolve_grid(self.grid)
        if self.params:
            best = dict(self.params)
        elif self.search:
            best = self._search(Z, y, t, X, groups, base, grid)
        else:
            best = {"max_depth": 3, "learning_rate": 0.1, "n_estimators": 100}
        self.best_params_ = best
        params = {**base, "max_depth": best["max_depth"], "eta": best["learning_rate"]}
        params.update(self._start(t))
        self.booster_ = xgb.train(params, xgb.DMatrix(Z, t, nthread=self.nthread), int(best["n_estimators"]))
        return self

    def _search(self, Z, y, t, X, groups, base, grid) -> dict:
        n_groups = len(set(groups)) if groups is not None else 0
        if groups is not None and n_groups >= self.inner_folds:
            splits = GroupKFold(self.inner_folds, shuffle=True, random_state=self.seed).split(Z, y, groups)
        else:
            splits = KFold(self.inner_folds, shuffle=True, random_state=self.seed).split(Z)
        sizes = sorted(grid["n_estimators"])
        combos = list(product(grid["max_depth"], grid["learning_rate"]))
        err = np.zeros((len(combos), len(sizes)))
        for tr, va in splits:
            dtr = xgb.DMatrix(Z[tr], t[tr], nthread=self.nthread)
            dva = xgb.DMatrix(Z[va], nthread=self.nthread)
            if self.residual:
                # the offset model is refit inside the inner fold too (no leakage from the validation part)
                inner_base = LogLinearScaling().fit(X.iloc[tr], y[tr])
                t_tr = self._fwd(y[tr]) - self._fwd(inner_base.predict(X.iloc[tr]))
                dtr.set_label(t_tr)
                off = self._fwd(inner_base.predict(X.iloc[va]))
            else:
                off = 0.0
            for i, (depth, lr) in enumerate(combos):
                booster = xgb.train({**base, "max_depth": depth, "eta": lr, **self._start(dtr.get_label())}, dtr,
                                    sizes[-1])
                for j, n in enumerate(sizes):
                    z = booster.predict(dva, iteration_range=(0, n))
                    pred = self._inv(off + (self.shrink * z if self.residual else z))
                    err[i, j] += np.abs(pred - y[va]).sum()
        best, size = np.unravel_index(np.argmin(err), err.shape)   # first minimum: deterministic tie-break
        return {"max_depth": combos[best][0], "learning_rate": combos[best][1], "n_estimators": sizes[size]}

    def transform_features(self, X: pd.DataFrame) -> np.ndarray:
        """Encoded matrix as the booster sees it (for SHAP)."""
        return self.encoder_.transform(X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        z = self.booster_.predict(xgb.DMatrix(self.encoder_.transform(X), nthread=self.nthread))
        if self.residual:
            return self._inv(self._fwd(self.base_.predict(X)) + self.shrink * z)
        return self._inv(z)


# ----------------------------------------------------------------------------------------------- registry
@register("median", "median of the training scores (baseline)")
def _median():
    return MedianBaseline()


@register("loglinear", "linear fit on log params and log tokens (scaling law)")
def _loglinear():
    return LogLinearScaling()


@register("xgb_scaling", "XGBoost on log params and log tokens, nested grid search")
def _xgb_scaling():
    return XGBSearchRegressor(feature_kind="scaling")


@register("xgb_all", "XGBoost on all features (scaling, architecture, data, pseudo), nested grid search")
def _xgb_all():
    return XGBSearchRegressor(feature_kind="all")


@register("xgb_non_scaling", "XGBoost without params/tokens/size-like features (the paper's non_scaling_laws)")
def _xgb_non_scaling():
    return XGBSearchRegressor(feature_kind="non_scaling")


@register("xgb_all_logit", "xgb_all with targets in logit space")
def _xgb_all_logit():
    return XGBSearchRegressor(feature_kind="all", target="logit")


@register("xgb_all_mono", "xgb_all, prediction monotone in params and tokens")
def _xgb_all_mono():
    return XGBSearchRegressor(feature_kind="all", monotone=True)


@register("xgb_resid", "log-linear scaling fit + XGBoost (all features) on its residuals")
def _xgb_resid():
    return XGBSearchRegressor(feature_kind="all", residual=True)


@register("xgb_resid_shrink", "residual model, regularised trees and boosted part shrunk by 0.5")
def _xgb_resid_shrink():
    return XGBSearchRegressor(feature_kind="all", residual=True, shrink=0.5, min_child_weight=3.0, reg_lambda=5.0)


@register("xgb_scaling_data", "XGBoost on scaling + data composition only (fewer, stronger features)")
def _xgb_scaling_data():
    return XGBSearchRegressor(feature_kind="scaling_data")


@register("xgb_resid_data_mono", "residual on scaling + data features, monotone in scale, shrunk by 0.5")
def _xgb_resid_data_mono():
    return XGBSearchRegressor(feature_kind="scaling_data", residual=True, monotone=True, shrink=0.5,
                              min_child_weight=3.0, reg_lambda=5.0)


PAPER_PREDICTORS = ("median", "loglinear", "xgb_scaling", "xgb_all")
IMPROVEMENT_PREDICTORS = ("xgb_all_logit", "xgb_all_mono", "xgb_resid", "xgb_resid_shrink", "xgb_scaling_data",
                          "xgb_resid_data_mono")


# ----------------------------------------------------------------------------------------------- laws
@register("law_sigmoid_compute", "sigmoid law in log(6ND) with the chance level as floor anchor (robust fit)")
def _law_sigmoid_compute():
    return LawRegressor(form="compute")


@register("law_sigmoid_nd", "sigmoid law in separate log params and log tokens")
def _law_sigmoid_nd():
    return LawRegressor(form="nd")


@register("law_sigmoid_params", "sigmoid law in log params alone (for specs without tokens)")
def _law_sigmoid_params():
    return LawRegressor(form="params")


@register("law_richards_compute", "generalised-logistic law in log(6ND): sigmoid ** nu, nu fitted in [0.2, 5] (an "
                                  "asymmetric S; opt-in Brier law, -.0003 over 30 seeds; extrapolates worse on "
                                  "accuracy)")
def _law_richards_compute():
    return LawRegressor(form="compute", shape="richards")


@register("law_auto", "sigmoid law, compute or N/D form chosen by family CV inside the training families")
def _law_auto():
    return LawRegressor(form="auto")


@register("law_blend", "w x compute-form + (1 - w) x N/D-form sigmoid law, w by family CV inside the training families")
def _law_blend():
    return LawRegressor(form="blend")


@register("design_data", "best law + midpoint shift (effective compute) from data composition, ridge by inner CV")
def _design_data():
    return LawRegressor(form="auto", design="data")


@register("design_arch", "best law + midpoint shift from data composition and architecture decisions")
def _design_arch():
    return LawRegressor(form="auto", design="data_arch")


@register("design_all", "best law + midpoint shift from data, architecture and generation features")
def _design_all():
    return LawRegressor(form="auto", design="all")


@register("design_blend", "law_blend + midpoint shift from data composition and architecture (per form, one ridge)")
def _design_blend():
    return LawRegressor(form="blend", design="data_arch")


@register("design_blend_data", "law_blend + midpoint shift from data composition")
def _design_blend_data():
    return LawRegressor(form="blend", design="data")


@register("design_boost", "law_blend (w by inner CV) + shrunk depth-2 XGBoost on data and architecture decisions "
                          "fitted to its logit residuals; rounds (0 = the law) by inner CV")
def _design_boost():
    return LawBoostRegressor(base="blend", design="data_arch")


@register("design_boost_data", "design_boost with data composition only")
def _design_boost_data():
    return LawBoostRegressor(base="blend", design="data")


@register("design_arch_half", "design_arch with half of the chosen midpoint shift applied (shrink 0.5, opt-in)")
def _design_arch_half():
    return LawRegressor(form="auto", design="data_arch", shrink=0.5)


@register("design_blend_half", "design_blend with half of the chosen midpoint shift applied (shrink 0.5, opt-in)")
def _design_blend_half():
    return LawRegressor(form="blend", design="data_arch", shrink=0.5)


@register("design_blend_data_half", "design_blend_data with half of the chosen midpoint shift applied (shrink 0.5; "
                                    "main job, predict-model default)")
def _design_blend_data_half():
    return LawRegressor(form="blend", design="data", shrink=0.5)


@register("design_arch_half_gl", "design_arch_half with a generalised-logistic (Richards) compute-form law: "
                                 "y rises as sigmoid(u) ** nu, nu in [0.3, 3] fitted (opt-in)")
def _design_arch_half_gl():
    # issue 12, session 5: on unseen families accuracy .0502 (= design_arch_half; .0498 with nu fitted directly
    # on its branch: optimiser-path dependent), .0514 vs .0516 on seeds 52-61, but worse beyond the training
    # range (accuracy .1539 vs .1400): the exponent mostly sits at a bound and lowers mmlu's fitted ceiling, so
    # it is not in the main job
    return LawRegressor(form="auto", design="data_arch", shrink=0.5, shape="richards_compute", nu_range=(0.3, 3.0))


@register("design_blend_gen_half", "law_blend + half the midpoint shift from data, architecture and the generation "
                                   "features' per-model means (the paper's pseudo features; none known = the "
                                   "data/architecture correction only; report: --generation_features)")
def _design_blend_gen_half():
    # issue 12, session 6: with the paper's generation-feature CSV, accuracy .0500 / .0509 (seeds 42-51 / 52-61)
    # vs design_blend_data_half .0504 / .0518; benchmarks/RESULTS.md
    return LawRegressor(form="blend", design="all_means", shrink=0.5)


@register("law_sigmoid_compute_bag", "law_sigmoid_compute averaged over 25 family-bootstrap refits (bagging; each "
                                     "refit starts from the full-data law; opt-in)")
def _law_sigmoid_compute_bag():
    return LawRegressor(form="compute", bags=BAGS, bag_warm=True)


@register("design_blend_data_half_bag", "design_blend_data_half averaged over 25 family-bootstrap refits (blend "
                                        "weight and ridge chosen once on all training rows)")
def _design_blend_data_half_bag():
    return LawRegressor(form="blend", design="data", shrink=0.5, bags=BAGS, bag_warm=True)


@register("design_arch_bag", "design_arch averaged over 25 family-bootstrap refits (form and ridge chosen once on "
                             "all training rows)")
def _design_arch_bag():
    return LawRegressor(form="auto", design="data_arch", bags=BAGS, bag_warm=True)


@register("design_blend_gen_half_bag", "design_blend_gen_half averaged over 25 family-bootstrap refits (blend weight "
                                       "and ridge chosen once on all training rows; opt-in)")
def _design_blend_gen_half_bag():
    # issue 12, session 6: accuracy .0499 / .0509 (seeds 42-51 / 52-61), brier .0528 / .0534; extrapolation
    # .0902 / .1071 (design_blend_data_half_bag .0502 / .0517, .0532 / .0539, .0907 / .1071); opt-in for time
    return LawRegressor(form="blend", design="all_means", shrink=0.5, bags=BAGS, bag_warm=True)


LAW_PREDICTORS = ("law_sigmoid_compute", "law_sigmoid_nd", "law_auto", "law_blend", "law_richards_compute",
                  "law_sigmoid_compute_bag")
# the laws of the main job: law_blend has law_auto's family-CV MAE (same inner CV, .0507 both) and extrapolates
# better (.1124 vs .1388), so law_auto is opt-in there (it still is the probe's reference law)
MAIN_LAW_PREDICTORS = ("law_sigmoid_compute", "law_sigmoid_nd", "law_blend")
DESIGN_PREDICTORS = ("design_data", "design_arch", "design_all", "design_blend", "design_blend_data", "design_boost",
                     "design_boost_data", "design_arch_half", "design_blend_half", "design_blend_data_half",
                     "design_arch_half_gl", "design_blend_gen_half", "design_blend_data_half_bag",
                     "design_arch_bag", "design_blend_gen_half_bag", "design_ens", "design_ens25", "design_ens_data",
                     "design_ens4", "design_ens4g", "design_ens4g_gen", "design_ens4g_eff",
                     "design_ens4g_gen_eff", "design_ens4g_effen",
                     "design_ens4g_gen_effen", "design_ens4g_effen_g")
# the design-aware predictors of the main job (benchmarks/RESULTS.md, issue 12 session 3: the blends extrapolate
# far better at the same family-CV MAE; design_data, design_blend and the boosted ones are opt-in: no better on
# family CV and not worth the main job's time). Session 4: half of design_blend_data's shift is better on unseen
# families for both metrics (also on fresh seeds 52-61) and on the accuracy extrapolation, at the same cost.
# Session 6: its bagged version replaces it (brier family -.0016 / -.0015 on seeds 42-51 / 52-61, accuracy
# -.0002 / -.0001; extrapolation brier .1071 vs .1126, accuracy .0907 vs .1127; ~+70 CPU-s in the main job).
# Session 6 (lead): design_arch leaves the main job's CV to keep it within 5 minutes:
# design_blend_data_half_bag is as good on accuracy (.0502 vs .0503) and better on brier (.0532 vs
# .0557); design_arch stays the effects table's predictor (fitted there on all models) and is opt-in otherwise.
# Session 7: the ensemble design_ens25 (0.75 x design_blend_data_half_bag + 0.25 x monotone scale-only trees)
# replaces it: family accuracy .0497 / .0514 vs .0502 / .0517 (seeds 42-51 / 52-61), brier .0516 / .0524 vs
# .0532 / .0539, extrapolation .0906 / .1032 vs .0907 / .1071, ~+5 CPU-s per metric on 10 seeds (RESULTS.md)
# Session 8: design_ens4 (the law part + squared-loss trees on 70 % row samples + pseudo-Huber trees + the N/D law,
# weights per metric chosen on seeds 42-51) replaces it: family accuracy .0490 / .0506 / .0490 vs .0497 / .0514 /
# .0495 (seeds 42-51 / 52-61 / fresh 72-81), brier .0508 / .0514 / .0506 vs .0516 / .0524 / .0517, extrapolation
# .0850 / .0958 vs .0906 / .1032 (better than xgb_all on every task), ~+4 / +1 CPU-s per metric on 10 seeds
# Session 8 (lead, after the merge): design_ens4g instead — the goals are the mean AND every task within
# .002 of its best law; on the same seed sets design_ens4g meets the mean goal as often as design_ens4 (3 of 6 sets)
# and the per-task rule on 3 of 6 (design_ens4 on none: lambada), for .0002-.0003 of the accuracy mean; its Brier
# weights are design_ens4's. Seeds 62-71 (used by no choice of either) checked after this decision: accuracy .0521 vs
# .0518, lambada +.0028 vs +.0047 behind its best law (RESULTS.md, "After merging session 8"); on the never-used
# seeds 102-121 afterwards, per-task rule met on 1 of 2 sets vs 0 of 2, mean within .0001 (4 of 8 sets each <= .050)
# Session 11: design_ens4g_eff (design_ens4g on effective tokens, code tokens counting 0.1) replaces it by the rule
# fixed before its fresh runs (lower accuracy and Brier means than design_ens4g on both never-used seed sets 142-151 /
# 152-161: accuracy .0490 / .0486 vs .0506 / .0496, Brier .0499 / .0501 vs .0508 / .0510; beyond the training range
# still better than xgb_all on every task: accuracy .0990 (design_ens4g .0862: gsm8k .266 vs .134), Brier .0927 vs
# .0958); same cost (RESULTS.md, "Issue 12 — effective tokens (session 11)")
# Session 11 (second idea): design_ens4g_effen (the English share as a token weight too) replaces it by the same kind
# of rule on never-used seeds 162-171 / 172-181: accuracy .0460 / .0483 vs .0471 / .0492, Brier .0498 / .0506 vs
# .0499 / .0510; beyond the training range accuracy .0835 (design_ens4g_eff .0990, xgb_all .1665; gsm8k .130 vs
# .266), Brier .0910 (.0927, .1778)
# Session 12: design_ens4g_effen_g (the accuracy weights re-chosen on the effective-token parts, every task within
# .002 of its best law on 42-51 and 52-61) replaces it by the rule fixed before its one run on never-used seeds
# 202-211 / 212-221: every task within .002 there too, accuracy .0478 / .0476 vs .0483 / .0478 (<= .050); Brier
# unchanged (the same weights)
MAIN_DESIGN_PREDICTORS = ("design_ens4g_effen_g",)
# the CV seeds a predictor's settings were chosen on (the sessions' screens and adoption rules, RESULTS.md):
# the report says so when it quotes that predictor against a goal on any of them (a figure on the seeds that chose it
# is optimistic). design_ens25: its weight on 42-44, its law part's settings on 42-51, adopted looking at 52-61 too;
# design_ens4: its parts and weights on 42-51 (the tree losses screened on 42-61), checked on 52-61.
SELECTION_SEEDS: dict[str, tuple[int, ...]] = {
    "design_ens25": tuple(range(42, 62)),
    "design_ens4": tuple(range(42, 62)),
    # its weights chosen on 42-51; the lead's choice of it over design_ens4 read 52-61 and 72-101 too
    "design_ens4g": tuple(range(42, 62)) + tuple(range(72, 102)),
    "design_ens": tuple(range(42, 62)),
    "design_blend_data_half_bag": tuple(range(42, 62)),
    "design_blend_gen_half": tuple(range(42, 52)),
    # design_ens4g's weights and parts; its own adoption (session 10) read 42-61 and the fresh seeds 122-141
    "design_ens4g_gen": tuple(range(42, 62)) + tuple(range(72, 102)) + tuple(range(122, 142)),
    # design_ens4g's weights; code_weight chosen on 42-51 (checked on 52-61); its adoption read 142-161
    "design_ens4g_eff": tuple(range(42, 62)) + tuple(range(72, 102)) + tuple(range(142, 162)),
    "design_ens4g_gen_eff": tuple(range(42, 62)) + tuple(range(72, 102)) + tuple(range(122, 162)),
    # the language weight chosen on 42-61; the path to it read 142-161 (design_ens4g_eff), its adoption 162-181
    "design_ens4g_effen": tuple(range(42, 62)) + tuple(range(72, 102)) + tuple(range(142, 182)),
    # its accuracy weights chosen on 42-61 (session 12); its adoption read 202-221
    "design_ens4g_effen_g": tuple(range(42, 62)) + tuple(range(72, 102)) + tuple(range(142, 182))
    + tuple(range(202, 222)),
}
# issue 12, session 6: the report's design predictor that reads the paper's generation features, with
# `njsl predict report --generation_features auto|CSV` (run on the same models and folds with those features merged
# in; the other predictors run without them). Not in the default main job: with design_blend_data_half_bag there it
# took 4 min 46 s in a fresh clone on the idle machine (3 min 52 s without), too close to the 5-minute budget to
# be the default (RESULTS, "After merging session 6"); the bagged design_blend_gen_half_bag is better on brier
# (.0528 vs .0541) and costs about twice as much
# Session 10: design_ens4g_gen replaces design_blend_gen_half there (accuracy .0491 / .0504 / .0497 / .0491 on seeds
# 42-51 / 52-61 / fresh 122-131 / 132-141 vs design_blend_gen_half .0500 / .0509 on the first two, and never worse
# than design_ens4g on the mean; brier .0507 / .0512 / .0508 / .0510); it costs ~+100 CPU-s over design_ens4g's run,
# so it stays behind --generation_features (RESULTS.md, "Issue 12 — generation features in the ensemble")
# Session 11: design_ens4g_gen_eff (the same on effective tokens) replaces it by the rule fixed before its fresh runs
# (lower accuracy and Brier means than design_ens4g_gen on 142-151 / 152-161: accuracy .0489 / .0485 vs .0504 /
# .0495, Brier .0498 / .0500 vs .0507 / .0508; on the selection sets 42-51 / 52-61 .0485 / .0485 vs .0491 / .0504)
GENERATION_DESIGN_PREDICTORS = ("design_ens4g_gen_eff",)


# ----------------------------------------------------------------------------------------------- ensembles
@register("design_ens", "(1 - a) x design_blend_data_half_bag + a x monotone XGBoost on log params and log tokens "
                        "(fixed small trees), a in {0, .1, .2, .3, .4} by inner family CV per task")
def _design_ens():
    return EnsembleRegressor(law=_design_blend_data_half_bag(), tree=XGBSearchRegressor())


@register("design_ens25", "0.75 x design_blend_data_half_bag + 0.25 x monotone XGBoost on log params and log tokens "
                          "(fixed small trees; the weight chosen on seeds 42-44)")
def _design_ens25():
    return EnsembleRegressor(law=_design_blend_data_half_bag(), tree=XGBSearchRegressor(), weight=0.25)


@register("design_ens_data", "design_ens with trees on scale + data mix for the models that know their mix (fitted "
                             "on those only; scale-only trees otherwise)")
def _design_ens_data():
    return EnsembleRegressor(law=_design_blend_data_half_bag(), tree=XGBSearchRegressor(),
                             tree_features="scaling_data")


# issue 12, session 8: the parts' weights per metric, chosen on the main job's own out-of-fold predictions of seeds
# 42-51 (a simplex grid, step .05, the same weights for every task of a metric; benchmarks/bench_mix.py) and
# checked on 52-61; the law part (design_blend_data_half_bag) keeps the rest: .40 on accuracy, .45 on Brier
ENS4_WEIGHTS = {"accuracy": {"weight": 0.15, "weight2": 0.20, "scale_weight": 0.25},
                "brier_score": {"weight": 0.25, "weight2": 0.30, "scale_weight": 0.0}}
# the second tree part's loss: pseudo-Huber with delta .08 score points (alone the best scale-only trees on accuracy
# among the screened losses, .0528 vs .0543 squared error; delta .03 / .05 underfit gsm8k and mmlu)
ENS4_HUBER = 0.08


@register("design_ens4", "design_blend_data_half_bag + two monotone XGBoost parts on log params and log tokens "
                         "(squared loss on 70 % row samples; pseudo-Huber loss) + the N/D sigmoid law; weights per "
                         "metric (accuracy .40/.15/.20/.25, Brier .45/.25/.30/0), chosen on seeds 42-51")
def _design_ens4():
    return EnsembleRegressor(law=_design_blend_data_half_bag(), tree=XGBSearchRegressor(subsample=0.7),
                             tree2=XGBSearchRegressor(objective="reg:pseudohubererror", huber_slope=ENS4_HUBER),
                             scale_law=LawRegressor(form="nd"), weight=0.25, by_metric=ENS4_WEIGHTS)


# issue 12, session 8: the accuracy weights chosen on seeds 42-51 among those whose every task is within .002 of its
# best law there (bench_mix.py --max-gap 0.002; 685 of 53,130 vectors), the Brier weights as design_ens4 (already
# within .002 on every task): .0002 worse than design_ens4 on the accuracy mean, behind on fewer tasks
# (lambada); the main job's design predictor since the merge of session 8 (above), figures in RESULTS.md
ENS4G_WEIGHTS = {"accuracy": {"weight": 0.10, "weight2": 0.15, "scale_weight": 0.45},
                 "brier_score": ENS4_WEIGHTS["brier_score"]}


@register("design_ens4g", "design_ens4 with accuracy weights chosen under 'every task within .002 of its best law' "
                          "(law part .30, trees .10 / .15, N/D law .45; Brier as design_ens4)")
def _design_ens4g():
    return _design_ens4().set_params(by_metric=ENS4G_WEIGHTS)


# issue 12, session 10: design_ens4g with the generation-feature law part (design_blend_gen_half_bag) in place of
# design_blend_data_half_bag; the weights are design_ens4g's, fixed before any figure of this mix (no new choice).
# The generation features helped exactly the task the ensemble is behind on (lambada; RESULTS.md session 6).
@register("design_ens4g_gen", "design_ens4g with design_blend_gen_half_bag as its law part (the paper's generation "
                              "features as design inputs; weights as design_ens4g); needs --generation_features")
def _design_ens4g_gen():
    return _design_ens4g().set_params(law=_design_blend_gen_half_bag())


# issue 12, session 11: effective tokens (effective_tokens.py): a code token counts CODE_WEIGHT of a natural-language
# token for every part of the ensemble. The weight was chosen among .1 / .25 / .5 on the pure laws' family MAE on
# seeds 42-51 (compute law .0508 / .0511 / .0515, N/D law .0507 / .0510 / .0512; real tokens .0522 / .0513), checked
# on 52-61 (compute .0501 / .0505 / .0510 vs .0519); the ensemble's weights are design_ens4g's (no new choice).
CODE_WEIGHT = 0.1


@register("design_ens4g_eff", "design_ens4g on effective tokens: a code token counts 0.1 of a natural-language token "
                              "(tokens x (1 - 0.9 x code share); unknown mix: the real tokens)")
def _design_ens4g_eff():
    return _design_ens4g().set_params(code_weight=CODE_WEIGHT)


@register("design_ens4g_gen_eff", "design_ens4g_gen on effective tokens (code tokens count 0.1); needs "
                                  "--generation_features")
def _design_ens4g_gen_eff():
    return _design_ens4g_gen().set_params(code_weight=CODE_WEIGHT)


# issue 12, session 11 (second idea): the English share as a token weight too (the benchmarks are English): the
# non-English share of the natural-language tokens counts LANGUAGE_WEIGHT. Chosen among .1 / .25 / .5 on the pure
# laws' family MAE on seeds 42-51 with the code weight .1 (compute law .0493 / .0495 / .0499 vs .0508 code only, N/D
# law .0495 / .0498 / .0502 vs .0507), checked on 52-61 (.0488 / .0489 / .0493 vs .0501); ensemble weights unchanged.
LANGUAGE_WEIGHT = 0.1


@register("design_ens4g_effen", "design_ens4g on effective tokens: code tokens count 0.1, non-English "
                                "natural-language tokens 0.1 (unknown shares: the real tokens)")
def _design_ens4g_effen():
    return _design_ens4g().set_params(code_weight=CODE_WEIGHT, language_weight=LANGUAGE_WEIGHT)


# issue 12, session 12: design_ens4g_effen's accuracy weights were design_ens4g's, chosen in session 8 on the
# real-token parts. Re-screened on the effective-token parts (bench_mix.py, the saved out-of-fold parts of seeds 42-51
# and 52-61) under the strict rule no vector had met on real tokens: every accuracy task within .002 of its best pure
# law on 42-51 AND on 52-61 separately (35 of 1,771 vectors pass), the lowest pooled 20-seed mean (.04754 vs .04757
# with the old weights). Brier weights unchanged (RESULTS.md, "Issue 12 — the weights on effective tokens").
ENS4E_WEIGHTS = {"accuracy": {"weight": 0.15, "weight2": 0.15, "scale_weight": 0.20},
                 "brier_score": ENS4_WEIGHTS["brier_score"]}


@register("design_ens4g_effen_g", "design_ens4g_effen with accuracy weights re-chosen on the effective-token parts "
                                  "under 'every task within .002 of its best law' on seeds 42-51 and 52-61 (law part "
                                  ".50, trees .15 / .15, N/D law .20; Brier as design_ens4g)")
def _design_ens4g_effen_g():
    return _design_ens4g_effen().set_params(by_metric=ENS4E_WEIGHTS)


# measured on never-used seeds 182-201 against design_ens4g_gen_eff: accuracy lower, Brier not on 192-201 (.04995 vs
# .04992), so it is not the report's generation-feature predictor; it equals design_ens4g_effen to .0001 (RESULTS.md)
@register("design_ens4g_gen_effen", "design_ens4g_gen on effective tokens with the English share (code and "
                                    "non-English tokens count 0.1); needs --generation_features")
def _design_ens4g_gen_effen():
    return _design_ens4g_gen().set_params(code_weight=CODE_WEIGHT, language_weight=LANGUAGE_WEIGHT)
