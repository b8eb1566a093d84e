"""Screening combination rules of predictors on saved out-of-fold predictions (issue 12, session 8).

Every predictor of one ``bench_design.py --save`` run saw the same folds (same seed, same family split), so a
rule that combines their out-of-fold predictions row by row — global weights per metric, a median, a trimmed
mean — is scored exactly as if it had been fitted inside each fold as a predictor of its own. A rule whose
weights were chosen on one seed set and scored on another (``benchmarks/bench_mix.py --check``) is NOT an
independent check: both seed sets hold the same models, so a choice fitted to their errors carries over (session
9 measured it: per-task weights chosen on seeds 42-51 "won" on 52-61 and lost when chosen without the test
fold). :func:`crossfit` is the honest version of a weight choice: for each seed and fold, the weights are chosen
on the other folds' rows only (families the test fold does not hold) and applied to the test fold.

MAE follows the report's definition (``evaluate.CVResult.seed_mae``): the mean absolute error per fold, averaged
over the folds of a seed, then over seeds; a metric's figure is the mean over its tasks. Rows therefore carry
the weight ``1 / (fold size * folds of the seed * seeds of the task * tasks)`` and a metric's MAE of a rule is
one weighted sum of absolute errors, which makes a grid of tens of thousands of weight vectors cheap.
"""
from __future__ import annotations

from itertools import combinations_with_replacement

import numpy as np
import pandas as pd

from .tasks import score_upper

KEYS = ["metric", "task", "scheme", "seed", "fold", "id"]


class MixData:
    """One metric's out-of-fold predictions as a matrix: rows (model x task x seed x fold), one column per
    component predictor, with the truth and each row's weight in the fold-averaged mean MAE. A rule's predictions
    are clipped to the metric's range before scoring, as the ensemble clips its mix."""

    def __init__(self, oof: pd.DataFrame, metric: str, components: list[str]):
        sub = oof[oof.metric == metric]
        missing = [c for c in components if c not in set(sub.predictor)]
        if missing:
            raise ValueError(f"no out-of-fold predictions of {', '.join(missing)} for metric {metric!r}")
        wide = sub.pivot_table(index=KEYS, columns="predictor", values="y_pred", aggfunc="first")
        truth = sub.groupby(KEYS)["y_true"].first()
        wide = wide[components].dropna()
        self.metric = metric
        self.components = list(components)
        self.upper = score_upper(metric)
        self.keys = wide.index.to_frame(index=False)
        self.P = wide.to_numpy(float)
        self.y = truth.loc[wide.index].to_numpy(float)
        k = self.keys
        fold_n = k.groupby(["task", "seed", "fold"])["id"].transform("size").to_numpy(float)
        n_folds = k.groupby(["task", "seed"])["fold"].transform("nunique").to_numpy(float)
        n_seeds = k.groupby("task")["seed"].transform("nunique").to_numpy(float)
        n_tasks = k.task.nunique()
        self.row_w = 1.0 / (fold_n * n_folds * n_seeds * n_tasks)
        self.tasks = sorted(k.task.unique())

    def clip(self, pred: np.ndarray) -> np.ndarray:
        return np.clip(pred, 0.0, self.upper)

    def mean_mae(self, pred: np.ndarray) -> np.ndarray:
        """The metric's mean over tasks of the fold-averaged MAE; ``pred`` is one column per rule (or 1-D)."""
        err = np.abs(self.clip(pred) - (self.y[:, None] if pred.ndim == 2 else self.y))
        return self.row_w @ err

    def task_mae(self, pred: np.ndarray) -> pd.Series:
        """The fold-averaged MAE per task of one rule's predictions (the report's per-task figure)."""
        frame = self.keys.assign(err=np.abs(self.clip(pred) - self.y))
        fold = frame.groupby(["task", "seed", "fold"])["err"].mean()
        return fold.groupby(["task", "seed"]).mean().groupby("task").mean()

    def column(self, name: str) -> np.ndarray:
        return self.P[:, self.components.index(name)]


def simplex_grid(k: int, step: float = 0.05) -> np.ndarray:
    """Every weight vector of ``k`` non-negative weights on the ``step`` lattice summing to 1 (rows)."""
    n = round(1 / step)
    if k < 1 or abs(n * step - 1) > 1e-9:
        raise ValueError(f"need k >= 1 and a step dividing 1, got k={k}, step={step}")
    rows = []
    for combo in combinations_with_replacement(range(k), n):
        rows.append(np.bincount(combo, minlength=k))
    return np.array(rows, float) / n


def weighted(data: MixData, weights: np.ndarray, chunk: int = 2000) -> np.ndarray:
    """Mean MAE of ``P @ w`` for every weight vector (rows of ``weights``), in chunks to bound memory."""
    out = [data.mean_mae(data.P @ weights[i:i + chunk].T) for i in range(0, len(weights), chunk)]
    return np.concatenate(out)


def task_weighted(data: MixData, weights: np.ndarray, chunk: int = 2000) -> np.ndarray:
    """Per-task fold-averaged MAE of ``P @ w`` for every weight vector: shape (vectors, tasks in ``data.tasks``)."""
    task = data.keys.task.to_numpy()
    n_tasks = len(data.tasks)
    # a row's weight within its own task: the metric-level weight times the number of tasks
    W = np.stack([np.where(task == t, data.row_w * n_tasks, 0.0) for t in data.tasks])
    out = []
    for i in range(0, len(weights), chunk):
        pred = data.clip(data.P @ weights[i:i + chunk].T)
        out.append((W @ np.abs(pred - data.y[:, None])).T)
    return np.concatenate(out)


def best_law_mae(oof: pd.DataFrame, metric: str, laws: list[str]) -> pd.Series:
    """Per task, the lowest fold-averaged MAE among the pure laws ``laws`` (the reference of the per-task goal)."""
    law = MixData(oof, metric, laws)
    return pd.concat([law.task_mae(law.column(c)) for c in laws], axis=1).min(axis=1)


def worst_gap(oof: pd.DataFrame, metric: str, components: list[str], laws: list[str],
              weights: np.ndarray) -> np.ndarray:
    """For every weight vector (rows), its largest per-task MAE minus the task's best pure law (``laws``) on ``oof``."""
    data = MixData(oof, metric, components)
    best = best_law_mae(oof, metric, laws).reindex(data.tasks).to_numpy()
    return (task_weighted(data, weights) - best).max(axis=1)


def within_gap(parts: list[pd.DataFrame], metric: str, components: list[str], laws: list[str],
               weights: np.ndarray, max_gap: float) -> np.ndarray:
    """Which weight vectors keep every task within ``max_gap`` of its best law on EACH of ``parts`` separately
    (a stricter rule than on their pooled seeds: a task may be behind on one seed set and ahead on another)."""
    ok = np.ones(len(weights), bool)
    for part in parts:
        ok &= worst_gap(part, metric, components, laws, weights) <= max_gap
    return ok


def median_of(data: MixData, names: list[str]) -> np.ndarray:
    return np.median(np.column_stack([data.column(n) for n in names]), axis=1)


def trimmed_mean(data: MixData, names: list[str], cut: int = 1) -> np.ndarray:
    """The mean of the components after dropping the ``cut`` lowest and ``cut`` highest per row."""
    if len(names) <= 2 * cut:
        raise ValueError(f"a trimmed mean cutting {cut} on each side needs more than {2 * cut} components")
    s = np.sort(np.column_stack([data.column(n) for n in names]), axis=1)
    return s[:, cut:len(names) - cut].mean(axis=1)


def crossfit(data: MixData, weights: np.ndarray, by_task: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Weights chosen without the rows they predict: for every seed and fold (and task, with ``by_task``), the
    vector of ``weights`` (rows) with the lowest fold-averaged MAE on the OTHER folds of the same seed is applied
    to that fold's rows. Returns the predictions (one per row of ``data``) and the chosen vectors (one per choice).

    The other folds' out-of-fold predictions came from predictors that saw the test fold's families in training,
    but no test-fold truth enters the choice, so this measures what choosing the weights from data is worth.
    """
    keys = data.keys
    group = ["seed", "task"] if by_task else ["seed"]
    err = np.abs(data.clip(data.P @ weights.T) - data.y[:, None])
    pred = np.full(len(data.y), np.nan)
    chosen = []
    for _, idx in keys.groupby(group).indices.items():
        folds = keys.fold.to_numpy()[idx]
        for f in np.unique(folds):
            # the metric's fold-averaged weights (within one task when by_task), restricted to the other folds
            w = np.where(folds != f, data.row_w[idx], 0.0)
            best = weights[int(np.argmin(w @ err[idx]))]
            chosen.append(best)
            test = idx[folds == f]
            pred[test] = data.P[test] @ best
    return pred, np.array(chosen)
