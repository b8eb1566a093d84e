"""An averaged ensemble of a design-aware law and a tree model on scale (issue 12, session 7).

    prediction = (1 - a) * LAW_PART(x) + a * TREE_PART(x)

``LAW_PART`` is a :class:`~performance_prediction.laws.LawRegressor` (in the registered ensembles the main job's
``design_blend_data_half_bag`` until session 7); ``TREE_PART`` is XGBoost with fixed small settings (or its grid
search) on what the tree may read without turning missingness into information:

* ``tree_features="scaling"``: log params and log tokens only, monotone in both (rising on accuracy, falling on
  Brier). An unknown data mix cannot move the trees at all.
* ``tree_features="scaling_data"``: trees on scale + data composition fitted only on the training models that
  know their data mix, used only for models that know theirs; a model without one gets the scale-only trees.
  "Mix unknown" is never a value the trees split on.

The weight ``a`` is fixed (``weight``) or chosen per task from ``weight_grid`` by the inner family-grouped CV of
the training families only: the law part's own inner out-of-fold predictions (``LawRegressor.inner_oof_``, the
unbagged chosen model with its shrunk shift) are mixed with the trees' out-of-fold predictions on the same
inner folds, and the ``a`` with the lowest inner MAE is kept (ties: the smaller ``a``, so ``a = 0`` keeps the
law where the trees do not help).

Session 8: up to two more parts, each with its own weight, the law part keeping the rest:

    prediction = (1 - a - a2 - c) * LAW_PART + a * TREE_PART + a2 * TREE_PART_2 + c * SCALE_LAW

``TREE_PART_2`` is a second prototype of trees on the same features (e.g. another loss: the pseudo-Huber loss of
``design_ens4``), ``SCALE_LAW`` a pure law on params and tokens (no design feature, so missingness cannot move
it). ``by_metric`` overrides ``weight``, ``weight2`` and ``scale_weight`` per metric (one registered predictor
serves accuracy and Brier tasks with the weights each metric's screen chose); extra parts need fixed weights.

``code_weight`` (session 11): every part reads effective tokens, a code token counting ``code_weight`` of a
natural-language one (``effective_tokens.py``); ``language_weight`` likewise for the non-English share of the
natural-language tokens.

Interpretation delegates to the law part: ``design_effects`` is the law part's; ``law_predict`` is what the
ensemble says from params and tokens alone (the law part's pure law averaged with the scale-only trees and the
scale law), so ``design_applied`` (the what-if ``basis``) and the missingness probe compare a prediction with the
ensemble's own no-design prediction. Intervals: the law part's conformal interval joined with its copy re-centred on the
ensemble prediction (widened by the trees' pull on the side they pull to), clipped to the metric's range.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone

from .effective_tokens import effective_tokens
from .features import DATA_FEATURES
from .laws import LawRegressor

TREE_FEATURES = ("scaling", "scaling_data")
WEIGHT_GRID = (0.0, 0.1, 0.2, 0.3, 0.4)
# small fixed trees (issue 12, session 7: depth 2, eta .1, 150 rounds; min_child_weight 1 beat 3 on the 3-seed screen,
# family and extrapolation split, benchmarks/RESULTS.md)
TREE_PARAMS = {"max_depth": 2, "learning_rate": 0.1, "n_estimators": 150}
# settings the ensemble hands on to both parts (the registry's shared parameter set)
_SHARED_LAW = ("task", "metric", "upper", "higher_is_better", "alpha", "intervals", "pseudo", "seed")
# the part weights ``by_metric`` may set
PART_WEIGHTS = ("weight", "weight2", "scale_weight")


class EnsembleRegressor(BaseEstimator, RegressorMixin):
    """``(1 - a) * law part + a * tree part``; see the module docstring.

    ``law``: the law part, a LawRegressor; ``tree``: a prototype of the tree part, an
    :class:`~performance_prediction.predictors.XGBSearchRegressor` (cloned per fit with the ensemble's feature
    set, monotone constraints and settings below; the registry's factories pass both); ``weight``: a fixed
    ``a`` in [0, 1] (None: chosen from ``weight_grid`` per fit); ``tree_params``: fixed XGBoost settings
    (``max_depth``, ``learning_rate``, ``n_estimators``; None: :data:`TREE_PARAMS`), ignored with
    ``tree_search=True`` (the grid ``grid`` searched by ``inner_folds``-fold family CV, inside every inner fold
    too: costly); ``min_child_weight``, ``reg_lambda`` regularise the trees; ``tree_target`` ``identity`` or
    ``logit``. The task's settings (``task``, ``metric``, ``upper``, ``higher_is_better``, ``alpha``,
    ``intervals``, ``pseudo``, ``seed``) are the ensemble's and are set on the law part at ``fit``, overriding
    the law's own (one place to set them, as the registry does). ``tree2``/``weight2``: a second tree prototype
    and its weight; ``scale_law``/``scale_weight``: a pure law (``design="none"``) and its weight (its intervals
    are not used, so it fits without them); ``by_metric``: ``{metric: {"weight": a, "weight2": a2,
    "scale_weight": c}}`` overriding those for the metric being fitted.
    """

    def __init__(self, law: LawRegressor | None = None, tree: BaseEstimator | None = None,
                 tree_features: str = "scaling", weight: float | None = None,
                 weight_grid: tuple[float, ...] = WEIGHT_GRID, tree_params: dict | None = None,
                 tree_search: bool = False, tree_target: str = "identity", min_child_weight: float = 1.0,
                 reg_lambda: float = 1.0, task: str | None = None, metric: str = "accuracy", upper: float = 1.0,
                 higher_is_better: bool = True, alpha: float = 0.1, intervals: bool = True, pseudo: tuple = (),
                 seed: int = 0, nthread: int = 1, max_bin: int = 32, grid="fast", inner_folds: int = 3,
                 tree2: BaseEstimator | None = None, weight2: float = 0.0, scale_law: LawRegressor | None = None,
                 scale_weight: float = 0.0, by_metric: dict | None = None, code_weight: float | None = None,
                 language_weight: float | None = None):
        self.law = law
        self.tree = tree
        self.tree_features = tree_features
        self.weight = weight
        self.weight_grid = weight_grid
        self.tree_params = tree_params
        self.tree_search = tree_search
        self.tree_target = tree_target
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.task = task
        self.metric = metric
        self.upper = upper
        self.higher_is_better = higher_is_better
        self.alpha = alpha
        self.intervals = intervals
        self.pseudo = pseudo
        self.seed = seed
        self.nthread = nthread
        self.max_bin = max_bin
        self.grid = grid
        self.inner_folds = inner_folds
        self.tree2 = tree2
        self.weight2 = weight2
        self.scale_law = scale_law
        self.scale_weight = scale_weight
        self.by_metric = by_metric
        self.code_weight = code_weight
        self.language_weight = language_weight

    # -- checks and parts
    def _part_weights(self) -> dict[str, Any]:
        """``weight``, ``weight2``, ``scale_weight`` for this fit's metric (``by_metric`` overriding)."""
        chosen = {k: getattr(self, k) for k in PART_WEIGHTS}
        over = (self.by_metric or {}).get(self.metric, {})
        if not isinstance(over, dict):
            raise ValueError(f"by_metric must map a metric to a dict of part weights, got {over!r} for {self.metric}")
        unknown = set(over) - set(PART_WEIGHTS)
        if unknown:
            raise ValueError(f"by_metric sets only {', '.join(PART_WEIGHTS)}; got {sorted(unknown)}")
        return {**chosen, **over}

    def _check_extra_parts(self, w: dict[str, Any]) -> None:
        extra = {k: w[k] for k in ("weight2", "scale_weight")}
        if any(isinstance(a, bool) or not isinstance(a, int | float) or not 0.0 <= a <= 1.0 for a in extra.values()):
            raise ValueError(f"weight2 and scale_weight must be numbers in [0, 1], got {extra}")
        if w["weight2"] > 0 and (self.tree2 is None or "feature_kind" not in self.tree2.get_params()):
            raise ValueError(f"weight2 > 0 needs tree2, an XGBSearchRegressor; got {type(self.tree2).__name__}")
        if w["scale_weight"] > 0 and (not isinstance(self.scale_law, LawRegressor)
                                      or self.scale_law.design != "none"):
            raise ValueError("scale_weight > 0 needs scale_law, a LawRegressor with design='none'")
        if w["weight2"] + w["scale_weight"] > 0:
            if w["weight"] is None:
                raise ValueError("weight must be fixed (not chosen by inner CV) when weight2 or scale_weight > 0")
            if w["weight"] + w["weight2"] + w["scale_weight"] > 1.0 + 1e-12:
                raise ValueError(f"weight + weight2 + scale_weight must be at most 1 (the law part keeps the rest), "
                                 f"got {w}")

    def _check(self) -> None:
        w = self._part_weights()
        if self.tree_features not in TREE_FEATURES:
            raise ValueError(f"unknown tree_features {self.tree_features!r}; choose {', '.join(TREE_FEATURES)}")
        if self.tree_target not in ("identity", "logit"):
            raise ValueError(f"tree_target must be 'identity' or 'logit', got {self.tree_target!r}")
        grid = (w["weight"],) if w["weight"] is not None else tuple(self.weight_grid)
        if not grid or any(isinstance(a, bool) or not isinstance(a, int | float) or not 0.0 <= a <= 1.0
                           for a in grid):
            raise ValueError(f"weight and weight_grid must be numbers in [0, 1] (a non-empty grid), got "
                             f"weight={self.weight!r}, weight_grid={self.weight_grid!r}")
        self._check_extra_parts(w)
        params = TREE_PARAMS if self.tree_params is None else self.tree_params
        if set(params) != set(TREE_PARAMS):
            raise ValueError(f"tree_params must give exactly {', '.join(TREE_PARAMS)}; got {sorted(params)}")
        if not isinstance(self.law, LawRegressor):
            raise ValueError(f"law must be a LawRegressor, got {type(self.law).__name__}")
        if self.tree is None or "feature_kind" not in self.tree.get_params():
            raise ValueError(f"tree must be an XGBSearchRegressor, got {type(self.tree).__name__}")

    def _tree(self, kind: str, proto: BaseEstimator | None = None) -> BaseEstimator:
        # the prototype keeps its own loss and row sampling; the ensemble sets everything else
        return clone(self.tree if proto is None else proto).set_params(
            feature_kind=kind, monotone=True, higher_is_better=self.higher_is_better, upper=self.upper,
            target=self.tree_target, search=self.tree_search, grid=self.grid, inner_folds=self.inner_folds,
            params=None if self.tree_search else dict(TREE_PARAMS if self.tree_params is None else self.tree_params),
            min_child_weight=self.min_child_weight, reg_lambda=self.reg_lambda, seed=self.seed,
            nthread=self.nthread, max_bin=self.max_bin)

    @staticmethod
    def _mix_known(X: pd.DataFrame) -> np.ndarray:
        cols = [c for c in DATA_FEATURES if c in X]
        return X[cols].notna().any(axis=1).to_numpy() if cols else np.zeros(len(X), bool)

    def _fit_trees(self, X: pd.DataFrame, y: np.ndarray, groups, proto: BaseEstimator | None = None) -> dict:
        """``{"scaling": trees}`` and, for ``scaling_data``, ``"data"``: trees fitted on the rows that know their
        mix (absent when fewer than 10 rows do); ``proto``: the tree prototype (default ``tree``)."""
        g = None if groups is None else np.asarray(groups)
        trees = {"scaling": self._tree("scaling", proto).fit(X, y, groups=g)}
        if self.tree_features == "scaling_data":
            known = self._mix_known(X)
            if known.sum() >= 10:
                trees["data"] = self._tree("scaling_data", proto).fit(X[known], y[known],
                                                                      groups=None if g is None else g[known])
        return trees

    @staticmethod
    def _tree_predict(trees: dict, X: pd.DataFrame, known: np.ndarray) -> np.ndarray:
        out = np.asarray(trees["scaling"].predict(X), float)
        if "data" in trees and known.any():
            out[known] = trees["data"].predict(X[known])
        return out

    def _tokens(self, X: pd.DataFrame) -> pd.DataFrame:
        """What the parts read: ``X`` with effective tokens when ``code_weight`` is set (``effective_tokens.py``;
        ``language_weight``: the non-English share of the natural-language tokens counts that much)."""
        if self.code_weight is None:
            if self.language_weight is not None:
                raise ValueError("language_weight needs code_weight (code_weight 1: code tokens count fully)")
            return X
        return effective_tokens(X, self.code_weight, self.language_weight)

    # -- fitting
    def fit(self, X: pd.DataFrame, y, groups=None):
        self._check()
        X = self._tokens(X)
        y = np.asarray(y, float)
        law = clone(self.law)
        law.set_params(**{k: getattr(self, k) for k in _SHARED_LAW})
        self.law_ = law.fit(X, y, groups)
        self.trees_ = self._fit_trees(X, y, groups)
        w = self._part_weights()
        if w["weight"] is not None:
            self.weight_ = float(w["weight"])
            self.cv_mae_: dict[float, float] = {}
        else:
            self.weight_, self.cv_mae_ = self._choose_weight(X, y, groups)
        self.weight2_, self.scale_weight_ = float(w["weight2"]), float(w["scale_weight"])
        self.trees2_ = self._fit_trees(X, y, groups, self.tree2) if self.weight2_ > 0 else None
        self.scale_law_ = None
        if self.scale_weight_ > 0:
            scale = clone(self.scale_law).set_params(**{k: getattr(self, k) for k in _SHARED_LAW})
            self.scale_law_ = scale.set_params(intervals=False).fit(X, y, groups)
        self.best_params_ = {**getattr(self.law_, "best_params_", {}), "tree_weight": self.weight_}
        if self.weight2_ or self.scale_weight_:
            self.best_params_.update(tree2_weight=self.weight2_, scale_law_weight=self.scale_weight_)
        return self

    def _choose_weight(self, X: pd.DataFrame, y: np.ndarray, groups) -> tuple[float, dict[float, float]]:
        """The ``a`` of ``weight_grid`` with the lowest inner family-CV MAE (the law part's own inner folds)."""
        law_oof = getattr(self.law_, "inner_oof_", None)
        grid = tuple(float(a) for a in self.weight_grid)
        if law_oof is None or not np.all(np.isfinite(law_oof)) or len(grid) == 1:
            return min(grid), {}
        g = np.asarray(groups) if groups is not None else np.arange(len(y))
        tree_oof = np.full(len(y), np.nan)
        known = self._mix_known(X)
        for tr, va in self.law_.inner_splits(len(y), g, self.law_.seed):
            trees = self._fit_trees(X.iloc[tr], y[tr], g[tr] if groups is not None else None)
            tree_oof[va] = self._tree_predict(trees, X.iloc[va], known[va])
        err = {a: float(np.mean(np.abs((1 - a) * law_oof + a * tree_oof - y))) for a in grid}
        best = min(grid, key=lambda a: (round(err[a], 6), a))
        return best, err

    # -- predicting
    def _others(self, X: pd.DataFrame, known: np.ndarray) -> np.ndarray:
        """``a * trees + a2 * trees2 + c * scale law`` (``known``: the rows whose data mix the trees may read)."""
        out = self.weight_ * self._tree_predict(self.trees_, X, known)
        if self.trees2_ is not None:
            out = out + self.weight2_ * self._tree_predict(self.trees2_, X, known)
        if self.scale_law_ is not None:
            out = out + self.scale_weight_ * np.asarray(self.scale_law_.predict(X), float)
        return out

    def _parts(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.law_.predict(X), float), self._others(X, self._mix_known(X))

    def _mix(self, law: np.ndarray, others: np.ndarray) -> np.ndarray:
        share = 1.0 - self.weight_ - self.weight2_ - self.scale_weight_
        return np.clip(share * law + others, 0.0, self.upper)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self._mix(*self._parts(self._tokens(X)))

    def law_predict(self, X: pd.DataFrame) -> np.ndarray:
        """The prediction from params and tokens alone: the law part's pure law, the scale-only trees and the
        scale law (at the real tokens also with ``code_weight``: what a spec without a data mix gets)."""
        return self._mix(self.law_.law_predict(X), self._others(X, np.zeros(len(X), bool)))

    def design_applied(self, X: pd.DataFrame) -> np.ndarray:
        """Per row: whether a design decision moved the prediction off the scale-only one."""
        return np.abs(self.predict(X) - self.law_predict(X)) > 1e-12

    def predict_interval(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The union of the law part's interval and the same interval re-centred on the ensemble's prediction,
        clipped to the metric's range: the law part's interval widened by the trees' pull on the side they pull
        to. Re-centring alone covered 84.9 % in one compute quintile on accuracy (session 7); the union covers
        at least what the law part's interval covers."""
        X = self._tokens(X)
        lo, hi = self.law_.predict_interval(X)
        law, others = self._parts(X)
        pred = self._mix(law, others)
        return (np.clip(np.minimum(lo, pred - (law - lo)), 0.0, self.upper),
                np.clip(np.maximum(hi, pred + (hi - law)), 0.0, self.upper))

    def design_effects(self) -> pd.DataFrame:
        """The law part's design effects (the trees carry scale only, or scale by data mix)."""
        return self.law_.design_effects()
