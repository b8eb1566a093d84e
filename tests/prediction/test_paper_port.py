"""The paper port against our re-statement of the paper's script (performance_predict_from_db.py)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from performance_prediction import paper_port as pp


def test_task_names_follow_the_papers_mapping():
    cases = {("anli_r1", "0-shot"): "anli", ("anli", "0-shot"): "anli", ("xnli_en", "0-shot"): "xnli",
             ("mmlu_anatomy", "5-shot"): "mmlu_5-shot", ("mmlu_anatomy", "25-shot"): "mmlu_25-shot",
             ("truthfulqa_mc2", "0-shot"): "truthfulqa", ("lambada_openai", "0-shot"): "lambada",
             ("gsm8k_cot", "5-shot"): "gsm8k", ("gsm8k", "8-shot"): None, ("arithmetic_2da", "5-shot"): None,
             ("drop", "3-shot"): None, ("truthfulqa:mc", "0-shot"): None, ("hellaswag", "10-shot"): "hellaswag",
             ("hellaswag", "0-shot"): None, ("logiqa2", "0-shot"): "logiqa2"}
    for (bench, setting), want in cases.items():
        assert pp.paper_task_name(bench, setting) == want, (bench, setting)
    # the task loop keeps only the default settings of the root task
    assert pp.root_task("mmlu_25-shot") == "mmlu" and "25-shot" not in pp.BENCHMARK_DEFAULTS["mmlu"]


def test_duplicates_keep_the_first_row_in_store_order_and_count_differences():
    scores = pd.DataFrame({"id": ["a", "a", "b", "b", "c"],
                           "benchmark": ["arc:challenge", "arc_challenge", "arc_challenge", "arc:challenge",
                                         "hendrycksTest-x"],
                           "setting": ["25-shot"] * 4 + ["5-shot"], "value": [0.5, 0.6, 0.7, 0.8, 0.3]})
    kept, n_differ = pp.standardize_names(scores)
    got = kept.set_index("id")["value"].to_dict()
    assert got == {"a": 0.5, "b": 0.7, "c": 0.3}          # first row wins, whatever its name
    assert n_differ == 1                                  # model a: the alias won where lm-eval's name would
    assert kept.loc[kept.id == "c", "benchmark"].item() == "mmlu_x"
    nan_scores = pd.DataFrame({"id": ["a"], "benchmark": ["xnli_en"], "setting": ["0-shot"], "value": [np.nan]})
    assert pp.standardize_names(nan_scores)[1] == 0        # a missing score is not a conflict


def test_aggregation_is_the_mean_of_parts_per_model_sorted_by_id():
    scores = pd.DataFrame({"id": ["b", "b", "a", "a", "a"],
                           "benchmark": ["lambada_openai", "lambada_standard", "anli_r1", "anli_r2", "anli"],
                           "setting": ["0-shot"] * 5, "value": [0.4, 0.6, 0.1, 0.2, 0.6]})
    agg = pp.aggregate_tasks(scores)
    assert agg[["id", "task"]].values.tolist() == [["a", "anli"], ["b", "lambada"]]
    assert agg["value"].tolist() == pytest.approx([0.3, 0.5])


def test_category_codes_count_the_placeholder_and_map_it_to_minus_one():
    # sorted: "GELU" < "___MISSING___" < "gelu" < "swiglu" (upper case sorts before "_", lower case after)
    codes = pp.category_codes(pd.Series(["swiglu", "gelu", None, "GELU"]))
    assert codes == {"GELU": 0.0, pp.PLACEHOLDER: -1.0, "gelu": 2.0, "swiglu": 3.0}
    models = pd.DataFrame({c: [np.nan, 1.0] for c in pp.NUMERIC_VARIABLES} |
                          {c: [None, "x"] for c in pp.CATEGORICAL_VARIABLES}, index=["m1", "m2"])
    enc = pp.encode_features(models, "all")
    assert list(enc.columns) == [*pp.NUMERIC_VARIABLES, *pp.CATEGORICAL_VARIABLES]
    assert (enc.loc["m1"] == -1).all() and (enc.loc["m2", list(pp.CATEGORICAL_VARIABLES)] == 1).all()
    assert (enc.dtypes == np.float32).all()
    non = pp.encode_features(models, "non_scaling_laws")
    assert not set(pp.NON_SCALING_DROPPED) & set(non.columns)
    assert list(pp.encode_features(models, "scaling_laws").columns) == list(pp.SCALING_VARIABLES)


def test_splits_hold_out_an_unused_fifth_of_each_training_fold():
    n = 47
    for seed in (0, 42):
        splits = pp.paper_splits(n, seed)
        tests = np.concatenate([t for _, _, t in splits])
        assert sorted(tests) == list(range(n))            # the outer folds partition the rows
        for fit, unused, test in splits:
            train = n - len(test)
            assert len(unused) == math.ceil(0.2 * train) and len(fit) + len(unused) == train
            assert not (set(fit) & set(unused)) and not ((set(fit) | set(unused)) & set(test))


def _task(n=36, seed=0, n_feat=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_feat)).astype(np.float32)
    X[rng.random(X.shape) < 0.15] = -1.0
    y = (0.3 * X[:, 0] + 0.1 * X[:, 1] + rng.normal(0, 0.05, n)).astype(np.float32)
    cols = [*pp.SCALING_VARIABLES, *[f"f{i}" for i in range(n_feat - 2)]]
    return pp.PaperTask(task="t", setting="0-shot", ids=np.array([f"m{i:02d}" for i in range(n)]),
                        X=pd.DataFrame(X, columns=cols), y=y)


def test_the_unused_fifth_never_changes_a_prediction():
    task = _task()
    _, before = pp.run_task(task, "all", seed=42)
    for fold, (_fit, unused, _test) in enumerate(pp.paper_splits(len(task.y), 42)[:1]):
        y = task.y.copy()
        y[unused] += 10.0                                 # would move any model that saw these rows
        other = pp.PaperTask(task.task, task.setting, task.ids, task.X, y)
        _, after = pp.run_task(other, "all", seed=42)
        b, a = before[before.fold == fold], after[after.fold == fold]
        np.testing.assert_allclose(a.y_pred.to_numpy(), b.y_pred.to_numpy(), rtol=0, atol=1e-7)


def test_grid_order_and_search_match_gridsearchcv_with_xgbregressor():
    """Our fast search (one fit per depth x lr, scored at 50 and 100 trees) = the paper's GridSearchCV."""
    import xgboost as xgb
    from sklearn.model_selection import GridSearchCV, KFold, ParameterGrid, train_test_split

    grid = {k: list(v) for k, v in pp.PAPER_GRID.items()}
    assert pp.grid_order() == list(ParameterGrid(grid))
    task = _task(n=33, seed=3)
    seed = 7
    folds, preds = pp.run_task(task, "all", seed=seed)
    X, y = task.X, pd.Series(task.y)
    outer = list(KFold(3, shuffle=True, random_state=seed).split(X))
    for k, (train, test) in list(enumerate(outer))[:2]:       # two outer folds keep the test short
        X_tr, X_val, y_tr, y_val = train_test_split(X.iloc[train], y.iloc[train], test_size=0.2, random_state=seed)
        base = xgb.XGBRegressor(objective="reg:squarederror", enable_categorical=True, missing=-1,
                                random_state=seed, n_jobs=1)
        gs = GridSearchCV(base, grid, cv=KFold(3, shuffle=True, random_state=seed),
                          scoring="neg_mean_absolute_error", n_jobs=1)
        gs.fit(X_tr, y_tr, eval_set=[(X_val, y_val)], verbose=False)
        model = xgb.XGBRegressor(objective="reg:squarederror", enable_categorical=True, missing=-1,
                                 random_state=seed, n_jobs=1, **gs.best_params_).fit(X_tr, y_tr)
        ours = folds[k]
        assert {p: ours[p] for p in grid} == gs.best_params_
        np.testing.assert_allclose(preds[preds.fold == k].y_pred.to_numpy(), model.predict(X.iloc[test]), atol=1e-6)
        assert ours["med_baseline_mae"] == pytest.approx(np.mean(np.abs(y_tr.median() - y.iloc[test])), abs=1e-6)


def test_load_from_a_store_and_table(store_factory):
    store = store_factory(n_models=40, tasks=("arc_challenge", "hellaswag"))
    try:
        data = pp.load_paper_data(store, "accuracy", "scaling_laws")
        assert [t.task for t in data.tasks] == ["arc_challenge", "hellaswag"]
        t = data.tasks[0]
        assert list(t.ids) == sorted(t.ids) and len(t.ids) == 40
        raw = store.annotations().set_index("id").loc[t.ids, "total_params"].to_numpy(float)
        np.testing.assert_allclose(t.X["total_params"].to_numpy(), np.log(raw))
        small = pp.load_paper_data(store, "accuracy", "all", sel_tasks=["hellaswag"])
        assert [t.task for t in small.tasks] == ["hellaswag"]
    finally:
        store.close()
    result = pp.run_paper_port([data], seeds=(1,), progress=False)
    table = pp.paper_table(result)
    assert set(table.task) == {"arc_challenge", "hellaswag"} and (table.n_models == 40).all()
    f = result.folds[result.folds.task == "hellaswag"]
    assert table.set_index("task").loc["hellaswag", "mae"] == pytest.approx(f["mae"].mean())
    assert table.set_index("task").loc["hellaswag", "std_mae"] == pytest.approx(np.std(f["mae"].to_numpy()))


def test_too_few_models_skip_the_task(store_factory):
    store = store_factory(n_models=20)
    try:
        data = pp.load_paper_data(store, "accuracy", "all")
    finally:
        store.close()
    assert data.tasks == [] and "arc_challenge" in data.skipped
    with pytest.raises(pp.PredictionInputError, match="no task"):
        pp.run_paper_port([data], progress=False)


def test_study_on_a_store_too_small_for_the_paper_says_so(tmp_path, store_factory):
    path = tmp_path / "small.duckdb"
    store_factory(path, n_models=20).close()
    study = pp.paper_port_study(path, ("accuracy",), (1,), progress=False)
    assert study.table.empty and "no task has >= 30 models" in study.notes["no_task"]


def test_port_cli_writes_the_table_and_refuses_a_store_without_tasks(tiny_store_path, tmp_path, capsys):
    from performance_prediction.cli import main

    out = tmp_path / "port"
    assert main(["port", "--db_path", str(tiny_store_path), "--sel_tasks", "hellaswag", "--predictor_type",
                 "scaling_laws", "--seeds", "3", "--output_dir", str(out)]) == 0
    table = pd.read_csv(out / "paper_port.csv")
    assert table[["task", "predictor_type", "n_models"]].values.tolist() == [["hellaswag", "scaling_laws", 40]]
    assert "average MAE across tasks" in capsys.readouterr().out
    assert main(["port", "--db_path", str(tiny_store_path), "--sel_tasks", "hellaswag", "--predictor_type",
                 "non_scaling_laws", "--seeds", "3", "--output_dir", str(out)]) == 0
    table = pd.read_csv(out / "paper_port.csv")        # no params/tokens: no log-linear baseline, as the paper
    assert table.loglinear_baseline_mae.isna().all() and table.mae.notna().all()
    capsys.readouterr()
    bad = tmp_path / "bad"
    assert main(["port", "--db_path", str(tiny_store_path), "--metric", "brier_score", "--output_dir", str(bad)]) == 2
    assert "nothing to predict" in capsys.readouterr().err and not bad.exists()
