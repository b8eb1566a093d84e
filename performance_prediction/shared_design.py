"""A design correction shared across the tasks of one metric (multi-task pooling; issue 12, session 4).

Each task keeps its own law (``law_blend``: the compute and N/D sigmoids blended with a weight chosen by the
task's inner family CV). The design decisions shift every task's law along log compute by the SAME amount,
an effective compute multiplier ``exp(s)`` with ``s = cap * tanh(x_design . beta / cap)`` (``cap`` = log of
:data:`~performance_prediction.laws.MAX_MULTIPLIER`), so on task ``t`` and form ``f``::

    u_tf = law_u_tf + g_tf * s          g_tf = du / dlog C of that law (ScaleFrame.dlogc)

Optionally ``beta_t = beta + delta_t`` with a stronger ridge on the task-specific ``delta_t``. ``beta`` is fit
on the stacked training rows of all tasks (each task weighted equally), soft-L1 loss as the laws, ridge on
``beta``; the ridge (and whether to correct at all) is chosen by family-grouped CV inside the training
families, with the same family split for every task, so a held-out family is never in any task's fit.

Functions here are pure (arrays and fitted laws in, arrays out); :func:`shared_cv` runs the outer family
folds for a study (``benchmarks/bench_shared_design.py``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from .laws import MAX_MULTIPLIER, Curve, DesignEncoder, DesignRaw, LawRegressor, _soft_l1_cost, backtrack
from .tasks import score_upper

SHARED_RIDGES = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


@dataclass
class TaskLaw:
    """A task's pure law on a set of rows: per form part (weight, u0 on those rows, curve, g = du/dlogC)."""

    parts: list[tuple[float, np.ndarray, Curve, float]]

    @classmethod
    def of(cls, law: LawRegressor, X: pd.DataFrame) -> TaskLaw:
        R, raw = law._raw(X)
        parts = []
        for w, fitted, _curve in law.parts_:
            curve = fitted.curves[np.inf]
            S = fitted.scale.design(fitted.scale.transform(R), fitted.form)
            parts.append((w, curve.u(S), curve, fitted.scale.dlogc(fitted.form, curve.slopes)))
        return cls(parts)

    def value(self, s: np.ndarray) -> np.ndarray:
        """Prediction with the log-compute shift ``s`` per row (0 = the law)."""
        out = np.zeros(len(s))
        for w, u0, c, g in self.parts:
            out += w * c.value(u0 + g * s)
        return out

    def dvalue(self, s: np.ndarray) -> np.ndarray:
        """d prediction / d s."""
        out = np.zeros(len(s))
        for w, u0, c, g in self.parts:
            sign = 1.0 if c.increasing else -1.0
            out += w * sign * c.slope(u0 + g * s) * g
        return out


@dataclass
class SharedShift:
    """beta (shared) and delta per task (zeros without task terms); ``cap`` bounds the shift in log compute."""

    beta: np.ndarray
    delta: np.ndarray   # [T, m]
    cap: float

    def shift(self, D: np.ndarray, t: int) -> np.ndarray:
        raw = D @ (self.beta + self.delta[t])
        return self.cap * np.tanh(raw / self.cap)


def fit_shared_shift(laws: list[TaskLaw], Ds: list[np.ndarray], ys: list[np.ndarray], ridge: float,
                     delta_ridge: float | None = None, f_scale: float = 0.02, max_iter: int = 60,
                     start: SharedShift | None = None) -> SharedShift:
    """Minimise ``mean_t mean_i rho(pred_ti - y_ti) + ridge |beta|^2 + delta_ridge sum_t |delta_t|^2`` (rho =
    soft-L1) with the laws fixed; ``delta_ridge=None``: no task-specific terms. Damped Gauss-Newton on
    soft-L1 weights (as :func:`~performance_prediction.laws.fit_shift`), deterministic from ``start`` or 0."""
    T, m = len(laws), Ds[0].shape[1]
    cap = float(np.log(MAX_MULTIPLIER))
    use_delta = delta_ridge is not None
    P = m * (T + 1) if use_delta else m
    pen = np.full(P, ridge)
    if use_delta:
        pen[m:] = delta_ridge
    theta = np.zeros(P)
    if start is not None:
        theta[:m] = start.beta
        if use_delta and start.delta.shape == (T, m):
            theta[m:] = start.delta.ravel()

    def unpack(th):
        return SharedShift(th[:m], th[m:].reshape(T, m) if use_delta else np.zeros((T, m)), cap)

    def objective(th):
        sh = unpack(th)
        data = sum(_soft_l1_cost(law.value(sh.shift(D, t)) - y, f_scale) / len(y)
                   for t, (law, D, y) in enumerate(zip(laws, Ds, ys, strict=True)))
        return data / T + float(pen @ (th * th))

    obj = objective(theta)
    for _ in range(max_iter):
        sh = unpack(theta)
        A = np.diag(pen).astype(float)
        grad = pen * theta
        for t, (law, D, y) in enumerate(zip(laws, Ds, ys, strict=True)):
            raw = D @ (sh.beta + sh.delta[t])
            s = cap * np.tanh(raw / cap)
            r = law.value(s) - y
            jrow = (law.dvalue(s) * (1.0 - np.tanh(raw / cap) ** 2))[:, None] * D
            om = 1.0 / np.sqrt(1.0 + (r / f_scale) ** 2) / (T * len(y))
            blocks = [slice(0, m)] + ([slice(m * (t + 1), m * (t + 2))] if use_delta else [])
            JtJ, Jtr = jrow.T @ (om[:, None] * jrow), jrow.T @ (om * r)
            for a in blocks:
                grad[a] += Jtr
                for b in blocks:
                    A[a, b] += JtJ
        step = np.linalg.solve(A, -grad)
        theta, obj, done = backtrack(objective, theta, step, obj)
        if done:
            break
    return unpack(theta)


def predict_shifted(law: TaskLaw, law_train: TaskLaw, D: np.ndarray, D_train: np.ndarray, shift: SharedShift,
                    t: int) -> np.ndarray:
    """Task ``t``'s prediction on rows (``law``, ``D``), the correction bounded in score points by its range on
    the task's training rows (``law_train``, ``D_train``), as LawRegressor bounds its own."""
    base = law.value(np.zeros(len(D)))
    corr = law_train.value(shift.shift(D_train, t)) - law_train.value(np.zeros(len(D_train)))
    lo, hi = min(float(corr.min()), 0.0), max(float(corr.max()), 0.0)
    return np.clip(law.value(shift.shift(D, t)), base + lo, base + hi)


def _law(form: str, task: str, metric: str, seed: int, **kw) -> LawRegressor:
    return LawRegressor(form=form, design="none", task=task, metric=metric, upper=score_upper(metric),
                        higher_is_better=metric != "brier_score", intervals=False, seed=seed, **kw)


def design_raw(X: pd.DataFrame, design: str) -> DesignRaw:
    return LawRegressor(design=design)._raw(X)[1]


def fit_shared(Xs: list[pd.DataFrame], ys: list[np.ndarray], fams: list[np.ndarray], tasks: list[str], metric: str,
               design: str = "data_arch", seed: int = 42, ridges=SHARED_RIDGES, delta_factor: float | None = None,
               inner_folds: int = 5, margin: float = 0.02) -> dict:
    """Fit the per-task blend laws and the shared shift on the training rows of every task.

    Returns ``laws`` (the task's LawRegressor blend), ``enc``, ``shift`` (None: no correction chosen),
    ``ridge``, ``keep`` (per task: the inner MAE gain passes ``margin``), ``inner`` (per ridge, per task
    inner MAE; ``inf`` = the law)."""
    T = len(tasks)
    laws = [_law("blend", t, metric, seed).fit(X, y, g) for t, X, y, g in zip(tasks, Xs, ys, fams, strict=True)]
    weights = [{p[1].form: p[0] for p in law.parts_} for law in laws]
    raws = [design_raw(X, design) for X in Xs]
    all_fams = np.unique(np.concatenate(fams))
    inner_abs: dict = {lam: [np.full(len(y), np.nan) for y in ys] for lam in (np.inf, *ridges)}
    for tr_f, _va_f in GroupKFold(inner_folds, shuffle=True, random_state=seed).split(all_fams, groups=all_fams):
        train_fams = set(all_fams[tr_f])
        idx = [(np.isin(g, list(train_fams))) for g in fams]
        parts_tr, parts_va, Dtr, Dva, ytr = [], [], [], [], []
        enc = _encoder([r.take(np.flatnonzero(i)) for r, i in zip(raws, idx, strict=True)],
                       [g[i] for g, i in zip(fams, idx, strict=True)],
                       [X.index[i] for X, i in zip(Xs, idx, strict=True)])
        for t in range(T):
            tr, va = np.flatnonzero(idx[t]), np.flatnonzero(~idx[t])
            sub = [_law(f, tasks[t], metric, seed, select=False).fit(Xs[t].iloc[tr], ys[t][tr]) for f in weights[t]]
            for law_f, f in zip(sub, weights[t], strict=True):
                law_f.parts_ = [(weights[t][f], law_f.parts_[0][1], law_f.parts_[0][2])]
            combo = _Combo(sub)
            parts_tr.append(combo.of(Xs[t].iloc[tr]))
            parts_va.append(combo.of(Xs[t].iloc[va]))
            Dtr.append(enc.transform(raws[t].take(tr)) if enc else np.zeros((len(tr), 0)))
            Dva.append(enc.transform(raws[t].take(va)) if enc else np.zeros((len(va), 0)))
            ytr.append(ys[t][tr])
            inner_abs[np.inf][t][va] = np.abs(parts_va[t].value(np.zeros(len(va))) - ys[t][va])
        start = None
        for lam in sorted(ridges, reverse=True):
            if enc is None:
                for t in range(T):
                    inner_abs[lam][t][~idx[t]] = inner_abs[np.inf][t][~idx[t]]
                continue
            start = fit_shared_shift(parts_tr, Dtr, ytr, lam, None if delta_factor is None else lam * delta_factor,
                                     start=start)
            for t in range(T):
                pred = predict_shifted(parts_va[t], parts_tr[t], Dva[t], Dtr[t], start, t)
                inner_abs[lam][t][~idx[t]] = np.abs(pred - ys[t][~idx[t]])
    inner_err = {lam: [float(np.nanmean(a)) for a in v] for lam, v in inner_abs.items()}
    mean_err = {lam: float(np.mean(v)) for lam, v in inner_err.items()}
    best = min(ridges, key=lambda lam: (round(mean_err[lam], 7), lam))
    out = {"laws": laws, "ridge": best, "inner": inner_err, "shift": None, "enc": None,
           "keep": [inner_err[best][t] < inner_err[np.inf][t] * (1 - margin) for t in range(T)],
           "use": mean_err[best] < mean_err[np.inf] * (1 - margin)}
    enc = _encoder(raws, fams, [X.index for X in Xs])
    if enc is not None:
        full = [TaskLaw.of(law, X) for law, X in zip(laws, Xs, strict=True)]
        Ds = [enc.transform(r) for r in raws]
        out["enc"], out["train"] = enc, (full, Ds)
        out["shift"] = fit_shared_shift(full, Ds, ys, best, None if delta_factor is None else best * delta_factor)
    return out


class _Combo:
    """The inner fold's law: the forms fitted separately, weighted as the outer law's blend."""

    def __init__(self, laws: list[LawRegressor]):
        self.laws = laws

    def of(self, X: pd.DataFrame) -> TaskLaw:
        return TaskLaw([p for law in self.laws for p in TaskLaw.of(law, X).parts])


def _encoder(raws: list[DesignRaw], fams: list[np.ndarray], ids: list) -> DesignEncoder | None:
    """One encoder on the union of the training models of every task (each model once)."""
    seen: dict = {}
    for r, g, ix in zip(raws, fams, ids, strict=True):
        for k, i in enumerate(ix):
            if i not in seen:
                seen[i] = (r.num[k], r.cat[k], g[k])
    if not seen:
        return None
    keys = list(seen)
    raw = DesignRaw(raws[0].num_names, np.array([seen[k][0] for k in keys]).reshape(len(keys), -1),
                    raws[0].cat_names, np.array([seen[k][1] for k in keys], dtype=object).reshape(len(keys), -1))
    enc = DesignEncoder().fit(raw, np.array([seen[k][2] for k in keys]))
    return enc if enc.names else None


def predict_shared(model: dict, Xs: list[pd.DataFrame], design: str, gate: bool) -> list[np.ndarray]:
    """Per task: predictions of the shared model on ``Xs`` (``gate``: only tasks whose inner CV kept it)."""
    out = []
    for t, (law, X) in enumerate(zip(model["laws"], Xs, strict=True)):
        base = law.predict(X)
        use = model["shift"] is not None and model["use"] and (model["keep"][t] or not gate)
        if not use:
            out.append(base)
            continue
        full, Ds = model["train"]
        pred = predict_shifted(TaskLaw.of(law, X), full[t], model["enc"].transform(design_raw(X, design)), Ds[t],
                               model["shift"], t)
        out.append(np.clip(pred, 0.0, law.upper))
    return out


def shared_family_folds(fams: list[np.ndarray], n_folds: int, seed: int) -> list[list[np.ndarray]]:
    """Outer folds over ALL families of the metric, the same split for every task: per fold, per task, the
    boolean mask of its TRAINING rows (a family is held out of every task at once)."""
    all_fams = np.unique(np.concatenate(fams))
    folds = []
    for _tr, te in GroupKFold(n_folds, shuffle=True, random_state=seed).split(all_fams, groups=all_fams):
        test = list(all_fams[te])
        folds.append([~np.isin(g, test) for g in fams])
    return folds


def shared_cv(frames: list[tuple[pd.DataFrame, np.ndarray]], fams: list[np.ndarray], tasks: list[str], metric: str,
              seeds, specs: dict[str, dict], baselines: dict | None = None, n_folds: int = 3,
              log=None) -> tuple[pd.DataFrame, dict[str, float]]:
    """Out-of-fold predictions on :func:`shared_family_folds` of every seed.

    ``specs``: name -> keyword arguments of :func:`fit_shared` (``design``, ``delta_factor``, ``margin``); each
    gives predictors ``name`` and ``name_gate``; the first also ``shared_base_law`` (its blend laws alone).
    ``baselines``: name -> factory(task, seed) of a per-task estimator, fit on the same training rows with the
    families as groups. Returns the predictions (metric, task, seed, fold, predictor, id, family, y_true,
    y_pred) and the process CPU seconds per name.
    """
    import time

    rows: list[pd.DataFrame] = []
    cpu: dict[str, float] = {}
    for seed in seeds:
        for k, masks in enumerate(shared_family_folds(fams, n_folds, seed)):
            tr = [(X[m], y[m], g[m]) for (X, y), g, m in zip(frames, fams, masks, strict=True)]
            Xte = [X[~m] for (X, _), m in zip(frames, masks, strict=True)]

            def record(name, preds, seed=seed, k=k, masks=masks):
                for t, ((X, y), m, pr) in enumerate(zip(frames, masks, preds, strict=True)):
                    if (~m).any():
                        rows.append(pd.DataFrame({"metric": metric, "task": tasks[t], "seed": seed, "fold": k,
                                                  "predictor": name, "id": X.index[~m], "family": fams[t][~m],
                                                  "y_true": y[~m], "y_pred": pr}))
            for name, factory in (baselines or {}).items():
                t0 = time.process_time()
                record(name, [factory(task, seed).fit(X, y, groups=g).predict(Xt) if len(Xt) else np.zeros(0)
                              for task, (X, y, g), Xt in zip(tasks, tr, Xte, strict=True)])
                cpu[name] = cpu.get(name, 0.0) + time.process_time() - t0
            for i, (name, kw) in enumerate(specs.items()):
                t0 = time.process_time()
                model = fit_shared([a[0] for a in tr], [a[1] for a in tr], [a[2] for a in tr], tasks, metric,
                                   seed=seed, **kw)
                design = kw.get("design", "data_arch")
                for gate in (False, True):
                    record(name + ("_gate" if gate else ""), predict_shared(model, Xte, design, gate))
                if i == 0:
                    record("shared_base_law", [law.predict(X) for law, X in zip(model["laws"], Xte, strict=True)])
                cpu[name] = cpu.get(name, 0.0) + time.process_time() - t0
                if log:
                    log(f"[{metric} seed {seed} fold {k}] {name}: ridge {model['ridge']:g}, used {model['use']}, "
                        f"kept on {sum(model['keep'])}/{len(tasks)} tasks")
    return pd.concat(rows, ignore_index=True), cpu


def task_mae(pred: pd.DataFrame) -> pd.DataFrame:
    """Task x predictor MAE (the report's: mean over seeds of the mean over folds of the fold MAE) plus a MEAN
    row."""
    from .evaluate import CVResult

    table = CVResult(pred.assign(scheme="family")).mae_table()
    mae = table.pivot(index="task", columns="predictor", values="mae")
    mae.loc["MEAN"] = mae.mean()
    return mae


def shared_multipliers(model: dict) -> pd.DataFrame:
    """Effective compute multiplier of each design column of a fitted shared model (:func:`fit_shared`): data
    domains per +10 points, categorical levels vs the average known model, other numeric columns per +1 sd."""
    from .features import DATA_FEATURES

    cols = ["decision", "unit", "compute_multiplier"]
    if model["shift"] is None:
        return pd.DataFrame(columns=cols)
    rows = []
    for (name, src, kind, _j, _level, _centre, scale), b in zip(model["enc"].columns_, model["shift"].beta,
                                                                  strict=True):
        data = src in DATA_FEATURES
        rows.append((name, "+10 points" if data else ("level" if kind == "cat" else "+1 sd"),
                     float(np.exp(b * 10 / scale if data else b))))
    return pd.DataFrame(rows, columns=cols).sort_values("compute_multiplier", kind="mergesort")
