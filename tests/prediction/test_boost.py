"""design_boost: a scaling law + shrunk boosted trees on design features fitted to its logit residuals."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from performance_prediction.boost import LawBoostRegressor
from performance_prediction.predictors import make_predictor
from performance_prediction.validation import log_compute

TOK = "pretraining_summary_total_tokens_billions"
CODE = "pretraining_summary_percentage_code"
WEB = "pretraining_summary_percentage_web"


def _logit(p):
    return np.log(p / (1 - p))


def _world(n: int = 90, seed: int = 3, code_lift: float = 0.0):
    """Models on a sigmoid in log compute; a code share above 20 % adds ``code_lift`` in logit space (a step a
    midpoint shift cannot express but a depth-2 tree can). 15 families."""
    rng = np.random.default_rng(seed)
    params, tokens = 10 ** rng.uniform(8, 10.5, n), 10 ** rng.uniform(1.5, 3.5, n)
    code = rng.uniform(0, 40, n)
    X = pd.DataFrame({"total_params": params, TOK: tokens, CODE: code, WEB: 100 - code},
                     index=[f"org{i % 15}/fam{i % 15}-{i}b" for i in range(n)])
    lc = log_compute(X)
    p = 0.25 + 0.7 / (1 + np.exp(-1.5 * (lc - lc.mean()) / lc.std()))
    y = 1 / (1 + np.exp(-(_logit(p) + code_lift * (code > 20)))) + rng.normal(0, 0.004, n)
    return X, y, [i.split("-")[0] for i in X.index]


def _spec(params, tokens, code):
    code = np.asarray(code, float)
    return pd.DataFrame({"total_params": params, TOK: tokens, CODE: code, WEB: 100 - code})


def test_trees_learn_a_design_step_the_law_cannot_and_unknown_design_is_the_law():
    X, y, g = _world(code_lift=0.6)
    est = LawBoostRegressor(design="data", intervals=False).fit(X, y, g)
    assert est.n_rounds_ > 0                                    # the inner family CV keeps the trees
    assert np.mean(np.abs(est.predict(X) - y)) < 0.6 * np.mean(np.abs(est.law_predict(X) - y))
    hi, lo = est.predict(_spec([3e9, 3e9], [300, 300], [35, 5]))
    assert hi - lo > 0.05                                       # more code: higher, as simulated
    blank = _spec([3e9], [300], [np.nan])
    assert est.predict(blank)[0] == pytest.approx(est.law_predict(blank)[0], abs=1e-12)
    assert not est.design_applied(blank)[0] and est.design_applied(_spec([3e9], [300], [35]))[0]


def test_no_design_signal_keeps_the_law_and_fits_are_deterministic():
    X, y, g = _world(code_lift=0.0)
    a = LawBoostRegressor(design="data", margin=0.02, intervals=False).fit(X, y, g)
    b = LawBoostRegressor(design="data", margin=0.02, intervals=False).fit(X, y, g)
    assert a.n_rounds_ == 0
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    np.testing.assert_array_equal(a.predict(X), a.law_predict(X))


def test_correction_is_monotone_in_compute_and_bounded_beyond_the_training_range():
    X, y, g = _world(code_lift=0.6)
    est = LawBoostRegressor(design="data").fit(X, y, g)
    sizes = [1e8, 1e9, 1e10, 1e11, 1e12, 1e13]
    spec = _spec(sizes, [t * 20 for t in np.array(sizes) / 1e9], [35] * 6)
    p = est.predict(spec)
    assert np.all(np.diff(p) >= -1e-12)
    # the shift in logit space never exceeds the largest one the trees make on the training models
    train_shift = np.abs(_logit(est.predict(X)) - _logit(est.law_predict(X))).max()
    far = np.abs(_logit(np.clip(p, 1e-9, 1 - 1e-9)) - _logit(np.clip(est.law_predict(spec), 1e-9, 1 - 1e-9)))
    assert far.max() <= train_shift + 1e-9
    lo, hi = est.predict_interval(spec)
    assert np.all((lo >= 0) & (lo <= p) & (p <= hi) & (hi <= 1))
    assert (hi - lo)[-1] > (hi - lo)[2]                          # wider far beyond the data


def test_registered_and_bad_base_is_a_clear_error():
    est = make_predictor("design_boost", task="arc_challenge", seed=1)
    assert isinstance(est, LawBoostRegressor) and est.design == "data_arch"
    X, y, g = _world(n=40)
    with pytest.raises(ValueError, match="unknown base 'cubic'"):
        LawBoostRegressor(base="cubic").fit(X, y, g)


def test_one_full_fit_serves_effects_probe_and_unscored_predictions(tiny_store_path, monkeypatch):
    """Issue 12 (session 3): the design predictor is fit once per task with the report's first seed; the
    effects, the missingness probe and the predictions of unscored models reuse that fit."""
    from performance_prediction import design_study
    from performance_prediction.data import load_data
    from performance_prediction.evaluate import CVConfig
    from performance_prediction.what_if import predict_models

    data = load_data(tiny_store_path, metric="accuracy", sel_tasks=["hellaswag"])
    cfg = CVConfig(seeds=(42,), grid="fast", max_bin=32)
    fits = design_study.full_fits(data, ("law_auto", "design_arch"), cfg)
    assert set(fits) == {("hellaswag", "law_auto"), ("hellaswag", "design_arch")}
    assert fits[("hellaswag", "design_arch")].seed == 42
    effects_reused = design_study.design_effects(data, "design_arch", n_boot=3, seed=42, fits=fits)
    probe_reused = design_study.missingness_probe(data, ("design_arch",), seed=42, fits=fits)
    X = data.task_frame("hellaswag")[0]
    planned = X.iloc[:3].rename(index=lambda i: f"planned/{i}")
    table = predict_models(data, planned, None, cfg, "design_arch", only_unscored=False, fits=fits)

    def refuse(*a, **k):
        raise AssertionError("fit again instead of reusing the full fit")

    monkeypatch.setattr("performance_prediction.what_if._fit", refuse)
    assert predict_models(data, planned, None, cfg, "design_arch", only_unscored=False,
                          fits=fits).equals(table)
    # the same seed without the shared fits gives the same numbers (so nothing but the fitting is saved)
    monkeypatch.undo()
    pd.testing.assert_frame_equal(design_study.design_effects(data, "design_arch", n_boot=3, seed=42),
                                  effects_reused)
    pd.testing.assert_frame_equal(design_study.missingness_probe(data, ("design_arch",), seed=42), probe_reused)
    assert table.predicted.notna().all()


def test_probe_compares_each_design_predictor_with_its_own_law(tiny_store_path):
    """The missingness probe's reference: a design-aware predictor's own law (without the data mix,
    design_blend_data *is* its law), the main pure law for the trees."""
    from performance_prediction import design_study
    from performance_prediction.data import load_data

    data = load_data(tiny_store_path, metric="accuracy", sel_tasks=["hellaswag"])
    probe = design_study.missingness_probe(data, ("design_blend_data", "xgb_all"), seed=42).set_index("predictor")
    assert probe.loc["design_blend_data", "reference"] == "own law of design_blend_data"
    assert probe.loc["design_blend_data", "towards_law"] == 1.0
    assert probe.loc["xgb_all", "reference"] == design_study.PROBE_LAW
