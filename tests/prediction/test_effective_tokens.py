"""Issue 12, session 11: effective tokens (a code token counts ``code_weight`` of a natural-language one) in the
ensemble (``effective_tokens.py``, ``EnsembleRegressor(code_weight=...)``, registered ``design_ens4g_eff``)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from performance_prediction.effective_tokens import effective_tokens
from performance_prediction.ensemble import EnsembleRegressor
from performance_prediction.features import DATA_FEATURES
from performance_prediction.laws import LawRegressor
from performance_prediction.predictors import XGBSearchRegressor, make_predictor

TOK = "pretraining_summary_total_tokens_billions"
CODE = "pretraining_summary_percentage_code"
WEB = "pretraining_summary_percentage_web"


def test_tokens_are_reweighted_by_the_code_share_and_an_unknown_share_keeps_them():
    X = pd.DataFrame({TOK: [100.0, 100.0, 100.0, 100.0, np.nan], CODE: [0.0, 50.0, 100.0, np.nan, 20.0],
                      "total_params": 1e9})
    out = effective_tokens(X, 0.1)
    # D * (1 - c + 0.1 c): by hand, 100 -> 100, 55, 10; unknown share -> the real tokens; unknown tokens stay unknown
    np.testing.assert_allclose(out[TOK].to_numpy()[:4], [100.0, 55.0, 10.0, 100.0])
    assert np.isnan(out[TOK].iloc[4])
    assert X[TOK].iloc[1] == 100.0                                     # the input is not changed
    np.testing.assert_array_equal(effective_tokens(X, 1.0)[TOK], X[TOK])  # weight 1: the real tokens
    no_mix = X.drop(columns=CODE)   # no code column: no code share, the English share still counts
    np.testing.assert_array_equal(effective_tokens(no_mix, 0.1)[TOK], X[TOK])
    no_tokens = X.drop(columns=TOK)
    assert effective_tokens(no_tokens, 0.1) is no_tokens
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="code_weight must be in"):
            effective_tokens(X, bad)


def _models(n: int = 60, seed: int = 1):
    """A sigmoid in log effective compute: the code tokens count a tenth (the rule the estimator should find)."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"total_params": 10 ** rng.uniform(8, 10.5, n), TOK: 10 ** rng.uniform(1.5, 3.5, n)},
                     index=[f"org{i % 12}/fam{i % 12}-{i}b" for i in range(n)])
    code = rng.uniform(0, 80, n)
    X[CODE], X[WEB] = code, 100 - code
    d_eff = X[TOK] * (1 - 0.9 * code / 100)
    lc = np.log10(6 * X["total_params"] * d_eff * 1e9)
    y = 0.25 + 0.6 / (1 + np.exp(-1.5 * (lc - lc.mean()) / lc.std())) + rng.normal(0, 0.005, n)
    X.loc[rng.random(n) < 0.2, [CODE, WEB]] = np.nan
    return X, np.clip(y, 0, 1).to_numpy(), np.array([i.split("-")[0] for i in X.index])


def _ens(**kw) -> EnsembleRegressor:
    return EnsembleRegressor(law=LawRegressor(form="compute", design="none"), tree=XGBSearchRegressor(), weight=0.3,
                             **kw)


def test_the_ensemble_reads_effective_tokens_and_its_basis_the_real_ones():
    X, y, g = _models()
    est = _ens(code_weight=0.1).fit(X, y, g)
    same = _ens().fit(effective_tokens(X, 0.1), y, g)   # the same ensemble fitted on transformed data
    np.testing.assert_allclose(est.predict(X), same.predict(effective_tokens(X, 0.1)), atol=1e-12)
    for a, b in zip(est.predict_interval(X), same.predict_interval(effective_tokens(X, 0.1)), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12)
    # the basis: params and the real tokens, i.e. what a spec without its data mix gets
    blank = X.copy()
    blank[[c for c in DATA_FEATURES if c in blank]] = np.nan
    np.testing.assert_allclose(est.predict(blank), est.law_predict(X), atol=1e-12)
    np.testing.assert_allclose(est.law_predict(X), same.law_predict(X), atol=1e-12)
    coded = X[CODE].fillna(0).to_numpy() > 1
    assert est.design_applied(X)[coded].all() and not est.design_applied(blank).any()
    # on data made this way, the effective tokens fit the models that know their mix better than the real ones
    plain = _ens().fit(X, y, g)
    known = X[CODE].notna().to_numpy()
    assert np.mean(np.abs(est.predict(X) - y)[known]) < 0.7 * np.mean(np.abs(plain.predict(X) - y)[known])


def test_monotone_in_tokens_for_a_given_mix_and_more_code_never_raises_an_nl_score():
    X, y, g = _models()
    est = _ens(code_weight=0.1).fit(X, y, g)
    spec = pd.DataFrame({"total_params": 7e9, TOK: [100.0, 1e3, 15e3, 40e3, 100e3], CODE: 30.0, WEB: 70.0})
    assert np.all(np.diff(est.predict(spec)) >= -1e-12)
    mixes = pd.DataFrame({"total_params": 7e9, TOK: 1e3, CODE: [0.0, 20.0, 50.0, 90.0], WEB: [100.0, 80, 50, 10]})
    assert np.all(np.diff(est.predict(mixes)) <= 1e-12)
    with pytest.raises(ValueError, match="code_weight"):
        _ens(code_weight=2.0).fit(X, y, g)


def test_design_ens4g_eff_is_design_ens4g_on_effective_tokens():
    from performance_prediction.predictors import CODE_WEIGHT, DESIGN_PREDICTORS

    eff, base = make_predictor("design_ens4g_eff", metric="accuracy"), make_predictor("design_ens4g", metric="accuracy")
    assert eff.code_weight == CODE_WEIGHT == 0.1 and base.code_weight is None
    assert {k: v for k, v in eff.get_params(deep=False).items() if k not in ("code_weight", "law", "tree", "tree2",
                                                                             "scale_law")} == \
        {k: v for k, v in base.get_params(deep=False).items() if k not in ("code_weight", "law", "tree", "tree2",
                                                                          "scale_law")}
    assert "design_ens4g_eff" in DESIGN_PREDICTORS


def test_conclusions_say_the_code_share_reaches_every_part_as_effective_tokens():
    from performance_prediction.design_study import _scale_trees_caveat

    (eff,) = _scale_trees_caveat("design_ens4g_eff", "accuracy")
    (plain,) = _scale_trees_caveat("design_ens4g", "accuracy")
    assert "a code token counts 0.1 of a natural-language token;" in eff and "effective tokens" not in plain
    (en,) = _scale_trees_caveat("design_ens4g_effen", "accuracy")
    assert "code and English shares" in en and "a non-English natural-language token 0.1" in en


def test_the_non_english_share_of_the_natural_language_tokens_counts_language_weight():
    eng = "pretraining_summary_percentage_english"
    X = pd.DataFrame({TOK: 100.0, CODE: [0.0, 20.0, 20.0, np.nan], eng: [30.0, 50.0, np.nan, 30.0],
                      "total_params": 1e9})
    out = effective_tokens(X, 0.1, 0.1)[TOK].to_numpy()
    # D * ((1 - c) * (e + 0.1 (1 - e)) + 0.1 c), by hand; an unknown English share counts as all English
    np.testing.assert_allclose(out, [100 * (0.3 + 0.07), 100 * (0.8 * 0.55 + 0.02), 100 * (0.8 + 0.02),
                                     100 * (0.3 + 0.07)])
    np.testing.assert_allclose(effective_tokens(X, 0.1)[TOK], 100 * np.array([1.0, 0.82, 0.82, 1.0]))
    np.testing.assert_allclose(effective_tokens(X.drop(columns=CODE), 0.1, 0.1)[TOK], 100 * np.array(
        [0.37, 0.55, 1.0, 0.37]))   # no code column: the English share alone
    with pytest.raises(ValueError, match="language_weight must be in"):
        effective_tokens(X, 0.1, 0.0)
    X2, y, g = _models()
    with pytest.raises(ValueError, match="language_weight needs code_weight"):
        _ens(language_weight=0.1).fit(X2, y, g)
    est = make_predictor("design_ens4g_effen", metric="accuracy")
    assert (est.code_weight, est.language_weight) == (0.1, 0.1)
