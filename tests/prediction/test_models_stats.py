import warnings

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from scipy import stats

from performance_prediction.conformal import conformal_quantile, coverage
from performance_prediction.errors import PredictionInputError
from performance_prediction.predictors import PREDICTORS, XGBSearchRegressor, make_predictor
from performance_prediction.significance import bh, compare, corrected_resampled_ttest
from performance_prediction.validation import outer_splits


def _frame(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"total_params": 10 ** rng.uniform(8, 10, n),
                      "pretraining_summary_total_tokens_billions": 10 ** rng.uniform(1, 3, n),
                      "pretraining_summary_percentage_code": rng.uniform(0, 50, n),
                      "activation": rng.choice(["gelu", "swiglu"], n)},
                     index=[f"m{i}" for i in range(n)])
    y = 0.1 * np.log10(X.total_params) - 0.003 * X.pretraining_summary_percentage_code + rng.normal(0, 0.005, n)
    return X, y.to_numpy()


def test_registry_has_paper_predictors_and_rejects_unknown():
    assert {"median", "loglinear", "xgb_scaling", "xgb_all"} <= set(PREDICTORS)
    with pytest.raises(PredictionInputError, match="unknown predictor 'nope'"):
        make_predictor("nope")


@pytest.mark.parametrize("name", ["median", "loglinear", "xgb_scaling", "xgb_all", "xgb_all_logit", "xgb_resid",
                                  "xgb_all_mono"])
def test_predictors_fit_predict(name):
    X, y = _frame()
    est = make_predictor(name, grid={"max_depth": [2], "learning_rate": [0.3], "n_estimators": [20, 40]}, seed=1)
    pred = est.fit(X.iloc[:45], y[:45]).predict(X.iloc[45:])
    assert pred.shape == (15,) and np.isfinite(pred).all()
    if name != "median":
        assert np.mean(np.abs(pred - y[45:])) < np.mean(np.abs(np.median(y[:45]) - y[45:]))


def _brute_force_search(est, Z, y, groups, grid):
    """The inner search re-stated without its shortcut: one separately trained booster per (depth, lr, trees),
    summed absolute error over the same inner folds, first minimum in (depth, lr, trees) order."""
    from sklearn.model_selection import GroupKFold, KFold

    if groups is not None:
        splits = list(GroupKFold(est.inner_folds, shuffle=True, random_state=est.seed).split(Z, y, groups))
    else:
        splits = list(KFold(est.inner_folds, shuffle=True, random_state=est.seed).split(Z))
    errors = {}
    for depth in grid["max_depth"]:
        for lr in grid["learning_rate"]:
            for n in sorted(grid["n_estimators"]):
                total = 0.0
                for tr, va in splits:
                    booster = xgb.train({**est._base_params(), "max_depth": depth, "eta": lr},
                                        xgb.DMatrix(Z[tr], y[tr]), n)
                    total += np.abs(booster.predict(xgb.DMatrix(Z[va])) - y[va]).sum()
                errors[(depth, lr, n)] = total
    best = min(errors, key=errors.get)  # dicts keep insertion order: ties go to the first, as in _search
    return {"max_depth": best[0], "learning_rate": best[1], "n_estimators": best[2]}, errors


@pytest.mark.parametrize("grouped", [False, True])
def test_search_picks_what_separate_fits_pick(grouped):
    """XGBSearchRegressor._search (one booster per (depth, lr), scored at every size with iteration_range)
    chooses exactly what training a separate model per grid point chooses."""
    X, y = _frame()
    groups = np.repeat(np.arange(12), 5) if grouped else None
    grid = {"max_depth": [1, 3], "learning_rate": [0.05, 0.3], "n_estimators": [5, 20, 60]}
    est = XGBSearchRegressor(feature_kind="all", max_bin=32, grid=grid, seed=3).fit(X, y, groups=groups)
    Z = est.encoder_.transform(X)
    chosen = est._search(Z, y, y, X, groups, est._base_params(), grid)
    expected, errors = _brute_force_search(est, Z, y, groups, grid)
    assert len({round(e, 9) for e in errors.values()}) > 1  # the grid points differ: the choice means something
    assert chosen == expected == est.best_params_


def test_monotone_constraint_holds():
    X, y = _frame()
    est = XGBSearchRegressor(feature_kind="all", monotone=True, search=False).fit(X, y)
    grid = pd.concat([X.iloc[[0]]] * 20)
    grid["total_params"] = np.logspace(8, 10, 20)
    assert np.all(np.diff(est.predict(grid)) >= -1e-9)


def test_family_splits_never_share_a_family():
    groups = np.repeat(np.arange(10), 5)
    for tr, te in outer_splits("family", 50, groups, 3, seed=3):
        assert not set(groups[tr]) & set(groups[te])
    a = outer_splits("family", 50, groups, 3, seed=1)
    b = outer_splits("family", 50, groups, 3, seed=2)
    assert any(not np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=False))   # seeds reshuffle families


def test_corrected_ttest_matches_formula_and_is_more_conservative():
    d = np.array([0.01, 0.012, 0.008, 0.011, 0.009, 0.013, 0.007, 0.010, 0.012])
    t, p = corrected_resampled_ttest(d, n_train=60, n_test=30)
    expected = d.mean() / np.sqrt((1 / 9 + 30 / 60) * d.var(ddof=1))
    assert t == pytest.approx(expected)
    assert p > stats.ttest_1samp(d, 0).pvalue


def test_corrected_ttest_has_no_answer_for_a_single_fixed_split():
    """The extrapolation scheme tests on one split: no training share to correct with, so no test (no warning)."""
    d = np.array([0.01, 0.012, 0.008])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t, p = corrected_resampled_ttest(d, n_train=0, n_test=20)
    assert np.isnan(t) and np.isnan(p)


def test_bh_matches_definition():
    p = np.array([0.01, 0.04, 0.03, 0.2])
    q = bh(p)
    order = np.argsort(p)
    raw = p[order] * len(p) / np.arange(1, len(p) + 1)
    expected = np.minimum.accumulate(raw[::-1])[::-1]
    np.testing.assert_allclose(q[order], np.minimum(expected, 1))


def test_compare_reports_all_tests():
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(5):
        for fold in range(3):
            for i in range(10):
                y = rng.uniform()
                rows += [dict(task="t", scheme="family", seed=seed, fold=fold, predictor="xgb_all", id=f"m{fold}{i}",
                              family=f"f{i % 4}", y_true=y, y_pred=y + rng.normal(0, 0.01)),
                         dict(task="t", scheme="family", seed=seed, fold=fold, predictor="xgb_scaling",
                              id=f"m{fold}{i}", family=f"f{i % 4}", y_true=y, y_pred=y + rng.normal(0, 0.05))]
    out = compare(pd.DataFrame(rows), n_perm=200)
    r = out.iloc[0]
    assert r.mean_gain > 0 and r.p_paired < r.p_corrected
    for col in ("q_paired", "q_corrected", "q_family_perm"):
        assert 0 <= r[col] <= 1


def test_conformal_quantile_and_coverage():
    assert conformal_quantile(np.arange(1, 11), alpha=0.1) == 10
    rng = np.random.default_rng(0)
    rows = [dict(task="t", scheme="random", seed=0, fold=i % 3, predictor="xgb_all", id=str(i), y_true=0.0,
                 y_pred=rng.normal()) for i in range(600)]
    cov = coverage(pd.DataFrame(rows), "xgb_all", alpha=0.1)
    assert 0.85 <= cov.coverage.iloc[0] <= 0.95
