"""Issue 12, session 6: the design predictor that reads the paper's generation features (design_blend_gen_half)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from performance_prediction.laws import LawRegressor, generation_columns


def test_all_means_leaves_out_the_spreads_across_generations():
    pseudo = ("entropy_mean", "entropy_std", "ttr_mean", "imperative_verbs_ratio", "ttr_std")
    assert generation_columns(pseudo, "all") == list(pseudo)
    assert generation_columns(pseudo, "all_means") == ["entropy_mean", "ttr_mean", "imperative_verbs_ratio"]
    X = pd.DataFrame({c: np.arange(4.0) for c in (*pseudo, "total_params")})
    _, raw = LawRegressor(design="all_means", pseudo=pseudo)._raw(X)
    assert "entropy_std" not in raw.num_names and "ttr_std" not in raw.num_names
    assert {"entropy_mean", "ttr_mean", "imperative_verbs_ratio"} <= set(raw.num_names)


def test_unknown_design_set_names_the_choices():
    with pytest.raises(ValueError, match="all_means"):
        LawRegressor(design="everything")._raw(pd.DataFrame({"total_params": [1.0]}))


def test_registered_predictor_uses_generation_features():
    from performance_prediction.design_study import uses_generation_features
    from performance_prediction.predictors import GENERATION_DESIGN_PREDICTORS, make_predictor

    est = make_predictor("design_blend_gen_half")
    assert (est.form, est.design, est.shrink) == ("blend", "all_means", 0.5)
    assert GENERATION_DESIGN_PREDICTORS == ("design_ens4g_gen_eff",)
    bag = make_predictor("design_blend_gen_half_bag")
    assert (bag.form, bag.design, bag.shrink, bag.bags, bag.bag_warm) == ("blend", "all_means", 0.5, 25, True)
    assert uses_generation_features("design_blend_gen_half") and uses_generation_features("design_all")
    assert uses_generation_features("design_blend_gen_half_bag")
    assert not uses_generation_features("design_blend_data_half") and not uses_generation_features("xgb_all")
    # session 10: the ensemble reads them through its law part; everything else is design_ens4g's
    ens, base = make_predictor("design_ens4g_gen"), make_predictor("design_ens4g")
    assert uses_generation_features("design_ens4g_gen") and not uses_generation_features("design_ens4g")
    assert ens.law.get_params() == bag.get_params() and ens.by_metric == base.by_metric
    assert {k: repr(v) for k, v in ens.get_params(deep=False).items() if k != "law"} == \
        {k: repr(v) for k, v in base.get_params(deep=False).items() if k != "law"}
    # session 11: the report's generation-feature predictor is the same on effective tokens
    eff = make_predictor("design_ens4g_gen_eff")
    assert uses_generation_features("design_ens4g_gen_eff") and eff.code_weight == 0.1
    assert eff.law.get_params() == bag.get_params() and eff.by_metric == base.by_metric


def _gen_csv(data, path, rng):
    """A generation-feature CSV for every model of ``data``: one mean that tracks the score, one spread."""
    ids = list(data.models.index)
    pd.DataFrame({"id": ids, "entropy_mean": rng.normal(0, 1, len(ids)),
                  "entropy_std": rng.normal(0, 1, len(ids))}).to_csv(path, index=False)


def test_report_runs_the_generation_design_on_the_same_folds(tiny_store_path, tmp_path):
    from performance_prediction.data import load_data
    from performance_prediction.evaluate import CVConfig
    from performance_prediction.report import ReportConfig, _generation_data, _run_all_cv

    data = load_data(tiny_store_path, metric="accuracy", sel_tasks=["arc_challenge"])
    csv = tmp_path / "gen.csv"
    _gen_csv(data, csv, np.random.default_rng(0))
    cfg = ReportConfig(db_path=str(tiny_store_path), out=str(tmp_path / "r"), metrics=("accuracy",), seeds=(42,),
                       schemes=("family",), predictors=("median",), improvements=(), laws=("law_blend",),
                       designs=(), law_schemes=("family",), interval_predictors=(), progress=False,
                       generation_features_csv=str(csv), generation_designs=("design_blend_gen_half",),
                       sel_tasks=("arc_challenge",), n_jobs=1)
    gen = _generation_data(data, cfg)
    assert gen is not None and gen.pseudo_features == ["entropy_mean", "entropy_std"]
    # merged into the loaded data, the same as loading the store with the CSV
    loaded = load_data(tiny_store_path, metric="accuracy", sel_tasks=["arc_challenge"], pseudo_feats_csv=csv)
    pd.testing.assert_frame_equal(gen.models, loaded.models)
    assert gen.pseudo_features == loaded.pseudo_features
    assert data.pseudo_features == []          # the other predictors keep running without them
    cv = CVConfig(predictors=cfg.predictors, schemes=cfg.schemes, seeds=cfg.seeds, n_jobs=1, progress=False)
    result, _ = _run_all_cv(data, cv, cfg, gen)
    p = result.predictions
    assert set(p.predictor) == {"median", "law_blend", "design_blend_gen_half"}
    folds = {name: g.set_index("id")["fold"].sort_index() for name, g in p.groupby("predictor")}
    pd.testing.assert_series_equal(folds["law_blend"], folds["design_blend_gen_half"])
    # no generation feature anywhere: the predictor is skipped, not run as a copy of the data/arch design
    assert _generation_data(data, ReportConfig(**{**cfg.__dict__, "generation_features_csv": None})) is None
    assert _generation_data(data, ReportConfig(**{**cfg.__dict__, "generation_designs": ()})) is None


def test_report_cli_refuses_a_missing_generation_csv(tiny_store_path, tmp_path, capsys):
    from performance_prediction.cli import main

    out = tmp_path / "r"
    rc = main(["report", "--db_path", str(tiny_store_path), "--out", str(out), "--generation_features",
               str(tmp_path / "nope.csv")])
    assert rc != 0 and "--generation_features: no such file" in capsys.readouterr().err
    assert not out.exists()
