"""Store features and the pseudo-feature CSV meet in one rule (the store wins); the CSV can go into the store."""
from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd
import pytest

from njsl.documents import Document

from data_tagging import aggregate_features, tag_documents
from data_tagging.aggregate import write_features_to_store
from model_metadata_db import AnalysisStore
from model_metadata_db.cli import main as db_main
from performance_prediction.data import load_data, merge_store_and_csv_features
from performance_prediction.evaluate import CVConfig, run_cv


def test_merge_rule_store_wins_csv_fills_and_is_logged(caplog):
    store = pd.DataFrame({"a": [1.0, np.nan, np.nan], "only_store": [5.0, 6.0, 7.0]}, index=["m1", "m2", "m3"])
    csv = pd.DataFrame({"a": [10.0, 20.0], "b": [0.5, 0.6]}, index=["m1", "m2"])
    with caplog.at_level(logging.INFO, logger="performance_prediction.data"):
        out = merge_store_and_csv_features(store, csv)
    assert out.loc["m1", "a"] == 1.0  # both: the store's value
    assert out.loc["m2", "a"] == 20.0  # only the CSV: filled
    assert math.isnan(out.loc["m3", "a"]) and math.isnan(out.loc["m3", "b"])  # neither
    assert out.loc["m2", "b"] == 0.6 and list(out["only_store"]) == [5.0, 6.0, 7.0]
    assert "1 value(s) filled from the CSV, 1 kept from the store where both had one (store wins)" in caplog.text


NEW_MODEL_DOCS = [
    "Question: How do I make bread? Answer: Mix flour and water, then knead the dough for ten minutes.",
    "The committee met on 3 May 2021 and approved 12 of the 15 proposals, but rejected the rest because of cost.",
    "Use a sharp knife. Cut the onions and keep the skins for the stock, or throw them away.",
]
FEATURES = ["question_words_ratio", "imperative_verbs_ratio", "conjunctions_ratio", "instructions_words_ratio",
            "numbers_ratio", "char_len_mean"]


def test_new_model_features_reach_the_predictor_with_the_papers_csv(store_factory, tmp_path):
    """Taggers -> store under the paper's names -> load_data with the CSV -> a cross-validated predictor."""
    path = tmp_path / "s.duckdb"
    store_factory(path, n_models=24).close()
    with AnalysisStore.from_existing(path) as store:
        ids = sorted(store.models_with_features()["id"])
    new_model, paper_models = ids[0], ids[1:]
    feats = aggregate_features(tag_documents([Document(str(i), t) for i, t in enumerate(NEW_MODEL_DOCS)],
                                             "char_len,keyword_ratios"))
    assert set(FEATURES) <= set(feats)  # the paper's column names, no renaming needed
    write_features_to_store(path, "model", new_model, feats, "test:taggers")
    rng = np.random.default_rng(0)
    csv = tmp_path / "paper.csv"
    paper = pd.DataFrame({"id": paper_models, **{f: rng.uniform(1, 100, len(paper_models)) for f in FEATURES}})
    paper.loc[len(paper)] = [new_model] + [-1.0] * len(FEATURES)  # a stale CSV row: the store must win
    paper.to_csv(csv, index=False)

    data = load_data(path, pseudo_feats_csv=csv, min_models=5)
    for f in FEATURES:
        assert f in data.pseudo_features
        assert data.models.loc[new_model, f] == pytest.approx(feats[f])  # from the store, not -1 from the CSV
        first = paper_models[0]
        assert data.models.loc[first, f] == pytest.approx(paper.set_index("id").loc[first, f])
    res = run_cv(data, CVConfig(predictors=("xgb_all",), schemes=("random",), seeds=(1,), grid="fast",
                                max_bin=16, n_jobs=1, progress=False))
    assert new_model in set(res.predictions["id"])

    # The CSV imported into the store: existing values are kept (the store wins here too), the rest filled in,
    # and the predictor sees the same numbers without --pseudo_feats_csv.
    assert db_main(["import-features", str(csv), "--db", str(path)]) == 0
    again = load_data(path, min_models=5)
    for f in FEATURES:
        pd.testing.assert_series_equal(again.models[f], data.models[f], check_names=False)


def test_import_features_bad_input_writes_nothing(tmp_path, capsys):
    path = tmp_path / "s.duckdb"
    AnalysisStore.create(path).close()
    bad = {
        "noid.csv": ("model,x\na,1\n", "has no 'id' column"),
        "dup.csv": ("id,x\na,1\na,2\n", "dup.csv:3: id 'a' appears twice"),
        "text.csv": ("id,x,y\na,1,2\nb,3,high\n", "text.csv:3: column 'y' holds 'high', not a number"),
        "emptyid.csv": ("id,x\na,1\n ,2\n", "emptyid.csv:3: empty 'id'"),
    }
    for name, (content, message) in bad.items():
        (tmp_path / name).write_text(content)
        assert db_main(["import-features", str(tmp_path / name), "--db", str(path)]) == 2
        assert message in capsys.readouterr().err
    assert db_main(["import-features", str(tmp_path / "missing.csv"), "--db", str(path)]) == 2
    with AnalysisStore.from_existing(path) as store:
        assert store.features().empty  # not even the good first rows were written


def test_import_the_papers_csv(shared, tmp_path, capsys):
    csv = shared / "data" / "generation_features" / "all_models_feature_stats_3_03_with_ratios.csv"
    if not csv.is_file():
        pytest.skip(f"{csv} not found")
    path = tmp_path / "s.duckdb"
    assert db_main(["import-features", str(csv), "--db", str(path)]) == 2  # a mistyped --db never starts a store
    assert not path.exists()
    assert db_main(["import-features", str(csv), "--db", str(path), "--create"]) == 0
    paper = pd.read_csv(csv).set_index("id")
    n_values = int(paper.notna().sum().sum())
    assert f"imported {n_values} feature value(s) of {len(paper)} model(s)" in capsys.readouterr().out
    with AnalysisStore.from_existing(path) as store:
        wide = store.features_wide("model")
    assert wide.loc[paper.index[0], "imperative_verbs_ratio"] == pytest.approx(paper.iloc[0]["imperative_verbs_ratio"])
    assert "entropy_std" not in wide.columns  # all empty in the paper's CSV: nothing stored, not 0
