"""Parametric downstream scaling laws and the design-aware correction on top of them.

**Law** (per task, fit on the training fold only)::

    accuracy (rises):   y = A + (upper - A) * s * sigmoid(u)          A in [0, chance + 0.1], s in [0, 1]
    brier (falls):      y = U - U * s * sigmoid(u)                    U in [chance - 0.1, upper], s in [0, 1]
    u = a * zC + b                      form "compute": zC = standardised log(6 N D)
    u = aN * zN + aD * zD + b           form "nd": separate standardised log params and log tokens
    u = a * zN + b                      form "params": tokens unknown (a wider interval, flagged by callers)

Shape "richards" (opt-in) uses sigmoid(u) ** nu, nu in RICHARDS_NU, in place of sigmoid(u): an asymmetric S.
With slopes a >= 0, so predictions never fall with scale (accuracy) or rise with it (brier). Fitting is
``scipy.optimize.least_squares`` with the soft-L1 loss (robust to the few models far off the curve) from a
fixed list of starting points, so results are deterministic. ``s`` keeps the ceiling inside the metric's range
(A + B <= 1 for accuracy).

**Design-aware model**: design decisions shift the law's midpoint, ``u += x_design @ w``; because ``u`` is
linear in log compute, a shift ``delta`` is worth a compute multiplier ``exp(delta / (du / dlog C))`` (the
"effective compute" of a decision). Design columns are centred on the training models that know them and an
unknown value is 0, so a missing data mix applies no correction at all (the prediction falls back to the law)
instead of being read as information. ``w`` has a ridge penalty whose strength (including "no correction") is
chosen by family-grouped CV inside the training families only.

**Intervals**: normalised split-conformal on inner, family-grouped out-of-fold residuals. The scale
``sigma(x) = c0 + c1 * |dy/du| + c2 * distance`` (non-negative coefficients; distance = nearest training model
in standardised (log N, log D) plus how far log compute lies outside the training range) lets the interval
widen where the curve is steep and away from the training data; bounds are clipped to the metric's range.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.optimize import least_squares, nnls
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.model_selection import GroupKFold, KFold

from .conformal import conformal_quantile
from .features import CATEGORICAL, DATA_FEATURES

# Chance level of each task's metric: expected accuracy of uniform guessing over the answer options, and for
# Brier tasks the multi-class Brier score of the uniform forecast, 1 - 1/k (lm-eval sums over the k classes).
# Number of options from the benchmarks' dataset cards; the laws use it only to bound the floor/ceiling.
CHANCE_LEVELS: dict[str, tuple[float, str]] = {
    "arc_challenge": (0.25, "4 answer options (a few items have 3 or 5)"),
    "hellaswag": (0.25, "4 candidate endings"),
    "mmlu_0-shot": (0.25, "4 options"),
    "mmlu_5-shot": (0.25, "4 options"),
    "truthfulqa": (0.25, "approximate: mean of MC1 (1 true among ~4-5 options) and MC2 (true-answer mass)"),
    "winogrande": (0.5, "2 options"),
    "lambada": (0.0, "open-vocabulary last-word prediction"),
    "gsm8k": (0.0, "free-form numeric answer"),
    "humaneval": (0.0, "pass@1 of generated code"),
    "arithmetic": (0.0, "free-form numeric answer"),
    "mathqa": (0.8, "5 options: Brier of the uniform forecast 1 - 1/5"),
    "xnli": (2 / 3, "3 classes: 1 - 1/3"),
    "anli": (2 / 3, "3 classes: 1 - 1/3"),
    "logiqa2": (0.75, "4 options: 1 - 1/4"),
}
LAW_FORMS = ("compute", "nd", "params")
# Least growth of the interval scale per standardised unit of distance from the training models, in units of
# the mean |out-of-fold residual|.
DISTANCE_GROWTH = 1.0
# No model's design decisions together are credited with more than this factor of compute (either way).
MAX_MULTIPLIER = 10.0
# Range of the Richards exponent (law shape "richards"): beyond it the curve is a step or hardly bends.
RICHARDS_NU = (0.2, 5.0)
_TOKENS = "pretraining_summary_total_tokens_billions"
# what partial pooling pulls towards the other tasks' laws: the slope(s); slopes and intercept ("shape"); those
# plus the ceiling share s and the floor's distance to chance ("all")
POOL_PARAMS = ("slope", "shape", "all")


def chance_level(task: str | None, metric: str) -> float:
    """Chance level of ``task`` (MMLU subjects: 4 options); unknown accuracy tasks 0, unknown Brier tasks 0.5."""
    if task in CHANCE_LEVELS:
        return CHANCE_LEVELS[task][0]
    if task and task.startswith("mmlu"):
        return 0.25
    return 0.0 if metric != "brier_score" else 0.5


# ----------------------------------------------------------------------------------------------- scale
@dataclass
class ScaleFrame:
    """Standardised log params (zN), log tokens (zD), log compute (zC) and the statistics that made them."""

    mean: np.ndarray   # [logN, logD, logC]
    sd: np.ndarray

    @staticmethod
    def raw(X: pd.DataFrame) -> np.ndarray:
        n = pd.to_numeric(X["total_params"], errors="coerce").to_numpy(float)
        d = (pd.to_numeric(X[_TOKENS], errors="coerce").to_numpy(float) * 1e9 if _TOKENS in X
             else np.full(len(X), np.nan))
        with np.errstate(divide="ignore", invalid="ignore"):
            ln, ld = np.where(n > 0, np.log(n), np.nan), np.where(d > 0, np.log(d), np.nan)
        return np.column_stack([ln, ld, np.log(6.0) + ln + ld])

    @classmethod
    def fit(cls, R: np.ndarray) -> ScaleFrame:
        """Statistics of the raw log columns ``R`` (from ``raw``) of the training rows."""
        sd = np.nanstd(R, axis=0)
        return cls(mean=np.nanmean(R, axis=0), sd=np.where(sd > 0, sd, 1.0))

    def transform(self, R: np.ndarray) -> np.ndarray:
        return (R - self.mean) / self.sd

    def design(self, Z: np.ndarray, form: str) -> np.ndarray:
        """The columns of ``Z`` the law of ``form`` uses."""
        return Z[:, {"compute": [2], "nd": [0, 1], "params": [0]}[form]]

    def dlogc(self, form: str, slopes: np.ndarray) -> float:
        """du / d log(compute), compute scaled with N and D growing alike (N x sqrt k, D x sqrt k)."""
        if form == "compute":
            return float(slopes[0] / self.sd[2])
        if form == "nd":
            return float(0.5 * (slopes[0] / self.sd[0] + slopes[1] / self.sd[1]))
        return float(slopes[0] / self.sd[0])   # params form: the multiplier is on params


# ----------------------------------------------------------------------------------------------- curve
def _sigmoid(u):
    return 0.5 * (1.0 + np.tanh(0.5 * u))   # overflow-free


@dataclass
class Curve:
    """A fitted law: base (A or U), s, slopes, intercept b; plus design weights w (may be empty)."""

    increasing: bool
    upper: float
    base: float
    s: float
    slopes: np.ndarray
    b: float
    w: np.ndarray
    cap: float = np.inf   # largest design shift of u (a compute multiplier of MAX_MULTIPLIER)
    # range of the design correction in score points on the training models: beyond the training range the
    # correction may not exceed it (a shift of a steep part of the curve would otherwise grow unchecked)
    dmin: float = -np.inf
    dmax: float = np.inf
    # Richards (generalised-logistic) exponent: the curve uses sigmoid(u) ** nu; 1 is the plain sigmoid. nu < 1
    # makes the approach to the floor slow and the bend at the top sharp (and vice versa): an asymmetric S.
    nu: float = 1.0

    def gate(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(sigmoid(u) ** nu, its derivative in u)."""
        sig = _sigmoid(u)
        g = sig if self.nu == 1.0 else sig ** self.nu
        return g, self.nu * g * (1 - sig)

    def shift(self, D: np.ndarray) -> np.ndarray:
        """Design shift of u: D @ w, squashed smoothly into (-cap, cap)."""
        raw = D @ self.w
        return self.cap * np.tanh(raw / self.cap) if np.isfinite(self.cap) else raw

    def u(self, S: np.ndarray, D: np.ndarray | None = None) -> np.ndarray:
        u = S @ self.slopes + self.b
        if D is not None and len(self.w):
            u = u + self.shift(D)
        return u

    def value(self, u: np.ndarray) -> np.ndarray:
        g = self.gate(u)[0]
        if self.increasing:
            return self.base + (self.upper - self.base) * self.s * g
        return self.base - self.base * self.s * g

    def slope(self, u: np.ndarray) -> np.ndarray:
        """|dy/du|: how steep the curve is at ``u`` (residuals grow where it is steep)."""
        span = (self.upper - self.base) if self.increasing else self.base
        return np.abs(span * self.s * self.gate(u)[1])


def _soft_l1_cost(r: np.ndarray, f: float, weight: np.ndarray | None = None) -> float:
    terms = 2.0 * f * f * (np.sqrt(1.0 + (r / f) ** 2) - 1.0)
    return float(np.sum(terms if weight is None else weight * terms))


def family_weights(groups, power: float) -> np.ndarray:
    """Row weights ``n_family ** -power`` (``n_family``: rows of the row's family), scaled to mean 1 so that
    ``f_scale`` and the ridge keep their meaning; ``power`` 0 gives equal weights, 1 gives every family the same
    total weight whatever the number of its sizes."""
    if not np.isfinite(power) or power < 0:
        raise ValueError(f"family_weight must be a number >= 0, got {power!r}")
    _, inverse, counts = np.unique(np.asarray(groups), return_inverse=True, return_counts=True)
    w = counts[inverse].astype(float) ** -float(power)
    return w / w.mean()


def _law_bounds(k: int, *, increasing: bool, upper: float, chance: float, max_slope: float,
                nu_range: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the law's parameters [base, s, slopes (k)..., b(, log nu)]: the floor within 0.1 of chance (and
    inside the metric's range), share and slopes non-negative, slopes at most ``max_slope``; ``nu_range`` (Richards
    only, else None) bounds nu."""
    if increasing:
        base_lo, base_hi = 0.0, min(chance + 0.1, upper - 1e-3)
    else:
        base_lo, base_hi = max(chance - 0.1, 1e-3), upper
    if nu_range is not None and not (0 < nu_range[0] <= 1 <= nu_range[1] and nu_range[0] < nu_range[1]):
        raise ValueError(f"nu_range must satisfy 0 < low <= 1 <= high, low < high; got {nu_range!r}")
    nu_lo, nu_hi = ([np.log(nu_range[0])], [np.log(nu_range[1])]) if nu_range is not None else ([], [])
    return (np.array([base_lo, 0.0] + [0.0] * k + [-np.inf] + nu_lo),
            np.array([base_hi, 1.0] + [max_slope] * k + [np.inf] + nu_hi))


def _prior_weight(prior, strength: float, n_params: int, n_rows: int) -> tuple[np.ndarray, float]:
    """Which parameters a prior pulls (its finite entries; none at strength 0) and the pull's residual weight."""
    pmask = np.zeros(n_params, bool) if prior is None else np.isfinite(np.asarray(prior, float))
    if prior is not None and len(prior) != n_params:
        raise ValueError(f"prior has {len(prior)} parameters, the law {n_params}")
    pw = np.sqrt(max(float(strength), 0.0) * n_rows) if pmask.any() else 0.0
    return pmask & (pw > 0), pw


def fit_law(S: np.ndarray, y: np.ndarray, *, increasing: bool, upper: float, chance: float,
            f_scale: float = 0.02, max_slope: float = np.inf, n_opt: int = 2, shape: str = "logistic",
            nu_range: tuple[float, float] = RICHARDS_NU, weight: np.ndarray | None = None,
            start: Curve | None = None, prior: np.ndarray | None = None, prior_strength: float = 0.0) -> Curve:
    """Robust (soft-L1) least-squares fit of the law's parameters on scale columns ``S``.

    Deterministic: a fixed grid of starting points is screened by cost and the two best are optimised.
    ``shape="richards"`` also fits the exponent ``nu`` of ``sigmoid(u) ** nu`` (as log nu, ``nu`` in
    ``nu_range``, default ``RICHARDS_NU``; every start at nu = 1), one parameter more for an asymmetric curve.
    ``weight`` (optional, per row): residuals scaled by its square root.
    ``start`` (optional): a fitted curve of the same shape and form to start from, the only start (a refit of
    nearby data, e.g. a bootstrap bag: ~n_opt times cheaper).
    ``prior`` (optional, the parameter vector [base, s, slopes..., b(, log nu)], NaN = free): each given
    parameter is pulled towards it by extra residuals ``sqrt(prior_strength * n) * (p - prior)`` (under the same
    soft-L1 loss as the data: partial pooling towards other tasks' laws).
    """
    if shape not in ("logistic", "richards"):
        raise ValueError(f"unknown law shape {shape!r}; choose logistic or richards")
    richards = shape == "richards"
    y = np.asarray(y, float)
    k = S.shape[1]
    sign = 1.0 if increasing else -1.0
    sw = np.ones(len(y)) if weight is None else np.sqrt(np.asarray(weight, float))
    lo, hi = _law_bounds(k, increasing=increasing, upper=upper, chance=chance, max_slope=max_slope,
                         nu_range=nu_range if richards else None)

    def curve(p) -> Curve:
        return Curve(increasing, upper, p[0], p[1], p[2:2 + k], p[2 + k], np.zeros(0),
                     nu=float(np.exp(p[3 + k])) if richards else 1.0)

    pmask, pw = _prior_weight(prior, prior_strength, len(lo), len(y))

    def resid(p):
        c = curve(p)
        r = sw * (c.value(c.u(S)) - y)
        return np.concatenate([r, pw * (p[pmask] - prior[pmask])]) if pmask.any() else r

    def jac(p):
        base, s_ = p[0], p[1]
        u = S @ p[2:2 + k] + p[2 + k]
        g, dg = curve(p).gate(u)
        span = (upper - base) if increasing else base
        dy_du = sign * span * s_ * dg
        cols = [(1 - s_ * g)[:, None], (sign * span * g)[:, None], dy_du[:, None] * S, dy_du[:, None]]
        if richards:   # d g / d log nu = g * log(sigmoid(u)) * nu
            cols.append((sign * span * s_ * g * np.log(np.maximum(_sigmoid(u), 1e-300)) * np.exp(p[3 + k]))[:, None])
        J = sw[:, None] * np.hstack(cols)
        return np.vstack([J, pw * np.eye(len(p))[pmask]]) if pmask.any() else J

    q = np.quantile(y, 0.05) if increasing else np.quantile(y, 0.95)
    base0 = float(np.clip(min(q, chance) if increasing else max(q, chance), lo[0] + 1e-6, hi[0] - 1e-6))
    starts = [np.clip(np.array([base0, s0, *([a0 / k] * k), b0, *([0.0] if richards else [])]), lo + 1e-6, hi - 1e-6)
              for s0 in (0.6, 0.95) for a0 in (0.5, 1.0, 2.0, 4.0) for b0 in (-3.0, -1.5, 0.0, 1.5)]
    if prior is not None and pmask.any():
        # the prior itself (free parameters from the grid's first start) is a candidate start
        starts.append(np.clip(np.where(pmask, prior, starts[0]), lo + 1e-6, hi - 1e-6))
    starts.sort(key=lambda p: _soft_l1_cost(resid(p), f_scale))   # stable: ties keep the fixed order
    if start is not None:
        if start.increasing != increasing or len(start.slopes) != k or (not richards and start.nu != 1.0):
            raise ValueError("start: a curve of another direction, form or shape")
        warm = [start.base, start.s, *start.slopes, start.b, *([np.log(start.nu)] if richards else [])]
        starts = [np.clip(np.array(warm, float), lo + 1e-6, hi - 1e-6)]
    best = None
    for x0 in starts[:n_opt]:
        sol = least_squares(resid, x0, jac=jac, bounds=(lo, hi), loss="soft_l1", f_scale=f_scale, method="trf",
                            max_nfev=200)
        if best is None or sol.cost < best.cost - 1e-12:
            best = sol
    assert best is not None  # n_opt >= 1 start was tried
    return curve(np.asarray(best.x, float))


def backtrack(objective, x: np.ndarray, step: np.ndarray, obj: float) -> tuple[np.ndarray, float, bool]:
    """Damped step of the Gauss-Newton loops: ``(x + t * step, objective there, done)`` for the largest t in 1,
    1/2, 1/4, ... (> 1e-3) that does not raise ``objective`` above ``obj``; ``done`` when the gain is negligible
    or no such t exists (then ``x`` and ``obj`` come back unchanged)."""
    t = 1.0
    while t > 1e-3:
        new = objective(x + t * step)
        if new <= obj:
            return x + t * step, new, obj - new < 1e-10 * max(new, 1e-12)
        t *= 0.5
    return x, obj, True


def fit_shift(law: Curve, S: np.ndarray, D: np.ndarray, y: np.ndarray, ridge: float, f_scale: float = 0.02,
              max_iter: int = 50, cap: float = np.inf, weight: np.ndarray | None = None) -> Curve:
    """Design weights ``w`` of ``u = law_u + cap * tanh(D @ w / cap)`` with the law fixed: soft-L1 data term +
    ridge ``ridge * n``.

    The cap matters where the training models sit on a flat part of the curve (near chance): there the data
    hardly constrain ``w`` and a large shift would only show once a larger model reaches the steep part.
    Damped Gauss-Newton with soft-L1 weights (IRLS); small matrices, so it is ~100x cheaper than a general
    least-squares call and deterministic (starts from no correction). ``weight`` (optional, per row, mean 1):
    each row's soft-L1 term multiplied by it.
    """
    y = np.asarray(y, float)
    n, m = D.shape
    u0 = law.u(S)
    lam = ridge * n
    shape = replace(law, w=np.zeros(m), cap=cap)
    rw = np.ones(n) if weight is None else np.asarray(weight, float)

    def objective(w):
        shape.w = w
        return _soft_l1_cost(law.value(u0 + shape.shift(D)) - y, f_scale, weight) + lam * float(w @ w)

    w = np.zeros(m)
    obj = objective(w)
    span = (law.upper - law.base) if law.increasing else law.base
    sign = 1.0 if law.increasing else -1.0
    for _ in range(max_iter):
        raw = D @ w
        squash = 1.0 - np.tanh(raw / cap) ** 2 if np.isfinite(cap) else 1.0
        shape.w = w
        u = u0 + shape.shift(D)
        r = law.value(u) - y
        J = (sign * span * law.s * law.gate(u)[1] * squash)[:, None] * D
        om = rw / np.sqrt(1.0 + (r / f_scale) ** 2)
        A = J.T @ (om[:, None] * J) + lam * np.eye(m)
        step = np.linalg.solve(A, -(J.T @ (om * r) + lam * w))
        w, obj, done = backtrack(objective, w, step, obj)
        if done:
            break
    out = replace(law, w=w, cap=cap)
    delta = out.value(out.u(S, D)) - out.value(u0)
    out.dmin, out.dmax = min(float(delta.min()), 0.0), max(float(delta.max()), 0.0)
    return out


# ----------------------------------------------------------------------------------------------- design
@dataclass
class DesignRaw:
    """The design columns of a model table as arrays (numeric: float with NaN; categorical: str or None)."""

    num_names: list[str]
    num: np.ndarray
    cat_names: list[str]
    cat: np.ndarray   # object array [n, c]

    @classmethod
    def from_frame(cls, X: pd.DataFrame, numeric: list[str], categorical: list[str]) -> DesignRaw:
        numeric = [c for c in numeric if c in X]
        categorical = [c for c in categorical if c in X]
        num = np.column_stack([pd.to_numeric(X[c], errors="coerce").to_numpy(float) for c in numeric]) \
            if numeric else np.zeros((len(X), 0))
        cat = np.empty((len(X), len(categorical)), dtype=object)
        for j, c in enumerate(categorical):
            v = X[c].astype("object")
            cat[:, j] = [str(x) if pd.notna(x) else None for x in v]
        return cls(numeric, num, categorical, cat)

    def take(self, idx) -> DesignRaw:
        return DesignRaw(self.num_names, self.num[idx], self.cat_names, self.cat[idx])


class DesignEncoder:
    """Design decisions -> centred, scaled columns where 0 means "unknown or average" (no correction).

    Numeric (data composition, extras): (value - mean over known) / sd. Categorical: one column per level seen
    in at least ``min_families`` training families: indicator minus the level's share among models that know
    the feature (so unknown = 0). Columns known in fewer than ``min_families`` families are left out (they
    could only memorise a family). Fit on training rows.
    """

    def __init__(self, min_families: int = 2):
        self.min_families = min_families

    def fit(self, raw: DesignRaw, groups) -> DesignEncoder:
        groups = np.asarray(groups)
        self.columns_: list[tuple] = []   # (name, source, kind, j, level, centre, scale)
        for j, col in enumerate(raw.num_names):
            v = raw.num[:, j]
            ok = np.isfinite(v)
            if ok.sum() < 3 or np.std(v[ok]) == 0 or len(set(groups[ok])) < self.min_families:
                continue
            self.columns_.append((col, col, "num", j, None, float(v[ok].mean()), float(v[ok].std())))
        for j, col in enumerate(raw.cat_names):
            v = raw.cat[:, j]
            known = np.array([x is not None for x in v])
            if known.sum() < 3:
                continue
            levels = sorted(set(v[known]))
            if len(levels) < 2:
                continue
            for level in levels:
                hit = v[known] == level
                if len(set(groups[known][hit])) < self.min_families:
                    continue
                self.columns_.append((f"{col}={level}", col, "cat", j, level, float(hit.mean()), 1.0))
        return self

    @property
    def names(self) -> list[str]:
        return [c[0] for c in self.columns_]

    def transform(self, raw: DesignRaw) -> np.ndarray:
        out = np.zeros((raw.num.shape[0], len(self.columns_)))
        for i, (_, _, kind, j, level, centre, scale) in enumerate(self.columns_):
            if kind == "num":
                v = raw.num[:, j]
                out[:, i] = np.where(np.isfinite(v), (v - centre) / scale, 0.0)
            else:
                v = raw.cat[:, j]
                known = np.array([x is not None for x in v])
                out[:, i] = np.where(known, (v == level).astype(float) - centre, 0.0)
        return out


# ----------------------------------------------------------------------------------------------- intervals
def _distance(Z_train: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Nearest training model in (zN, zD) plus how far zC lies outside the training range (NaN-safe)."""
    A, B = np.nan_to_num(Z_train[:, :2]), np.nan_to_num(Z[:, :2])
    nn = np.sqrt(((B[:, None, :] - A[None, :, :]) ** 2).sum(-1)).min(axis=1)
    c = Z[:, 2]
    lo, hi = np.nanmin(Z_train[:, 2]), np.nanmax(Z_train[:, 2])
    out = np.nan_to_num(np.maximum(c - hi, 0) + np.maximum(lo - c, 0), nan=0.0)
    return nn + out


@dataclass
class ScaleModel:
    """sigma(x) = max(floor, c . [1, slope, distance]) with c >= 0, fit on |out-of-fold residuals|."""

    coef: np.ndarray
    floor: float
    q: float

    @classmethod
    def fit(cls, abs_r: np.ndarray, slope: np.ndarray, dist: np.ndarray, alpha: float) -> ScaleModel:
        """``alpha``: miscoverage targeted on the inner out-of-fold residuals."""
        F = np.column_stack([np.ones_like(abs_r), slope, dist])
        coef, _ = nnls(F, abs_r)
        # Inner folds seldom leave the training range, so the data cannot show how errors grow outside it;
        # assume at least one mean |residual| more per standardised unit of distance.
        coef[2] = max(coef[2], DISTANCE_GROWTH * float(np.mean(abs_r)))
        floor = max(0.25 * float(np.mean(abs_r)), 1e-4)
        sig = np.maximum(F @ coef, floor)
        return cls(coef=coef, floor=floor, q=conformal_quantile(abs_r / sig, alpha))

    def half_width(self, slope: np.ndarray, dist: np.ndarray) -> np.ndarray:
        F = np.column_stack([np.ones_like(slope), slope, dist])
        return self.q * np.maximum(F @ self.coef, self.floor)


# ----------------------------------------------------------------------------------------------- estimator
RIDGE_GRID = (1e-5, 1e-4, 1e-3, 1e-2)
# candidate shares of the compute-form law in form "blend" (the rest is the N/D form)
BLEND_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
# Post-training decisions (store columns of model_annotations): a model builder chooses them as much as the data
# mix, and they change calibration (hence Brier) a lot; as categoricals, so unknown (NaN) applies no correction.
TUNING: tuple[str, ...] = ("is_instruction_tuned", "is_preference_tuned")
DESIGN_SETS = {"none": ((), ()), "data": (DATA_FEATURES, ()), "arch": (("mlp_ratio",), CATEGORICAL),
               "data_arch": ((*DATA_FEATURES, "mlp_ratio"), CATEGORICAL),
               "tuning": ((), TUNING), "data_tuning": (DATA_FEATURES, TUNING),
               "data_arch_tuning": ((*DATA_FEATURES, "mlp_ratio"), (*CATEGORICAL, *TUNING))}


def generation_columns(pseudo, design: str) -> list[str]:
    """The generation-feature columns a design set uses: ``all`` every one, ``all_means`` all but the spreads
    across a model's generations (``*_std``), leaving the per-model means and the pooled keyword ratios."""
    return [c for c in pseudo if design == "all" or not str(c).endswith("_std")]


@dataclass
class _Fitted:
    """One law (and its design fits per ridge) on a set of training rows."""

    scale: ScaleFrame
    Z: np.ndarray
    form: str
    enc: DesignEncoder | None
    curves: dict


class LawRegressor(BaseEstimator, RegressorMixin):
    """A scaling law (``form`` compute/nd/params, or ``auto`` = chosen by inner family CV), optionally with the
    design shift (``design`` = ``none``, ``data``, ``data_arch``, ``all`` = data_arch + generation features,
    ``all_means`` = data_arch + the generation features' per-model means, without their ``*_std`` spreads).

    ``fit(X, y, groups)`` runs inner family-grouped CV (``cv_folds`` folds over the training families) over
    the candidate (form, ridge) pairs: the form with the lowest inner MAE of its pure law is kept, then a
    design correction (ridge from ``ridge_grid``) only if it lowers that MAE by more than ``margin`` (2 %) —
    so the design model falls back to its law where the data cannot tell. The out-of-fold residuals of the
    chosen pair fit the conformal scale model; because inner-fold residuals understate the errors on a new
    family (families are correlated), the interval uses their (1 - alpha * ``calibration``) quantile (95 % for
    a nominal 90 %; the report measures the coverage this gives on held-out families).
    ``predict_interval(X)`` gives the bounds. The slope is bounded by ``max_slope`` (per standardised unit of
    log compute), which keeps a few large models from turning the sigmoid into a step.
    ``cv_repeats``: the inner CV repeated with other shuffles (errors averaged). ``form="blend"``: the
    prediction is ``w * compute law + (1 - w) * N/D law`` (each with its own design shift, same ridge), ``w`` from
    ``blend_grid`` chosen on the pure laws by the same inner CV (no extra fits). The design correction is
    bounded in score points by the range it takes on the training models.
    ``f_scale_grid`` (opt-in): the soft-L1 scale is chosen too, by the inner MAE of the model each value selects
    (one whole fit per value, so len(grid) times the CPU).
    ``shrink`` (opt-in, < 1): the chosen design shift is applied scaled by this share (``w`` and its bounds in
    score points multiplied by it) after the inner CV has chosen the ridge on the full shift; the ridge alone
    shrinks towards 0 within the training rows, this hedges towards the law on a new family (issue 12,
    session 4: half the correction beat both the law and the full correction on seeds the idea was not found on).
    ``shape`` (opt-in): ``richards`` fits sigmoid(u) ** nu (an asymmetric S, one parameter more) for every form,
    ``richards_compute`` for the compute form only (the N/D form keeps the plain sigmoid). ``min_families``: a
    design level (or numeric column) must be known in this many training families to be used.
    Opt-in experiments of issue 12, session 5 that did not help (defaults keep the behaviour above; figures in
    ``benchmarks/RESULTS.md``): ``family_weight`` p weights each training row by ``n_family ** -p`` in the law
    and design fits (``family_weight_cv`` the same in the inner MAE that chooses); ``blend_weight="ls"`` replaces
    the blend's weight grid by one continuous weight, the least-squares stack of the pure laws' inner out-of-fold
    predictions; ``nd_tie`` (a relative tolerance) keeps, among the laws within it of the best inner MAE, the one
    with the least compute-form share.
    Session 6: ``bags`` (> 0) averages the predictions of that many refits on family-bootstrap resamples of the
    training rows, form/blend weight and ridge as chosen once on all of them (``bag_warm``: each refit starts
    from the full-data law only); ``pool`` (a :class:`~performance_prediction.pooling.PoolSource`) pulls the
    law's parameters (``pool_params``) towards the other tasks' laws with strength ``pool_strength``, or the
    value of ``pool_grid`` the inner family CV prefers.
    """

    def __init__(self, form: str = "compute", design: str = "none", task: str | None = None,
                 metric: str = "accuracy", upper: float = 1.0, higher_is_better: bool = True,
                 cv_folds: int = 5, ridge_grid: tuple[float, ...] = RIDGE_GRID, f_scale: float = 0.02,
                 alpha: float = 0.1, pseudo: tuple = (), seed: int = 0, intervals: bool = True,
                 max_slope: float = 5.0, n_opt: int = 4, select: bool = True, calibration: float = 0.5,
                 margin: float = 0.02, cv_repeats: int = 1,
                 blend_grid: tuple[float, ...] = BLEND_GRID, f_scale_grid: tuple[float, ...] = (),
                 shrink: float = 1.0, min_families: int = 2, shape: str = "logistic",
                 nu_range: tuple[float, float] = RICHARDS_NU, family_weight: float = 0.0,
                 family_weight_cv: float = 0.0, blend_weight: str = "grid", nd_tie: float = 0.0,
                 bags: int = 0, bag_warm: bool = False, pool=None, pool_strength: float = 0.0,
                 pool_grid: tuple[float, ...] = (), pool_params: str = "shape"):
        self.form = form
        self.design = design
        self.task = task
        self.metric = metric
        self.upper = upper
        self.higher_is_better = higher_is_better
        self.cv_folds = cv_folds
        self.ridge_grid = ridge_grid
        self.f_scale = f_scale
        self.alpha = alpha
        self.pseudo = pseudo
        self.seed = seed
        self.intervals = intervals
        self.max_slope = max_slope
        self.n_opt = n_opt
        self.select = select
        self.calibration = calibration
        self.margin = margin
        self.cv_repeats = cv_repeats
        self.blend_grid = blend_grid
        self.f_scale_grid = f_scale_grid
        self.shrink = shrink
        self.min_families = min_families
        self.shape = shape
        self.nu_range = nu_range
        self.family_weight = family_weight
        self.family_weight_cv = family_weight_cv
        self.blend_weight = blend_weight
        self.nd_tie = nd_tie
        self.bags = bags
        self.bag_warm = bag_warm
        self.pool = pool
        self.pool_strength = pool_strength
        self.pool_grid = pool_grid
        self.pool_params = pool_params

    # -- pieces
    def _forms(self) -> tuple[str, ...]:
        if self.form not in (*LAW_FORMS, "auto", "blend"):
            raise ValueError(f"unknown law form {self.form!r}; choose compute, nd, params, auto or blend")
        if self.shape not in ("logistic", "richards", "richards_compute"):
            raise ValueError(f"unknown law shape {self.shape!r}; choose logistic, richards or richards_compute")
        if not (np.isfinite(self.nd_tie) and self.nd_tie >= 0):
            raise ValueError(f"nd_tie must be a number >= 0 (a relative tolerance), got {self.nd_tie!r}")
        return ("compute", "nd") if self.form in ("auto", "blend") else (self.form,)

    def _raw(self, X: pd.DataFrame) -> tuple[np.ndarray, DesignRaw]:
        if self.design in ("all", "all_means"):
            numeric, cats = (*DATA_FEATURES, "mlp_ratio", *generation_columns(self.pseudo, self.design)), CATEGORICAL
        elif self.design in DESIGN_SETS:
            numeric, cats = DESIGN_SETS[self.design]
        else:
            raise ValueError(f"unknown design feature set {self.design!r}; choose {', '.join(DESIGN_SETS)}, all or "
                             "all_means")
        return ScaleFrame.raw(X), DesignRaw.from_frame(X, list(numeric), list(cats))

    def _fit_one(self, R, raw: DesignRaw, y, groups, form: str, ridges, start: Curve | None = None,
                 ids=None) -> _Fitted:
        """Law of ``form`` on these rows (from ``start`` only, if given), then one design fit per ridge.
        ``ids``: the rows' model ids (the pool excludes every family with a model of this task outside them)."""
        scale = ScaleFrame.fit(R)
        Z = scale.transform(R)
        S = scale.design(Z, form)
        weight = family_weights(groups, self.family_weight) if self.family_weight else None
        prior = None
        if self.pool is not None and self.pool_strength > 0 and ids is not None:
            prior = self.pool.prior(self, form, scale, ids)
        law = fit_law(S, y, increasing=self.higher_is_better, upper=self.upper,
                      chance=chance_level(self.task, self.metric), f_scale=self.f_scale, max_slope=self.max_slope,
                      n_opt=self.n_opt, shape=self._shape(form),
                      nu_range=(float(self.nu_range[0]), float(self.nu_range[1])), weight=weight, start=start,
                      prior=prior, prior_strength=self.pool_strength)
        fitted = _Fitted(scale, Z, form, None, {np.inf: law})
        if self.design != "none" and ridges:
            enc = DesignEncoder(self.min_families).fit(raw, groups)
            if enc.names:
                fitted.enc = enc
                D = enc.transform(raw)
                cap = max(scale.dlogc(form, law.slopes) * np.log(MAX_MULTIPLIER), 1e-3)
                for lam in ridges:
                    fitted.curves[lam] = fit_shift(law, S, D, y, lam, self.f_scale, cap=cap, weight=weight)
        return fitted

    def _shape(self, form: str) -> str:
        """The law's shape for ``form``: ``richards_compute`` is Richards on the compute form only."""
        if self.shape == "richards_compute":
            return "richards" if form == "compute" else "logistic"
        return self.shape

    @staticmethod
    def _predict_with(fitted: _Fitted, curve: Curve, R, raw: DesignRaw):
        Z = fitted.scale.transform(R)
        S = fitted.scale.design(Z, fitted.form)
        D = fitted.enc.transform(raw) if fitted.enc is not None and len(curve.w) else None
        u = curve.u(S, D)
        value = curve.value(u)
        if D is not None:
            # the law plus the correction, bounded by the corrections seen on the training models; both bounds
            # rise with compute, so the prediction stays monotone in it
            law = curve.value(curve.u(S))
            value = np.clip(value, law + curve.dmin, law + curve.dmax)
        return value, curve.slope(u), Z

    def _check_bag_and_pool(self) -> None:
        if isinstance(self.bags, bool) or not isinstance(self.bags, int | np.integer) or self.bags < 0:
            raise ValueError(f"bags must be an integer >= 0 (0: no bagging), got {self.bags!r}")
        if self.pool is not None and (not np.isfinite(self.pool_strength) or self.pool_strength < 0
                                      or any(not np.isfinite(v) or v < 0 for v in self.pool_grid)):
            raise ValueError(f"pool_strength and pool_grid must be numbers >= 0, got {self.pool_strength!r}, "
                             f"{self.pool_grid!r}")
        if self.pool is not None and self.pool_params not in POOL_PARAMS:
            raise ValueError(f"unknown pool_params {self.pool_params!r}; choose {', '.join(POOL_PARAMS)}")

    def fit(self, X: pd.DataFrame, y, groups=None):
        self._check_bag_and_pool()
        if self.f_scale_grid and self.select:
            return self._fit_f_scale(X, y, groups)
        if self.pool is not None and self.pool_grid and self.select:
            return self._fit_over("pool_strength", "pool_grid", X, y, groups)
        y = np.asarray(y, float)
        ids = X.index.to_numpy()
        R, raw = self._raw(X)
        groups = np.asarray(groups) if groups is not None else np.arange(len(y))
        ridges = tuple(self.ridge_grid) if self.design != "none" else ()
        candidates: list[tuple] = [(f, lam) for f in self._forms() for lam in (np.inf, *ridges)]
        if not self.select:   # fixed form and ridge (e.g. refits in the family bootstrap)
            candidates = [(self._forms()[0], ridges[0] if ridges else np.inf)]
        need_cv = len(candidates) > 1 or self.intervals
        reps = max(1, int(self.cv_repeats)) if need_cv else 0
        oof, slope_oof, dist_oof = self._inner_oof(R, raw, y, groups, ridges, candidates, reps, ids)
        blend = self.form == "blend" and self.select
        # family_weight_cv: large families count less in the choice too (n_family ** -family_weight_cv)
        row_w = family_weights(groups, self.family_weight_cv) if self.family_weight_cv else np.ones(len(y))
        if blend:
            # candidates become (weight of the compute form, ridge): blends of the two forms' out-of-fold
            # predictions, so choosing the weight costs no fit
            lams = (np.inf, *ridges)
            grid = self._blend_weights(oof[("compute", np.inf)], oof[("nd", np.inf)], y, row_w) if need_cv \
                else tuple(self.blend_grid)
            oof, slope_oof = ({(w, lam): w * d[("compute", lam)] + (1 - w) * d[("nd", lam)]
                               for w in grid for lam in lams} for d in (oof, slope_oof))
            candidates = list(oof)
        err = {c: float(np.mean(np.abs(oof[c] - y) * row_w)) if need_cv else 0.0 for c in candidates}
        best = self._choose(candidates, err)
        self.cv_mae_ = err
        self.cv_best_mae_ = err[best]
        self.inner_oof_ = self._chosen_oof(oof, best)
        weights: dict[str, float]
        if blend:
            self.weight_, self.ridge_ = float(best[0]), float(best[1])
            self.form_ = "compute" if self.weight_ >= 0.5 else "nd"   # the major form (design_effects)
            weights = {"compute": self.weight_, "nd": 1 - self.weight_}
        else:
            self.form_, self.ridge_ = str(best[0]), float(best[1])
            weights = {self.form_: 1.0}
        keep = (self.ridge_,) if np.isfinite(self.ridge_) else ()
        self.parts_: list[tuple[float, _Fitted, Curve]] = []   # (weight, fitted, curve) of each form
        for f, w in weights.items():
            if w > 0:
                fitted = self._fit_one(R, raw, y, groups, f, keep, ids=ids)
                self.parts_.append((w, fitted, self._shrunk(fitted.curves.get(self.ridge_, fitted.curves[np.inf]))))
        major = max(self.parts_, key=lambda p: p[0])
        self.fitted_, self.curve_ = major[1], major[2]
        if self.bags:
            # the full-data fit stays fitted_/curve_ (design effects, interval distances); predictions average
            # the bags
            self.parts_ = self._bagged_parts(R, raw, y, groups, weights, keep, ids)
        self.best_params_ = {"form": self.form if blend else self.form_, "ridge": self.ridge_,
                             **({"compute_weight": self.weight_} if blend else {})}
        if self.intervals:
            self.scale_model_ = ScaleModel.fit(np.abs(oof[best] - y).ravel(), slope_oof[best].ravel(),
                                               dist_oof.ravel(), self.alpha * self.calibration)
        return self

    def _chosen_oof(self, oof: dict, best: tuple) -> np.ndarray:
        """The chosen model's inner out-of-fold predictions (first repeat; NaN without an inner CV) with its design
        shift scaled by ``shrink`` in score points: what an ensemble on top weighs its other part against. A fixed
        form and ridge (``select=False``) has no pure-law candidate: its prediction as it is."""
        pure = oof[(best[0], np.inf)][0] if (best[0], np.inf) in oof else oof[best][0]
        return pure + (self.shrink if np.isfinite(best[1]) else 1.0) * (oof[best][0] - pure)

    def _bagged_parts(self, R, raw: DesignRaw, y, groups, weights: dict[str, float], keep: tuple,
                      ids) -> list[tuple]:
        """``bags`` refits of each chosen form on family-bootstrap resamples of the training rows (whole families
        drawn with replacement, as many as there are), form weights and ridge as chosen once on all of them; each
        refit enters the prediction with weight ``form weight / bags``. ``bag_warm``: each refit's law starts from
        the full-data law only (one optimisation instead of ``n_opt``). A family drawn twice keeps its one label,
        so ``min_families`` and ``family_weight`` still count it once."""
        rng = np.random.default_rng([int(self.seed), 12])
        uniq = np.unique(groups)
        rows = {g: np.flatnonzero(groups == g) for g in uniq}
        parts = []
        full = {fitted.form: fitted.curves[np.inf] for _w, fitted, _c in self.parts_}
        for _ in range(self.bags):
            idx = np.concatenate([rows[g] for g in rng.choice(uniq, size=len(uniq), replace=True)])
            for f, w in weights.items():
                if w > 0:
                    fitted = self._fit_one(R[idx], raw.take(idx), y[idx], groups[idx], f, keep,
                                           start=full[f] if self.bag_warm else None, ids=ids[idx])
                    curve = fitted.curves.get(self.ridge_, fitted.curves[np.inf])
                    parts.append((w / self.bags, fitted, self._shrunk(curve)))
        return parts

    def _blend_weights(self, comp: np.ndarray, nd: np.ndarray, y: np.ndarray, row_w: np.ndarray) -> tuple:
        """The compute-form weights the blend chooses among: ``blend_grid`` (``blend_weight="grid"``), or the
        one weight in [0, 1] that minimises the (row-weighted) squared error of the pure laws' out-of-fold
        blend (``"ls"``: stacking, a continuous weight instead of the grid's steps)."""
        if self.blend_weight == "grid":
            return tuple(self.blend_grid)
        if self.blend_weight != "ls":
            raise ValueError(f"blend_weight must be 'grid' or 'ls', got {self.blend_weight!r}")
        d, t = (comp - nd), (y - nd)
        den = float(np.sum(row_w * d * d))
        return (float(np.clip(np.sum(row_w * d * t) / den, 0.0, 1.0)) if den > 0 else 0.5,)

    def _shrunk(self, curve: Curve) -> Curve:
        """``curve`` with its design shift scaled by ``shrink`` (the law itself unchanged)."""
        if not 0.0 <= self.shrink <= 1.0:
            raise ValueError(f"shrink must lie in [0, 1], got {self.shrink!r}")
        if self.shrink == 1.0 or not len(curve.w):
            return curve
        return replace(curve, w=curve.w * self.shrink, dmin=curve.dmin * self.shrink, dmax=curve.dmax * self.shrink)

    def _inner_oof(self, R, raw: DesignRaw, y, groups, ridges, candidates, reps: int, ids=None):
        """Out-of-fold predictions, curve slopes (per candidate) and distances, ``reps`` repeats of the inner
        family-grouped CV (arrays [reps, n]; NaN where ``reps`` is 0)."""
        shape = (max(reps, 1), len(y))
        oof: dict[tuple, np.ndarray] = {c: np.full(shape, np.nan) for c in candidates}
        slope_oof: dict[tuple, np.ndarray] = {c: np.full(shape, np.nan) for c in candidates}
        dist_oof = np.full(shape, np.nan)
        for rep in range(reps):
            for tr, va in self.inner_splits(len(y), groups, self.seed + 1000 * rep):
                for f in self._forms():
                    fitted = self._fit_one(R[tr], raw.take(tr), y[tr], groups[tr], f, ridges,
                                           ids=None if ids is None else ids[tr])
                    for lam in (np.inf, *ridges):
                        # no usable design column in this inner fold: every ridge is the law
                        curve = fitted.curves.get(lam, fitted.curves[np.inf])
                        pred, slope, Zva = self._predict_with(fitted, curve, R[va], raw.take(va))
                        if (f, lam) in oof:
                            oof[(f, lam)][rep, va], slope_oof[(f, lam)][rep, va] = pred, slope
                    dist_oof[rep, va] = _distance(fitted.Z, Zva)
        return oof, slope_oof, dist_oof

    def _choose(self, candidates: list[tuple], err: dict) -> tuple:
        """The law's form first (as law_auto chooses it), then a correction only if it beats that law by
        ``margin`` in the inner CV: with ~25 training families a tie is noise, and the law is the safer bet."""
        laws = [c for c in candidates if not np.isfinite(c[1])] or candidates
        best = min(laws, key=lambda c: (round(err[c], 6), candidates.index(c)))
        if self.nd_tie > 0:
            # within nd_tie of the best inner MAE, the law with the least compute-form share: the N/D law contains
            # the compute law (equal returns to params and tokens) as a special case
            share = {"compute": 1.0, "nd": 0.0}
            tied = [c for c in laws if err[c] <= err[best] * (1 + self.nd_tie)]
            best = min(tied, key=lambda c: (share.get(c[0], c[0]), round(err[c], 6), candidates.index(c)))
        shifts = [c for c in candidates if c[0] == best[0] and np.isfinite(c[1])]
        if shifts:
            alt = min(shifts, key=lambda c: (round(err[c], 6), candidates.index(c)))
            if err[alt] < err[best] * (1 - self.margin):
                best = alt
        return best

    def _fit_f_scale(self, X: pd.DataFrame, y, groups):
        """``fit`` once per ``f_scale_grid`` value; keep the one whose selected model has the lowest inner MAE
        (ties: the first value)."""
        if any(not np.isfinite(f) or f <= 0 for f in self.f_scale_grid):
            raise ValueError(f"f_scale_grid: every value must be a positive number, got {self.f_scale_grid!r}")
        return self._fit_over("f_scale", "f_scale_grid", X, y, groups)

    def _fit_over(self, name: str, grid_name: str, X: pd.DataFrame, y, groups):
        """``fit`` once per value of parameter ``name`` in the grid parameter ``grid_name``; keep the one whose
        selected model has the lowest inner MAE (ties: the first value). Sets ``<name>_``."""
        best = None
        for v in getattr(self, grid_name):
            # intervals=True forces the inner CV even for a single candidate (a fixed form): it scores the value.
            # A shallow copy, not clone: the pool (and its cache of other tasks' laws) is shared, not copied.
            sub = copy.copy(self).set_params(**{name: float(v), grid_name: (), "intervals": True})
            sub.fit(X, y, groups)
            if best is None or round(sub.cv_best_mae_, 6) < round(best.cv_best_mae_, 6):
                best = sub
        assert best is not None  # the grid is not empty
        fitted = {k: v for k, v in vars(best).items() if k.endswith("_") and not k.startswith("_")}
        self.__dict__.update(fitted)
        setattr(self, f"{name}_", getattr(best, name))
        self.best_params_ = {**self.best_params_, name: getattr(best, name)}
        return self

    def inner_splits(self, n: int, groups, seed: int):
        """The inner CV's (train, validation) index pairs: family-grouped when there are enough families (an
        ensemble on top reuses them, so its weight is chosen on the same folds as the law's own choices)."""
        if len(set(groups)) >= self.cv_folds:
            return GroupKFold(self.cv_folds, shuffle=True, random_state=seed).split(np.arange(n), groups=groups)
        return KFold(min(self.cv_folds, n), shuffle=True, random_state=seed).split(np.arange(n))

    def _predict_all(self, R, raw: DesignRaw):
        """(prediction, |dy/du|, Z): the weighted parts (one unless ``form="blend"``)."""
        parts = [(w, self._predict_with(fitted, curve, R, raw)) for w, fitted, curve in self.parts_]
        return (sum(w * p[0] for w, p in parts), sum(w * p[1] for w, p in parts), parts[0][1][2])

    def law_predict(self, X: pd.DataFrame) -> np.ndarray:
        """The fitted law(s) without the design correction."""
        R, raw = self._raw(X)
        # each part's pure law: the curve without design weights (a design curve shares the law's parameters)
        out = sum(w * self._predict_with(fitted, fitted.curves[np.inf], R, raw)[0] for w, fitted, _ in self.parts_)
        return np.clip(out, 0.0, self.upper)

    def design_applied(self, X: pd.DataFrame) -> np.ndarray:
        """Per row: whether a design correction moved the prediction off the law."""
        return np.abs(self.predict(X) - self.law_predict(X)) > 1e-12

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        R, raw = self._raw(X)
        return np.clip(self._predict_all(R, raw)[0], 0.0, self.upper)

    def predict_interval(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) of the (1 - alpha) interval, clipped to the metric's range."""
        R, raw = self._raw(X)
        pred, slope, _ = self._predict_all(R, raw)
        if not self.intervals:
            return np.full(len(pred), np.nan), np.full(len(pred), np.nan)
        # distances in the full-data fit's frame (a bag's frame differs when ``bags`` > 0)
        h = self.scale_model_.half_width(slope, _distance(self.fitted_.Z, self.fitted_.scale.transform(R)))
        return np.clip(pred - h, 0.0, self.upper), np.clip(pred + h, 0.0, self.upper)

    # -- interpretation
    def design_effects(self) -> pd.DataFrame:
        """Per design column: shift of u per unit of the decision and the compute multiplier it is worth
        (``form="blend"``: those of the form with the larger weight).

        Data domains: per +10 percentage points; categorical levels: having the level vs the average known
        model; other numeric columns: per standard deviation.
        """
        enc, w = self.fitted_.enc, self.curve_.w
        cols = ["feature", "source", "level", "unit", "delta_u", "compute_multiplier"]
        if enc is None or not len(w):
            return pd.DataFrame(columns=cols)
        g = self.fitted_.scale.dlogc(self.form_, self.curve_.slopes)
        rows = []
        for (name, src, kind, _j, level, _centre, scale), wj in zip(enc.columns_, w, strict=True):
            if src in DATA_FEATURES:
                du, unit = wj * 10.0 / scale, "+10 points"
            else:
                du, unit = wj, ("level" if kind == "cat" else "+1 sd")
            with np.errstate(over="ignore"):   # a nearly flat law: a shift worth "infinite" compute stays inf
                mult = float(np.exp(du / g)) if g > 0 else np.nan
            rows.append({"feature": name, "source": src, "level": level, "unit": unit, "delta_u": float(du),
                         "compute_multiplier": mult})
        return pd.DataFrame(rows, columns=cols)
