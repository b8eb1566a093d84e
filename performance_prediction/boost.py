"""Design-aware correction as boosted trees on a scaling law's residuals in logit space (issue 12's alternative).

The law (``base``: ``compute``, ``nd``, ``mean`` = the average of the two sigmoids, or ``blend`` = w * compute +
(1 - w) * nd with w from ``blend_grid`` by the lowest inner family-CV MAE) carries all of the scale; a shrunk,
shallow XGBoost on the design columns (centred by :class:`~performance_prediction.laws.DesignEncoder`, so
0 = unknown or average) fits what is left in ``logit(y / upper)``::

    y_hat = upper * sigmoid(logit(law(x) / upper) + T(design) - T(0))

Subtracting ``T(0)`` makes a spec whose design is entirely unknown get exactly the law; because the correction
does not depend on params or tokens it keeps the law's monotonicity in compute, and because it is a bounded
shift in logit space (the trees' leaves) it cannot blow up beyond the training range the way a shift of a
steep sigmoid's midpoint can. The number of boosting rounds, including 0 (the law alone), is chosen by
family-grouped CV inside the training families only; a correction is kept only if it lowers that inner MAE
by more than ``margin``.

Intervals: normalised split-conformal as in :class:`~performance_prediction.laws.LawRegressor`, on the inner
out-of-fold residuals of the chosen (base, rounds) pair.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import GroupKFold, KFold

from .laws import BLEND_GRID, DesignEncoder, LawRegressor, ScaleModel, _distance

BASES = ("compute", "nd", "mean", "blend")
_EPS = 1e-3


class LawBoostRegressor(BaseEstimator, RegressorMixin):
    """A scaling law plus depth-``max_depth`` boosted trees on design features fitted to its logit residuals.

    ``rounds``: the candidate numbers of trees (0 = the law); learning rate ``learning_rate`` (the shrinkage),
    ``min_child_weight``/``reg_lambda`` regularise the leaves. ``design`` as in :class:`LawRegressor`
    (``data``, ``data_arch``, ``all``).
    """

    def __init__(self, base: str = "blend", blend_grid: tuple[float, ...] = BLEND_GRID, design: str = "data_arch",
                 task: str | None = None, metric: str = "accuracy", upper: float = 1.0, higher_is_better: bool = True,
                 link: str = "logit", rounds: tuple[int, ...] = (0, 10, 20, 40, 80), learning_rate: float = 0.05,
                 max_depth: int = 2, min_child_weight: float = 3.0, reg_lambda: float = 5.0, cv_folds: int = 5,
                 margin: float = 0.0,
                 alpha: float = 0.1, calibration: float = 0.5, intervals: bool = True, pseudo: tuple = (),
                 seed: int = 0, nthread: int = 1, max_bin: int = 32):
        self.base = base
        self.blend_grid = blend_grid
        self.design = design
        self.task = task
        self.metric = metric
        self.upper = upper
        self.higher_is_better = higher_is_better
        self.link = link
        self.rounds = rounds
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.cv_folds = cv_folds
        self.margin = margin
        self.alpha = alpha
        self.calibration = calibration
        self.intervals = intervals
        self.pseudo = pseudo
        self.seed = seed
        self.nthread = nthread
        self.max_bin = max_bin

    # -- pieces
    def _law(self, form: str) -> LawRegressor:
        return LawRegressor(form=form, design="none", task=self.task, metric=self.metric, upper=self.upper,
                            higher_is_better=self.higher_is_better, pseudo=self.pseudo, intervals=False,
                            select=False, seed=self.seed)

    def _weights(self) -> tuple[float, ...]:
        """Candidate shares of the compute law in the base (the rest is the N/D law)."""
        if self.base not in BASES:
            raise ValueError(f"unknown base {self.base!r}; choose from {', '.join(BASES)}")
        return {"compute": (1.0,), "nd": (0.0,), "mean": (0.5,), "blend": tuple(self.blend_grid)}[self.base]

    def _fwd(self, y):
        if self.link == "score":
            return np.asarray(y, float)
        p = np.clip(np.asarray(y, float) / self.upper, _EPS, 1 - _EPS)
        return np.log(p / (1 - p))

    def _inv(self, z):
        if self.link == "score":
            return np.asarray(z, float)
        return self.upper / (1.0 + np.exp(-z))

    @staticmethod
    def _law_parts(law: LawRegressor, X: pd.DataFrame):
        """Prediction, |dy/du| and standardised scale columns of the (pure) law ``law`` on ``X``."""
        R, raw = law._raw(X)
        return law._predict_with(law.fitted_, law.fitted_.curves[np.inf], R, raw)

    def _fit_laws(self, X: pd.DataFrame, y: np.ndarray, forms) -> dict:
        return {f: self._law(f).fit(X, y) for f in forms}

    @staticmethod
    def _combine(parts: dict, w: float):
        """(prediction, slope, Z) of the blend ``w`` * compute law + (1 - ``w``) * N/D law."""
        if w >= 1 or w <= 0:
            return parts["compute" if w >= 1 else "nd"]
        (pc, sc, Z), (pn, sn, _) = parts["compute"], parts["nd"]
        return w * pc + (1 - w) * pn, w * sc + (1 - w) * sn, Z

    def _params(self) -> dict:
        return {"objective": "reg:squarederror", "tree_method": "hist", "max_bin": self.max_bin,
                "nthread": self.nthread, "seed": self.seed, "verbosity": 0, "max_depth": self.max_depth,
                "eta": self.learning_rate, "min_child_weight": self.min_child_weight, "lambda": self.reg_lambda,
                "base_score": 0.0}

    def _boost(self, D: np.ndarray, resid: np.ndarray, n: int) -> xgb.Booster | None:
        if n <= 0 or D.shape[1] == 0:
            return None
        return xgb.train(self._params(), xgb.DMatrix(D, resid, nthread=self.nthread), n)

    def _correction(self, booster: xgb.Booster | None, D: np.ndarray, n: int) -> np.ndarray:
        """T(D) - T(0) with the first ``n`` trees (0 where no tree or no design column)."""
        if booster is None or n <= 0:
            return np.zeros(len(D))
        both = np.vstack([D, np.zeros((1, D.shape[1]))])
        t = booster.predict(xgb.DMatrix(both, nthread=self.nthread), iteration_range=(0, n))
        return t[:-1] - t[-1]

    def _raw(self, X: pd.DataFrame):
        return LawRegressor(design=self.design, pseudo=self.pseudo)._raw(X)[1]

    @staticmethod
    def _design(raw, groups) -> tuple[DesignEncoder, np.ndarray]:
        """The encoder fitted on the raw design columns ``raw`` (a ``DesignRaw``) and their centred matrix."""
        enc = DesignEncoder().fit(raw, groups)
        return enc, enc.transform(raw)

    def _splits(self, n: int, groups):
        if len(set(groups)) >= self.cv_folds:
            return GroupKFold(self.cv_folds, shuffle=True, random_state=self.seed).split(np.arange(n), groups=groups)
        return KFold(min(self.cv_folds, n), shuffle=True, random_state=self.seed).split(np.arange(n))

    # -- fit / predict
    def fit(self, X: pd.DataFrame, y, groups=None):
        y = np.asarray(y, float)
        groups = np.asarray(groups) if groups is not None else np.arange(len(y))
        weights = self._weights()
        raw = self._raw(X)   # the design columns, once (each inner fold takes its rows)
        forms = tuple(f for f, on in (("compute", max(weights) > 0), ("nd", min(weights) < 1)) if on)
        rounds = tuple(sorted(set(int(r) for r in self.rounds)))
        need_cv = len(weights) * len(rounds) > 1 or self.intervals
        law_oof = {w: np.full(len(y), np.nan) for w in weights}
        slope_oof = {w: np.full(len(y), np.nan) for w in weights}
        dist_oof = np.full(len(y), np.nan)
        folds = []
        if need_cv:
            # pass 1: the laws of each inner fold (kept for pass 2)
            for tr, va in self._splits(len(y), groups):
                laws = self._fit_laws(X.iloc[tr], y[tr], forms)
                ptr = {f: self._law_parts(m, X.iloc[tr]) for f, m in laws.items()}
                pva = {f: self._law_parts(m, X.iloc[va]) for f, m in laws.items()}
                for w in weights:
                    law_oof[w][va], slope_oof[w][va], _ = self._combine(pva, w)
                dist_oof[va] = _distance(ptr[forms[0]][2], pva[forms[0]][2])
                folds.append((tr, va, ptr, pva))
        law_err = {w: float(np.mean(np.abs(law_oof[w] - y))) if need_cv else 0.0 for w in weights}
        # the law's blend first (ties: the first weight of the grid), then the trees on top of that law
        self.weight_ = min(weights, key=lambda w: (round(law_err[w], 6), weights.index(w)))
        oof = {0: law_oof[self.weight_]}
        if need_cv and len(rounds) > 1:
            oof.update({r: np.full(len(y), np.nan) for r in rounds if r > 0})
            for tr, va, ptr, _pva in folds:
                enc, Dtr = self._design(raw.take(tr), groups[tr])
                Dva = enc.transform(raw.take(va))
                base_tr, base_va = self._combine(ptr, self.weight_)[0], law_oof[self.weight_][va]
                booster = self._boost(Dtr, self._fwd(y[tr]) - self._fwd(base_tr), max(rounds))
                for r in rounds:
                    if r > 0:
                        oof[r][va] = self._inv(self._fwd(base_va) + self._correction(booster, Dva, r))
        err = {r: float(np.mean(np.abs(v - y))) for r, v in oof.items()} if need_cv else {0: 0.0}
        best = min(err, key=lambda r: (round(err[r], 6), r))
        self.n_rounds_ = best if err[best] < err[0] * (1 - self.margin) else 0
        self.cv_mae_ = {"law": law_err, "rounds": err}
        self.best_params_ = {"compute_weight": self.weight_, "n_rounds": self.n_rounds_}
        used = tuple(f for f, on in (("compute", self.weight_ > 0), ("nd", self.weight_ < 1)) if on)
        self.laws_ = self._fit_laws(X, y, used)
        self.encoder_, D = self._design(raw, groups)
        base_pred = self._combine({f: self._law_parts(m, X) for f, m in self.laws_.items()}, self.weight_)[0]
        self.booster_ = self._boost(D, self._fwd(y) - self._fwd(base_pred), self.n_rounds_)
        if self.intervals:
            self.scale_model_ = ScaleModel.fit(np.abs(oof[self.n_rounds_] - y), slope_oof[self.weight_], dist_oof,
                                               self.alpha * self.calibration)
        return self

    def _parts(self, X: pd.DataFrame):
        base, slope, Z = self._combine({f: self._law_parts(m, X) for f, m in self.laws_.items()}, self.weight_)
        D = self.encoder_.transform(self._raw(X))
        corr = self._correction(self.booster_, D, self.n_rounds_)
        pred = self._inv(self._fwd(base) + corr) if self.n_rounds_ else base
        return np.clip(pred, 0.0, self.upper), slope, Z

    def design_applied(self, X: pd.DataFrame) -> np.ndarray:
        """Per row: whether a design correction moved the prediction off the law."""
        D = self.encoder_.transform(self._raw(X))
        return np.abs(self._correction(self.booster_, D, self.n_rounds_)) > 1e-12

    def law_predict(self, X: pd.DataFrame) -> np.ndarray:
        """The base law alone (no design correction)."""
        return np.clip(self._combine({f: self._law_parts(m, X) for f, m in self.laws_.items()}, self.weight_)[0],
                       0.0, self.upper)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self._parts(X)[0]

    def predict_interval(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) of the (1 - alpha) interval, clipped to the metric's range."""
        pred, slope, Z = self._parts(X)
        if not self.intervals:
            return np.full(len(pred), np.nan), np.full(len(pred), np.nan)
        Ztr = next(iter(self.laws_.values())).fitted_.Z
        h = self.scale_model_.half_width(slope, _distance(Ztr, Z))
        return np.clip(pred - h, 0.0, self.upper), np.clip(pred + h, 0.0, self.upper)
