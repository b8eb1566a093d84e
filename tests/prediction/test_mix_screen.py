"""Issue 12, session 8: combination rules scored on saved out-of-fold predictions (``mix_screen.py``) and the
tree losses they screened (``XGBSearchRegressor(objective=..., subsample=...)``)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from performance_prediction.evaluate import CVResult
from performance_prediction.mix_screen import (MixData, median_of, simplex_grid, task_weighted, trimmed_mean, weighted,
                                               within_gap, worst_gap)
from performance_prediction.predictors import XGBSearchRegressor

TOK = "pretraining_summary_total_tokens_billions"


def _oof(seed: int = 0) -> pd.DataFrame:
    """Two tasks, two seeds, unequal folds, three predictors; the layout of ``bench_design.py --save``."""
    rng = np.random.default_rng(seed)
    rows = []
    for task, n in (("arc_challenge", 11), ("hellaswag", 7)):
        for s in (42, 43):
            folds = rng.integers(0, 3, n)
            y = rng.uniform(0.2, 0.8, n)
            for name, noise in (("a", 0.05), ("b", 0.1), ("c", 0.2)):
                rows.append(pd.DataFrame({"metric": "accuracy", "task": task, "scheme": "family", "seed": s,
                                          "fold": folds, "predictor": name, "id": [f"m{i}" for i in range(n)],
                                          "y_true": y, "y_pred": np.clip(y + rng.normal(0, noise, n), 0, 1)}))
    return pd.concat(rows, ignore_index=True)


def test_mean_mae_is_the_reports_fold_averaged_mae_mean_over_tasks():
    oof = _oof()
    d = MixData(oof, "accuracy", ["a", "b", "c"])
    for i, name in enumerate("abc"):
        seed_mae = CVResult(predictions=oof[oof.predictor == name]).seed_mae()
        expected = seed_mae.groupby("task")["mae"].mean().mean()
        assert d.mean_mae(d.P[:, i]) == pytest.approx(expected, abs=1e-12)
        assert d.task_mae(d.P[:, i]).mean() == pytest.approx(expected, abs=1e-12)
    # a pooled mean over rows would differ: the folds have unequal sizes
    pooled = np.mean(np.abs(d.P[:, 0] - d.y))
    assert abs(pooled - d.mean_mae(d.P[:, 0])) > 1e-6


def test_weights_score_every_simplex_vector_and_rules_combine_rows():
    d = MixData(_oof(1), "accuracy", ["a", "b", "c"])
    grid = simplex_grid(3, 0.25)
    assert len(grid) == 15 and np.allclose(grid.sum(axis=1), 1) and (grid >= 0).all()
    scores = weighted(d, grid, chunk=4)
    for w, s in zip(grid, scores, strict=True):
        assert s == pytest.approx(d.mean_mae(d.P @ w), abs=1e-12)
    assert np.argmin(scores) == int(np.flatnonzero((grid == [1, 0, 0]).all(axis=1))[0])   # the least noisy one
    per_task = task_weighted(d, grid, chunk=4)
    assert per_task.shape == (15, 2)
    for w, row in zip(grid, per_task, strict=True):
        np.testing.assert_allclose(row, d.task_mae(d.P @ w).reindex(d.tasks).to_numpy(), atol=1e-12)
    np.testing.assert_allclose(per_task.mean(axis=1), scores, atol=1e-12)   # the metric's mean over its tasks
    row = np.array([[0.1, 0.5, 0.3]])
    d.P = row
    assert median_of(d, ["a", "b", "c"])[0] == pytest.approx(0.3) and trimmed_mean(d, ["a", "b", "c"])[0] == 0.3


def test_the_gap_rule_holds_on_each_seed_set_separately_not_on_their_pool():
    one, two = _oof(2), _oof(3).assign(seed=lambda f: f.seed + 10)
    grid = simplex_grid(2, 0.25)                        # weights of a and b; the pure laws are b and c
    for part in (one, two):
        d, law = MixData(part, "accuracy", ["a", "b"]), MixData(part, "accuracy", ["b", "c"])
        best = np.minimum(law.task_mae(law.column("b")), law.task_mae(law.column("c")))
        expected = [(d.task_mae(d.P @ w) - best).max() for w in grid]
        np.testing.assert_allclose(worst_gap(part, "accuracy", ["a", "b"], ["b", "c"], grid), expected, atol=1e-12)
    g1, g2 = (worst_gap(p, "accuracy", ["a", "b"], ["b", "c"], grid) for p in (one, two))
    cap = float(np.sort(np.maximum(g1, g2))[2])            # some vectors pass on both, some on one only
    ok = within_gap([one, two], "accuracy", ["a", "b"], ["b", "c"], grid, cap)
    np.testing.assert_array_equal(ok, (g1 <= cap) & (g2 <= cap))
    assert 0 < ok.sum() < len(grid)
    pure_b = grid[(grid == [0, 1]).all(axis=1)]
    assert (worst_gap(one, "accuracy", ["a", "b"], ["b", "c"], pure_b) <= 1e-12).all()   # b alone is one of the laws


def test_bad_screen_input_is_refused():
    with pytest.raises(ValueError, match="no out-of-fold predictions of z"):
        MixData(_oof(), "accuracy", ["a", "z"])
    with pytest.raises(ValueError, match="step dividing 1"):
        simplex_grid(3, 0.3)
    d = MixData(_oof(), "accuracy", ["a", "b"])
    with pytest.raises(ValueError, match="more than 2 components"):
        trimmed_mean(d, ["a", "b"])


def _scale_models(n: int = 80, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"total_params": 10 ** rng.uniform(8, 10.5, n), TOK: 10 ** rng.uniform(1.5, 3.5, n)})
    y = 0.3 + 0.1 * np.log10(X.total_params / 1e8) + rng.normal(0, 0.01, n)
    y[rng.random(n) < 0.15] += 0.4          # outliers: a robust loss should not follow them
    return X, np.clip(y, 0, 1)


@pytest.mark.parametrize("objective", ["reg:absoluteerror", "reg:pseudohubererror"])
def test_robust_tree_losses_follow_the_bulk_not_the_outliers(objective):
    X, y = _scale_models()
    clean = y < 0.3 + 0.1 * np.log10(X.total_params / 1e8) + 0.1
    fixed = {"max_depth": 2, "learning_rate": 0.1, "n_estimators": 150}
    sq = XGBSearchRegressor(feature_kind="scaling", monotone=True, params=fixed).fit(X, y)
    rob = XGBSearchRegressor(feature_kind="scaling", monotone=True, params=fixed, objective=objective).fit(X, y)
    p = rob.predict(X)
    assert np.all((p > 0) & (p < 1))        # the pseudo-Huber loss starts from the median, not XGBoost's own start
    assert np.abs(p - y)[clean].mean() < np.abs(sq.predict(X) - y)[clean].mean()


def test_subsample_changes_the_trees_deterministically_and_bad_losses_are_refused():
    X, y = _scale_models()
    fixed = {"max_depth": 2, "learning_rate": 0.1, "n_estimators": 50}
    a = XGBSearchRegressor(feature_kind="scaling", params=fixed, subsample=0.7, seed=1).fit(X, y).predict(X)
    b = XGBSearchRegressor(feature_kind="scaling", params=fixed, subsample=0.7, seed=1).fit(X, y).predict(X)
    full = XGBSearchRegressor(feature_kind="scaling", params=fixed, seed=1).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, full)
    for bad, match in (({"objective": "reg:gamma"}, "objective must be one of"), ({"subsample": 0}, "subsample"),
                       ({"subsample": True}, "subsample")):
        est = XGBSearchRegressor(feature_kind="scaling", params=fixed, **bad)
        with pytest.raises(ValueError, match=match):
            est.fit(X, y)
        assert not hasattr(est, "booster_")


def test_crossfit_chooses_each_folds_weights_without_its_rows():
    from performance_prediction.mix_screen import crossfit

    oof = _oof(3)
    # predictor "c" is exact on fold 0 only and useless elsewhere: a choice that saw fold 0 would pick it there
    is0 = oof.fold == 0
    c = oof.predictor == "c"
    oof.loc[c & is0, "y_pred"] = oof.loc[c & is0, "y_true"]
    oof.loc[c & ~is0, "y_pred"] = 1.0 - oof.loc[c & ~is0, "y_true"]
    for name, bias in (("a", 0.01), ("b", 0.1)):      # "a" beats "b" on every fold
        oof.loc[oof.predictor == name, "y_pred"] = oof.loc[oof.predictor == name, "y_true"] + bias
    d = MixData(oof, "accuracy", ["a", "b", "c"])
    grid = simplex_grid(3, 0.5)
    for by_task in (False, True):
        pred, chosen = crossfit(d, grid, by_task=by_task)
        assert not np.isnan(pred).any()
        fold0 = (d.keys.fold == 0).to_numpy()
        # on fold 0 the weights came from folds 1-2, where "a" is best: the exact "c" is not used
        np.testing.assert_allclose(pred[fold0], d.P[fold0] @ np.array([1.0, 0.0, 0.0]))
        n_choices = d.keys.groupby(["seed", "task"] if by_task else ["seed"]).fold.nunique().sum()
        assert len(chosen) == n_choices
    # choosing on all rows (not cross-fitted) would have scored better on fold 0 than the cross-fitted choice
    assert d.mean_mae(pred) > d.mean_mae(np.where((d.keys.fold == 0).to_numpy(), d.column("c"), pred))
