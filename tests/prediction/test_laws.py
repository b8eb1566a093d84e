"""Scaling laws, the design-aware shift, their intervals and the extrapolation split (issue 12)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from performance_prediction.laws import CHANCE_LEVELS, LawRegressor, ScaleFrame, chance_level, fit_law
from performance_prediction.validation import log_compute, outer_splits

TOK = "pretraining_summary_total_tokens_billions"
CODE = "pretraining_summary_percentage_code"


def _models(n: int = 60, seed: int = 0, code_effect: float = 0.0, missing_mix: float = 0.0):
    """Synthetic models on a known sigmoid in log compute; code share shifts the midpoint by ``code_effect``
    per 10 points (in units of the standardised log compute)."""
    rng = np.random.default_rng(seed)
    params = 10 ** rng.uniform(8, 10.5, n)
    tokens = 10 ** rng.uniform(1.5, 3.5, n)
    code = rng.uniform(0, 40, n)
    X = pd.DataFrame({"total_params": params, TOK: tokens, CODE: code,
                      "pretraining_summary_percentage_web": 100 - code},
                     index=[f"org{i % 10}/fam{i % 10}-{i}b" for i in range(n)])
    lc = log_compute(X)
    z = (lc - lc.mean()) / lc.std()
    u = 1.8 * z - 0.3 + code_effect * (code - code.mean()) / 10
    y = 0.25 + 0.7 * 0.9 / (1 + np.exp(-u)) + rng.normal(0, 0.005, n)
    if missing_mix:
        drop = rng.random(n) < missing_mix
        X.loc[drop, [CODE, "pretraining_summary_percentage_web"]] = np.nan
    return X, y, [i.split("-")[0] for i in X.index]


def test_chance_table_covers_the_paper_tasks():
    from performance_prediction.tasks import ACCURACY_TASKS, BRIER_TASKS

    assert {t.name for t in (*ACCURACY_TASKS, *BRIER_TASKS)} <= set(CHANCE_LEVELS)
    assert chance_level("winogrande", "accuracy") == 0.5 and chance_level("mathqa", "brier_score") == pytest.approx(0.8)
    assert chance_level("mmlu_abstract_algebra_5-shot", "accuracy") == 0.25


def test_sigmoid_law_recovers_curve_within_bounds_and_is_deterministic():
    X, y, _ = _models()
    R = ScaleFrame.raw(X)
    Z = ScaleFrame.fit(R).transform(R)
    a = fit_law(Z[:, [2]], y, increasing=True, upper=1.0, chance=0.25)
    b = fit_law(Z[:, [2]], y, increasing=True, upper=1.0, chance=0.25)
    assert (a.base, a.s, a.b) == (b.base, b.s, b.b)
    assert 0 <= a.base <= 0.35 and a.base + (1 - a.base) * a.s <= 1 + 1e-9      # floor bound, A + B <= 1
    pred = a.value(a.u(Z[:, [2]]))
    assert np.mean(np.abs(pred - y)) < 0.01
    assert a.slopes[0] == pytest.approx(1.8, rel=0.15)


def test_brier_law_falls_with_compute():
    X, y, g = _models()
    yb = 1.2 - (y - 0.25)          # a Brier-like score that falls with scale
    est = LawRegressor(form="compute", metric="brier_score", task="anli", upper=2.0,
                       higher_is_better=False).fit(X, yb, g)
    big = X.iloc[:2].copy()
    big["total_params"] = [1e9, 1e11]
    p = est.predict(big)
    assert p[1] < p[0]


def test_accuracy_prediction_never_falls_with_compute_and_extrapolates():
    X, y, g = _models()
    est = LawRegressor(form="auto", design="data").fit(X, y, g)
    spec = pd.DataFrame({"total_params": [1e8, 1e9, 7e10, 4e11, 1e12], TOK: [10, 100, 15e3, 40e3, 100e3],
                         CODE: 10.0, "pretraining_summary_percentage_web": 90.0})
    p = est.predict(spec)
    assert np.all(np.diff(p) >= -1e-12)
    lo, hi = est.predict_interval(spec)
    assert np.all((lo >= 0) & (lo <= p) & (p <= hi) & (hi <= 1))
    # far outside the training range the interval is wider than inside it
    assert (hi - lo)[-1] > (hi - lo)[1]


def test_design_shift_recovers_effect_and_unknown_mix_is_the_law():
    X, y, g = _models(n=80, code_effect=0.5, missing_mix=0.3)
    est = LawRegressor(form="compute", design="data", cv_folds=5).fit(X, y, g)
    assert np.isfinite(est.ridge_)                      # the inner CV keeps the correction
    eff = est.design_effects().set_index("feature")
    assert eff.loc[CODE, "compute_multiplier"] > 1      # more code: worth more compute, as simulated
    law = LawRegressor(form="compute").fit(X, y, g)
    row = X.iloc[[0]].copy()
    without = row.copy()
    without[[CODE, "pretraining_summary_percentage_web"]] = np.nan
    # no data mix: no correction at all; the prediction is the design model's own law
    fitted = est.fitted_
    S = fitted.scale.design(fitted.scale.transform(ScaleFrame.raw(without)), fitted.form)
    assert est.predict(without)[0] == pytest.approx(est.curve_.value(S @ est.curve_.slopes + est.curve_.b)[0])
    assert abs(est.predict(without)[0] - law.predict(without)[0]) < 0.01


def test_design_correction_never_exceeds_its_training_range_beyond_the_data():
    X, y, g = _models(n=200, code_effect=0.5)
    low = np.argsort(log_compute(X))[:90]     # only the flat bottom of the curve is seen in training
    X, y, g = X.iloc[low], y[low], [g[i] for i in low]
    est = LawRegressor(form="compute", design="data", ridge_grid=(1e-5,), select=False, intervals=False).fit(X, y, g)
    law = est.curve_

    def delta(rows):
        fitted = est.fitted_
        S = fitted.scale.design(fitted.scale.transform(ScaleFrame.raw(rows)), fitted.form)
        return est.predict(rows) - law.value(S @ law.slopes + law.b)

    seen = delta(X)
    assert law.dmax == pytest.approx(seen.max()) and law.dmin == pytest.approx(min(seen.min(), 0.0))
    # a small model (flat part of the curve in training) made huge: the raw shift of the steep part would be larger
    spec = pd.DataFrame({"total_params": np.geomspace(1e8, 1e13, 12), TOK: np.geomspace(10, 1e5, 12),
                         CODE: 40.0, "pretraining_summary_percentage_web": 60.0})
    d = delta(spec)
    assert np.all(d <= law.dmax + 1e-12) and np.all(d >= law.dmin - 1e-12)
    assert np.isclose(d, law.dmax).any()      # the bound is what holds the steep part back here
    assert np.all(np.diff(est.predict(spec)) >= -1e-12)


def test_blend_weights_the_two_forms_by_inner_cv():
    """Scores follow separate N and D terms (tokens matter little): the blend must lean to the N/D form, and its
    prediction is exactly the weighted sum of the two forms' laws."""
    X, _, g = _models(n=90, seed=5)
    ln, ld = np.log(X.total_params.to_numpy()), np.log(X[TOK].to_numpy())
    u = 2.5 * (ln - ln.mean()) / ln.std() + 0.2 * (ld - ld.mean()) / ld.std()
    y = 0.25 + 0.7 / (1 + np.exp(-u))
    est = LawRegressor(form="blend", intervals=False).fit(X, y, g)
    assert est.weight_ <= 0.25 and est.form_ == "nd"
    assert est.cv_mae_[(0.0, np.inf)] < est.cv_mae_[(1.0, np.inf)]
    fixed = [LawRegressor(form=f, intervals=False).fit(X, y, g).predict(X) for f in ("compute", "nd")]
    np.testing.assert_allclose(est.predict(X), est.weight_ * fixed[0] + (1 - est.weight_) * fixed[1], atol=1e-9)
    lo, hi = LawRegressor(form="blend").fit(X, y, g).predict_interval(X)
    assert np.all(lo <= hi)


def test_extrapolation_split_tests_on_the_largest_models():
    X, _, g = _models(n=50)
    c = log_compute(X)
    (tr, te), = outer_splits("extrapolation", len(X), g, 3, seed=1, compute=c)
    assert len(te) == 10 and len(tr) == 40
    assert c[te].min() > c[tr].max()
    assert outer_splits("extrapolation", len(X), g, 3, seed=2, compute=c)[0][1].tolist() == te.tolist()


def test_f_scale_grid_keeps_the_value_with_the_lowest_inner_mae():
    """The opt-in ``f_scale_grid`` equals the fixed-``f_scale`` fit whose selected model has the lowest inner
    family-CV MAE; a bad grid value is named and leaves the estimator unfitted."""
    X, y, g = _models(n=60, seed=3)
    y = y.copy()
    y[np.argsort(log_compute(X))[-6:]] += 0.15   # a minority of strong models off the curve
    grid = (0.01, 0.05, 0.2)
    fixed = {f: LawRegressor(form="compute", f_scale=f, intervals=True).fit(X, y, g) for f in grid}
    est = LawRegressor(form="compute", f_scale_grid=grid, intervals=False).fit(X, y, g)
    want = min(grid, key=lambda f: round(fixed[f].cv_best_mae_, 6))
    assert est.f_scale_ == want and est.best_params_["f_scale"] == want
    assert est.cv_best_mae_ == pytest.approx(min(m.cv_best_mae_ for m in fixed.values()))
    np.testing.assert_allclose(est.predict(X), fixed[want].predict(X), atol=1e-12)
    assert len({round(m.cv_best_mae_, 6) for m in fixed.values()}) > 1   # the grid matters on these data
    bad = LawRegressor(form="compute", f_scale_grid=(0.02, -1.0))
    with pytest.raises(ValueError, match="f_scale_grid"):
        bad.fit(X, y, g)
    assert not hasattr(bad, "parts_")


def test_shrink_applies_a_share_of_the_chosen_correction_and_is_validated():
    X, y, g = _models(n=80, code_effect=0.5)
    full = LawRegressor(form="compute", design="data", intervals=False).fit(X, y, g)
    half = LawRegressor(form="compute", design="data", intervals=False, shrink=0.5).fit(X, y, g)
    assert np.isfinite(full.ridge_) and half.ridge_ == full.ridge_   # the ridge is chosen on the full shift
    np.testing.assert_allclose(half.curve_.w, 0.5 * full.curve_.w)
    np.testing.assert_allclose(half.law_predict(X), full.law_predict(X))
    law, f, h = full.law_predict(X), full.predict(X), half.predict(X)
    moved = np.abs(f - law) > 1e-4
    assert moved.sum() > 10
    # half the shift in u: strictly between the law and the full correction, about half-way
    assert np.all((h[moved] - law[moved]) * (f[moved] - law[moved]) > 0)
    assert np.all(np.abs(h[moved] - law[moved]) < np.abs(f[moved] - law[moved]))
    assert np.median(np.abs(h - law)[moved] / np.abs(f - law)[moved]) == pytest.approx(0.5, abs=0.1)
    eff_full, eff_half = full.design_effects(), half.design_effects()
    np.testing.assert_allclose(eff_half.delta_u, 0.5 * eff_full.delta_u)
    from performance_prediction.predictors import make_predictor

    for name, form, design in (("design_arch_half", "auto", "data_arch"), ("design_blend_half", "blend", "data_arch"),
                               ("design_blend_data_half", "blend", "data")):
        est = make_predictor(name)
        assert (est.form, est.design, est.shrink) == (form, design, 0.5)
    with pytest.raises(ValueError, match="shrink must lie in"):
        LawRegressor(form="compute", design="data", intervals=False, shrink=1.5).fit(X, y, g)


def test_rising_richards_law_fits_its_exponent_stays_monotone_and_bounded():
    """Accuracy side of ``shape="richards"`` (test_brier_law.py covers the falling one): on data from an
    asymmetric rising curve it recovers nu and fits better than the plain sigmoid, deterministically; on any
    compute the curve rises and stays in [0, 1] with the floor inside its chance bound; a blend with a design
    shift stays monotone in compute; ``design_arch_half_gl`` is the Richards compute form with nu in [0.3, 3]."""
    from performance_prediction.laws import Curve
    from performance_prediction.predictors import make_predictor

    rng = np.random.default_rng(1)
    z = np.sort(rng.uniform(-2.5, 2.5, 120))[:, None]
    true = Curve(True, 1.0, 0.25, 0.9, np.array([1.5]), 0.2, np.zeros(0), nu=2.5)
    y = true.value(true.u(z)) + rng.normal(0, 0.005, len(z))
    kw = dict(increasing=True, upper=1.0, chance=0.25, max_slope=5.0, n_opt=4)
    plain = fit_law(z, y, **kw)
    gl = fit_law(z, y, shape="richards", nu_range=(0.3, 3.0), **kw)
    again = fit_law(z, y, shape="richards", nu_range=(0.3, 3.0), **kw)
    assert (gl.base, gl.s, gl.b, gl.nu) == (again.base, again.s, again.b, again.nu)
    assert plain.nu == 1.0 and gl.nu == pytest.approx(2.5, abs=0.5) and 0.3 <= gl.nu <= 3.0
    mae = [np.mean(np.abs(c.value(c.u(z)) - y)) for c in (plain, gl)]
    assert mae[1] < 0.8 * mae[0]
    v = gl.value(gl.u(np.linspace(-20, 20, 401)[:, None]))
    assert np.all(np.diff(v) >= -1e-12) and np.all((v >= 0) & (v <= 1)) and 0 <= gl.base <= 0.35
    reg = make_predictor("design_arch_half_gl")
    assert (reg.form, reg.design, reg.shrink, reg.shape, reg.nu_range) == ("auto", "data_arch", 0.5,
                                                                             "richards_compute", (0.3, 3.0))
    X, yy, g = _models()
    est = LawRegressor(form="blend", design="data", shape="richards", nu_range=(0.3, 3.0)).fit(X, yy, g)
    spec = pd.DataFrame({"total_params": [1e8, 1e9, 7e10, 4e11, 1e12], TOK: [10, 100, 15e3, 40e3, 100e3],
                         CODE: 10.0, "pretraining_summary_percentage_web": 90.0})
    assert np.all(np.diff(est.predict(spec)) >= -1e-12)


def test_family_weight_balances_a_big_family_and_is_validated():
    """One family with many sizes on its own curve dominates the equal-weight fit; ``family_weight=1`` gives each
    family the same total weight, so the law moves towards the many small families."""
    from performance_prediction.laws import family_weights

    X, y, g = _models(n=90, seed=7)
    g = np.array(["big"] * 50 + [f"f{i // 2}" for i in range(40)])
    y = y.copy()
    y[:50] += 0.06                       # the big family sits above the curve the small ones follow
    w = family_weights(g, 1.0)
    assert w.mean() == pytest.approx(1.0) and w[:50].sum() == pytest.approx(w[50:52].sum())
    np.testing.assert_allclose(family_weights(g, 0.0), 1.0)
    small = slice(50, None)
    err = {}
    for p in (0.0, 1.0):
        est = LawRegressor(form="compute", design="data", family_weight=p, intervals=False).fit(X, y, g)
        err[p] = float(np.mean(np.abs(est.predict(X)[small] - y[small])))
    assert err[1.0] < 0.7 * err[0.0]
    for bad in (-0.5, float("nan")):
        est = LawRegressor(form="compute", family_weight=bad)
        with pytest.raises(ValueError, match="family_weight must be"):
            est.fit(X, y, g)
        assert not hasattr(est, "parts_")


def test_blend_weight_ls_stacks_the_two_forms_with_one_continuous_weight():
    """``blend_weight="ls"``: the compute-form share that minimises the squared error of the pure laws' inner
    out-of-fold blend, clipped to [0, 1]; a bad value is named."""
    rng = np.random.default_rng(0)
    comp, nd = rng.uniform(0, 1, 50), rng.uniform(0, 1, 50)
    est = LawRegressor(form="blend", blend_weight="ls")
    assert est._blend_weights(comp, nd, 0.3 * comp + 0.7 * nd, np.ones(50)) == (pytest.approx(0.3),)
    assert est._blend_weights(comp, nd, 2.0 * comp - nd, np.ones(50)) == (1.0,)
    X, y, g = _models(n=60, seed=2)
    fit = LawRegressor(form="blend", blend_weight="ls", intervals=False).fit(X, y, g)
    assert 0.0 <= fit.weight_ <= 1.0 and len({c[0] for c in fit.cv_mae_}) == 1
    bad = LawRegressor(form="blend", blend_weight="stack")
    with pytest.raises(ValueError, match="blend_weight must be"):
        bad.fit(X, y, g)
    assert not hasattr(bad, "parts_")


def test_nd_tie_keeps_the_n_d_law_when_the_inner_cv_cannot_tell_and_is_validated():
    """``nd_tie``: among the laws within that relative tolerance of the best inner MAE, the one with the least
    compute-form share wins (0 = today's choice, the lowest inner MAE)."""
    X, y, g = _models(n=60, seed=4)
    plain = LawRegressor(form="blend", intervals=False).fit(X, y, g)
    laws = {c: e for c, e in plain.cv_mae_.items() if not np.isfinite(c[1])}
    best = min(laws.values())
    for tie in (0.0, 0.05, 10.0):
        est = LawRegressor(form="blend", intervals=False, nd_tie=tie).fit(X, y, g)
        want = min(w for (w, _), e in laws.items() if e <= best * (1 + tie)) if tie else plain.weight_
        assert est.weight_ == want
    assert LawRegressor(form="blend", intervals=False, nd_tie=10.0).fit(X, y, g).weight_ == 0.0
    assert LawRegressor(form="auto", intervals=False, nd_tie=10.0).fit(X, y, g).form_ == "nd"
    assert plain.weight_ > 0.0   # on these data (a compute law) the plain choice is not the N/D law
    for bad in (-0.1, float("nan")):
        est = LawRegressor(form="blend", nd_tie=bad)
        with pytest.raises(ValueError, match="nd_tie must be"):
            est.fit(X, y, g)
        assert not hasattr(est, "parts_")
