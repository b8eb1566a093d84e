"""Brier ideas of issue 12 (session 5): the Richards (generalised-logistic) law shape and the post-training
design set (instruction / preference tuning)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from performance_prediction.laws import RICHARDS_NU, Curve, DesignEncoder, DesignRaw, LawRegressor, ScaleFrame, fit_law
from performance_prediction.validation import log_compute

TOK = "pretraining_summary_total_tokens_billions"
CODE = "pretraining_summary_percentage_code"


def _brier_models(n: int = 80, seed: int = 0, nu: float = 0.3, tuned_effect: float = 0.0, slope: float = 4.0):
    """Synthetic Brier scores on a falling Richards curve in standardised log compute (floor 1.1, noise .005);
    every 4th model is instruction-tuned, which raises its Brier by ``tuned_effect`` (in u units: a shift of the
    midpoint towards larger compute); every 7th model's tuning is unknown."""
    rng = np.random.default_rng(seed)
    params = 10 ** rng.uniform(8, 10.5, n)
    tokens = 10 ** rng.uniform(1.5, 3.5, n)
    tuned = np.arange(n) % 4 == 0
    X = pd.DataFrame({"total_params": params, TOK: tokens, CODE: rng.uniform(0, 40, n),
                      "is_instruction_tuned": pd.array(tuned, dtype="boolean")},
                     index=[f"org{i % 10}/fam{i % 10}-{i}b" for i in range(n)])
    X.loc[X.index[np.arange(n) % 7 == 3], "is_instruction_tuned"] = pd.NA
    lc = log_compute(X)
    u = slope * (lc - lc.mean()) / lc.std() - 0.3 - tuned_effect * tuned   # slope 4: u spans about +-7
    truth = Curve(False, 2.0, 1.1, 0.6, np.array([1.0]), 0.0, np.zeros(0), nu=nu)
    y = truth.value(u) + rng.normal(0, 0.005, n)
    return X, y, [i.split("-")[0] for i in X.index]


def _scale(X):
    R = ScaleFrame.raw(X)
    return ScaleFrame.fit(R).transform(R)[:, [2]]


def test_gate_derivative_matches_finite_differences():
    u = np.linspace(-6, 6, 41)
    for nu in (0.3, 1.0, 3.0):
        c = Curve(False, 2.0, 1.0, 0.5, np.array([1.0]), 0.0, np.zeros(0), nu=nu)
        h = 1e-6
        fd = (c.gate(u + h)[0] - c.gate(u - h)[0]) / (2 * h)
        np.testing.assert_allclose(c.gate(u)[1], fd, rtol=1e-5, atol=1e-9)
    plain = Curve(True, 1.0, 0.25, 0.9, np.array([1.0]), 0.0, np.zeros(0))
    np.testing.assert_allclose(plain.gate(u)[0], 1 / (1 + np.exp(-u)))   # nu = 1: the plain sigmoid


def test_richards_law_recovers_an_asymmetric_curve_within_its_bounds():
    X, y, _ = _brier_models(nu=0.3)
    S = _scale(X)
    rich = fit_law(S, y, increasing=False, upper=2.0, chance=0.75, shape="richards", n_opt=4)
    again = fit_law(S, y, increasing=False, upper=2.0, chance=0.75, shape="richards", n_opt=4)
    plain = fit_law(S, y, increasing=False, upper=2.0, chance=0.75, n_opt=4)
    assert (rich.nu, rich.base, rich.b) == (again.nu, again.base, again.b)          # deterministic
    assert plain.nu == 1.0 and rich.nu == pytest.approx(0.3, abs=0.05)                # the asymmetry is found
    mae_rich, mae_plain = (float(np.mean(np.abs(c.value(c.u(S)) - y))) for c in (rich, plain))
    assert mae_rich < 0.0045 and mae_rich < 0.7 * mae_plain   # noise .005: MAE ~.004 for the right shape
    assert 0.65 <= rich.base <= 2.0 and 0.0 <= rich.s <= 1.0 and rich.slopes[0] >= 0
    grid = np.linspace(-8, 8, 50)[:, None]
    assert np.all(np.diff(rich.value(rich.u(grid))) <= 1e-12)                         # Brier never rises with compute
    # a curve that wants an extreme exponent stays at the bound
    Xs, ys, _ = _brier_models(nu=0.01)
    steep = fit_law(_scale(Xs), ys, increasing=False, upper=2.0, chance=0.75, shape="richards")
    assert RICHARDS_NU[0] - 1e-9 <= steep.nu <= RICHARDS_NU[1] + 1e-9
    with pytest.raises(ValueError, match="unknown law shape 'cubic'"):
        fit_law(S, y, increasing=False, upper=2.0, chance=0.75, shape="cubic")
    narrow = fit_law(S, y, increasing=False, upper=2.0, chance=0.75, shape="richards", nu_range=(0.7, 1.4))
    assert narrow.nu == pytest.approx(0.7)                                             # held at the given bound
    with pytest.raises(ValueError, match="nu_range"):
        fit_law(S, y, increasing=False, upper=2.0, chance=0.75, shape="richards", nu_range=(1.5, 3.0))


def test_shape_option_of_the_estimator_and_its_registration():
    from performance_prediction.predictors import make_predictor

    X, y, g = _brier_models(nu=0.3)
    kw = {"metric": "brier_score", "task": "logiqa2", "upper": 2.0, "higher_is_better": False, "intervals": False}
    rich = LawRegressor(form="compute", shape="richards", **kw).fit(X, y, g)
    plain = LawRegressor(form="compute", **kw).fit(X, y, g)
    assert rich.curve_.nu < 0.6 and plain.curve_.nu == 1.0
    assert np.mean(np.abs(rich.predict(X) - y)) < np.mean(np.abs(plain.predict(X) - y))
    # richards_compute: the compute part of a blend is Richards, the N/D part the plain sigmoid
    blend = LawRegressor(form="blend", shape="richards_compute", blend_grid=(0.5,), **kw).fit(X, y, g)
    nus = {fitted.form: curve.nu for _, fitted, curve in blend.parts_}
    assert nus["nd"] == 1.0 and nus["compute"] != 1.0
    bad = LawRegressor(form="compute", shape="cubic", **kw)
    with pytest.raises(ValueError, match="unknown law shape"):
        bad.fit(X, y, g)
    assert not hasattr(bad, "parts_")
    est = make_predictor("law_richards_compute")
    assert (est.form, est.shape, est.design) == ("compute", "richards", "none")
    assert LawRegressor().shape == "logistic" and LawRegressor().min_families == 2   # defaults unchanged


def test_tuning_design_set_recovers_a_planted_effect_and_unknown_tuning_is_the_law():
    X, y, g = _brier_models(nu=1.0, tuned_effect=1.0, slope=1.8)
    kw = {"metric": "brier_score", "task": "anli", "upper": 2.0, "higher_is_better": False, "intervals": False}
    est = LawRegressor(form="compute", design="tuning", **kw).fit(X, y, g)
    assert np.isfinite(est.ridge_)                              # the inner family CV keeps the correction
    eff = est.design_effects().set_index("feature")
    # tuned: the midpoint moves to larger compute, i.e. tuning is worth less than 1x compute for Brier
    assert eff.loc["is_instruction_tuned=True", "compute_multiplier"] < 1 < eff.loc["is_instruction_tuned=False",
                                                                                     "compute_multiplier"]
    law = LawRegressor(form="compute", **kw).fit(X, y, g)
    err, err_law = np.abs(est.predict(X) - y), np.abs(law.predict(X) - y)
    tuned = X["is_instruction_tuned"].fillna(False).to_numpy(bool)
    known = X["is_instruction_tuned"].notna().to_numpy()
    assert err[tuned].mean() < 0.5 * err_law[tuned].mean() and err[known].mean() < err_law[known].mean()
    unknown = X.iloc[[0, 4]].copy()
    unknown["is_instruction_tuned"] = pd.NA
    np.testing.assert_allclose(est.predict(unknown), est.law_predict(unknown))   # no correction without the flag


def test_min_families_decides_whether_a_one_family_level_is_used():
    X, _, g = _brier_models()
    X = X.assign(is_instruction_tuned=pd.array([i.startswith("org3/") for i in X.index], dtype="boolean"))
    raw = DesignRaw.from_frame(X, [], ["is_instruction_tuned"])
    assert "is_instruction_tuned=True" not in DesignEncoder().fit(raw, g).names   # one family: memorising it
    assert "is_instruction_tuned=True" in DesignEncoder(min_families=1).fit(raw, g).names
