"""Partial pooling of a law's parameters across the tasks of one metric (issue 12, session 6).

Each task keeps its own law, fitted with extra residuals that pull its standardised parameters towards the
mean of the same law fitted on the OTHER tasks of the metric (:func:`~performance_prediction.laws.fit_law`'s
``prior``). Which parameters are pulled (``LawRegressor(pool_params=...)``): the slope(s) (``"slope"``),
slopes and intercept (``"shape"``), or those plus the ceiling share ``s`` and the floor's distance to chance
(``"all"``). The strength (``pool_grid``, 0 = no pooling) is chosen by the task's inner family CV.

No leakage of held-out families: when task ``t`` is fit on some of its models, every family with a model of
``t`` outside those rows (the outer test fold, and in the inner CV also the inner validation fold) is removed
from every other task before that task's law is fit, so a held-out family's scores on other benchmarks never
reach the prior. The other tasks' laws are cached per (task, form, excluded families, fit settings).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .families import families
from .laws import Curve, ScaleFrame, chance_level, fit_law

_COLS = {"compute": [2], "nd": [0, 1], "params": [0]}


class PoolSource:
    """The tasks of one metric (rows indexed by model id and their scores), the source of the priors.

    ``frames``: task -> (X, y) as ``PredictionData.task_frame`` gives them. Pass it to ``LawRegressor(pool=...)``
    for a task among them (the estimator's ``task`` names it)."""

    def __init__(self, frames: dict[str, tuple[pd.DataFrame, np.ndarray]]):
        if len(frames) < 2:
            raise ValueError(f"pooling needs at least 2 tasks of the metric, got {len(frames)}")
        self.tasks: dict[str, tuple[np.ndarray, ...]] = {}   # ids, families (all rows); R, y, families (usable)
        for task, (X, y) in frames.items():
            y = np.asarray(y, float)
            R = ScaleFrame.raw(X)
            ok = np.isfinite(R).all(axis=1) & np.isfinite(y)
            fams = np.asarray(families(X.index))
            self.tasks[task] = (X.index.to_numpy(), fams, R[ok], y[ok], fams[ok])
        self._cache: dict[tuple, tuple[ScaleFrame, Curve] | None] = {}

    @classmethod
    def of(cls, data) -> PoolSource:
        """From a ``PredictionData`` (every task of its metric)."""
        return cls({t: data.task_frame(t) for t in data.task_names})

    def excluded(self, task: str, train_ids) -> frozenset:
        """Families with a model of ``task`` that is not among ``train_ids``."""
        if task not in self.tasks:
            raise ValueError(f"task {task!r} is not in the pool ({', '.join(self.tasks)})")
        ids, fams = self.tasks[task][:2]
        held = ~np.isin(ids, np.asarray(train_ids))
        return frozenset(fams[held].tolist())

    def _law(self, task: str, form: str, excl: frozenset, est) -> tuple[ScaleFrame, Curve] | None:
        key = (task, form, excl, est.f_scale, est.max_slope, est.n_opt, est.higher_is_better, est.upper, est.metric)
        if key not in self._cache:
            R, y, fams = self.tasks[task][2:]
            keep = ~np.isin(fams, list(excl))
            if keep.sum() < 5:   # too few rows left for a 4-parameter law: this task gives no prior
                self._cache[key] = None
            else:
                frame = ScaleFrame.fit(R[keep])
                S = frame.design(frame.transform(R[keep]), form)
                curve = fit_law(S, y[keep], increasing=est.higher_is_better, upper=est.upper,
                                chance=chance_level(task, est.metric), f_scale=est.f_scale,
                                max_slope=est.max_slope, n_opt=est.n_opt)
                self._cache[key] = (frame, curve)
        return self._cache[key]

    def prior(self, est, form: str, scale: ScaleFrame, train_ids) -> np.ndarray | None:
        """The prior parameter vector of ``est``'s law of ``form`` in the frame ``scale`` (NaN = not pulled):
        the mean over the other tasks of their law (fit without the excluded families) mapped to that frame;
        None when no other task has enough rows."""
        excl = self.excluded(est.task, train_ids)
        cols = _COLS[form]
        vecs = []
        for other in self.tasks:
            if other == est.task:
                continue
            fit = self._law(other, form, excl, est)
            if fit is None:
                continue
            frame, c = fit
            # u is the same function of raw log N / D / C in both frames: slope per raw unit alpha, intercept beta
            alpha = c.slopes / frame.sd[cols]
            beta = c.b - float(alpha @ frame.mean[cols])
            offset = c.base - chance_level(other, est.metric)
            vecs.append([offset, c.s, *(alpha * scale.sd[cols]), beta + float(alpha @ scale.mean[cols])])
        if not vecs:
            return None
        m = np.mean(np.asarray(vecs), axis=0)
        k = len(cols)
        out = np.full(3 + k, np.nan)
        out[2:2 + k] = m[2:2 + k]
        if est.pool_params in ("shape", "all"):
            out[2 + k] = m[2 + k]
        if est.pool_params == "all":
            out[0] = m[0] + chance_level(est.task, est.metric)
            out[1] = m[1]
        # a Richards law has one parameter more (its exponent), not pooled
        return np.append(out, np.nan) if est._shape(form) == "richards" else out
