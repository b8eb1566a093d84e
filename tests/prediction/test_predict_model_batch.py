"""`njsl predict-model SPECS.csv --out OUT.csv`: batch what-if, partial specs, bad input (issue 12)."""
from __future__ import annotations

import pandas as pd
import pytest

from performance_prediction.what_if import OUT_COLUMNS
from performance_prediction.what_if import main as what_if_main

HEADER = "id,total_params,tokens_billions,activation,pretraining_summary_percentage_code,web\n"


def _run(db, spec, out, *extra):
    return what_if_main([str(spec), "--db_path", str(db), "--metrics", "accuracy", "--out", str(out),
                         "--n_jobs", "1", *extra])


def test_batch_partial_specs_monotone_and_missing_mix_is_the_law(tiny_store_path, tmp_path):
    spec = tmp_path / "specs.csv"
    spec.write_text(HEADER + "full,1e9,100,swiglu,10,90\n"
                             "nomix,1e9,100,,,\n"
                             "big400b,4e11,40000,,,\n"
                             "big1t,1e12,100000,,,\n"
                             "notokens,1e9,,,,\n")
    out = tmp_path / "out.csv"
    assert _run(tiny_store_path, spec, out) == 0
    t = pd.read_csv(out)
    assert list(t.columns) == OUT_COLUMNS
    assert set(t.task) == {"arc_challenge", "hellaswag"} and len(t) == 10
    assert ((t.lower >= 0) & (t.lower <= t.predicted) & (t.predicted <= t.upper) & (t.upper <= 1)).all()
    by = t.set_index(["id", "task"])
    for task in ("arc_challenge", "hellaswag"):
        # an unknown design decision applies no correction: the row is predicted by the law
        assert by.loc[("nomix", task), "basis"] == "law"
        assert by.loc[("notokens", task), "basis"] == "law_params_only"
        assert by.loc[("notokens", task), "predictor"] == "law_sigmoid_params"
        # more compute, otherwise equal spec: never lower; the two large plans differ
        small, mid = by.loc[("nomix", task), "predicted"], by.loc[("big400b", task), "predicted"]
        big = by.loc[("big1t", task), "predicted"]
        assert small <= mid <= big and big != mid
        # tokens unknown: the params-only law, with a wider interval than the same spec with tokens
        w = by.upper - by.lower
        assert w.loc[("notokens", task)] > w.loc[("nomix", task)]


def test_yaml_list_of_specs(tiny_store_path, tmp_path):
    spec = tmp_path / "specs.yaml"
    spec.write_text("models:\n  - {id: a, total_params: 1e9, tokens_billions: 100, data: {code: 20, web: 80}}\n"
                    "  - {id: b, total_params: 2e9}\n")
    out = tmp_path / "out.csv"
    assert _run(tiny_store_path, spec, out, "--tasks", "hellaswag") == 0
    t = pd.read_csv(out)
    assert list(t.id) == ["a", "b"] and set(t.task) == {"hellaswag"}
    assert t.set_index("id").loc["b", "basis"] == "law_params_only"


@pytest.mark.parametrize("body, extra, message", [
    (HEADER + "ok,1e9,100,,,\nneg,-1,100,,,\n", (), "row 2 (id 'neg'): field 'total_params' must be > 0"),
    (HEADER + "zero,1e9,0,,,\n", (), "row 1 (id 'zero'): field 'tokens_billions' must be > 0"),
    (HEADER + "mix,1e9,100,,70,50\n", (), "row 1 (id 'mix'): data percentages (web+code+books+reference+academic) "
                                          "sum to 120.0 > 100"),
    ("id,total_params,code\nx,1e9,10\n", (), "lacks required column(s) tokens_billions"),
    (HEADER + "ok,1e9,100,,,\n", ("--tasks", "arc_chalenge"), "unknown task(s) arc_chalenge"),
    (HEADER + "ok,1e9,100,,,\nok,2e9,100,,,\n", (), "duplicate id(s) 'ok'"),
    (HEADER + "ok,1e9,lots,,,\n", (), "row 1 (id 'ok'): field 'tokens_billions' must be a number"),
])
def test_bad_specs_are_named_and_nothing_is_written(tiny_store_path, tmp_path, capsys, body, extra, message):
    spec = tmp_path / "specs.csv"
    spec.write_text(body)
    out = tmp_path / "out.csv"
    assert _run(tiny_store_path, spec, out, *extra) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == [spec]


def test_report_leads_with_conclusions_and_writes_intervals(tiny_store_path, tmp_path):
    """Default report on the tiny store (1 seed): laws, design predictors, extrapolation, coverage, effects."""
    from performance_prediction.cli import main

    out = tmp_path / "report"
    assert main(["report", "--db_path", str(tiny_store_path), "--out", str(out), "--metrics", "accuracy",
                 "--n_seeds", "1", "--n_boot", "5", "--n_jobs", "1", "--sel_tasks", "hellaswag"]) == 0
    preds = pd.read_csv(out / "predictions.csv")
    assert {"lower", "upper"} <= set(preds.columns)
    assert set(preds.scheme) == {"family", "random", "extrapolation"}
    from performance_prediction.predictors import MAIN_DESIGN_PREDICTORS

    main = {"law_blend", *MAIN_DESIGN_PREDICTORS}
    ours = preds[preds.predictor.isin(main) & (preds.scheme == "family")]
    assert set(ours.predictor) == main
    assert ours.lower.notna().all() and (ours.lower <= ours.y_pred).all() and (ours.y_pred <= ours.upper).all()
    assert preds[preds.predictor == "xgb_all"].lower.isna().all()         # no interval of its own
    ext = preds[preds.scheme == "extrapolation"]
    assert ext.groupby("predictor").id.nunique().eq(8).all()             # top 20 % of 40 models
    cov = pd.read_csv(out / "interval_coverage.csv")
    assert {"q1", "q5", "worst_quintile", "worst_family"} <= set(cov.columns)
    eff = pd.read_csv(out / "design_effects.csv")
    assert {"compute_multiplier", "multiplier_lo", "multiplier_hi", "few_families"} <= set(eff.columns)
    index = (out / "index.md").read_text(encoding="utf-8")
    first = index[index.index("## "):]
    assert first.startswith("## Conclusions") and "best pure scaling law" in first
    # the headline table's reference column is the best pure law
    assert "reference = best pure law `law_" in index


def test_a_generation_feature_predictor_without_generation_features_says_so(capsys):
    from types import SimpleNamespace

    from performance_prediction.what_if import _note_missing_generation_features

    bare, with_gen = SimpleNamespace(pseudo_features=[]), SimpleNamespace(pseudo_features=["entropy_mean"])
    _note_missing_generation_features("design_ens4g_gen", {"accuracy": (bare, None)})
    assert "design_ens4g_gen reads generation features, but there are none" in capsys.readouterr().err
    _note_missing_generation_features("design_ens4g_gen", {"accuracy": (with_gen, None)})
    _note_missing_generation_features("design_ens4g", {"accuracy": (bare, None)})
    assert capsys.readouterr().err == ""
