"""`njsl db ...`, `njsl summary` and the data-quality checks on the shared release."""
from __future__ import annotations

import json

import pytest

from model_metadata_db import AnalysisStore
from model_metadata_db.checks import benchmark_alias_pairs, check_store
from model_metadata_db.cli import main as db_main
from model_metadata_db.summary import main as summary_main

LLAMA_CONFIG = {"model_type": "llama", "hidden_size": 256, "intermediate_size": 688, "num_attention_heads": 4,
                "num_key_value_heads": 2, "num_hidden_layers": 4, "vocab_size": 1000,
                "max_position_embeddings": 512, "tie_word_embeddings": False}


@pytest.fixture(scope="module")
def findings(release):
    return {f.code: f for f in check_store(release)}


def test_check_finds_the_release_problems(findings):
    assert findings["path_ids"].count == 3 and all(e.startswith("/") for e in findings["path_ids"].examples)
    assert findings["header_ids"].examples == ["model_name"]
    assert findings["evaluated_without_annotation"].count == 41
    sentinels = findings["minus_one_as_missing"].details.set_index(["table", "column"])
    assert sentinels.loc[("model_annotations", "mlp_ratio"), "minus_one"] == 5
    assert sentinels.loc[("dataset_info", "pretraining_summary_percentage_web"), "minus_one"] == 25
    assert sentinels.loc[("dataset_info", "pretraining_summary_percentage_web"), "null"] > 0
    assert findings["nan_scores"].count == 202  # 200 brier scores + 2 lambada perplexities
    vocab = findings["out_of_vocabulary"].details
    assert vocab.loc[vocab["column"] == "biases", "value"].tolist() == ["some"]
    assert "hendrycksTest-*" in findings["mmlu_two_families"].message and "mmlu_*" in findings[
        "mmlu_two_families"].message


def test_benchmark_alias_pairs_show_the_large_arc_difference(release):
    pairs = benchmark_alias_pairs(release)
    arc = pairs[pairs["alias"] == "arc:challenge"]
    assert arc["id"].nunique() == 31
    worst = arc.iloc[0]
    assert worst["id"] == "mosaicml/mpt-7b-storywriter" and 0.25 < worst["abs_diff"] < 0.26


def test_clean_store_has_no_error_findings(store):
    store.upsert_annotation({"id": "a/b", "dimension": 8})
    store.add_eval_results([{"id": "a/b", "benchmark": "gsm8k", "setting": "5-shot", "metric": "accuracy",
                             "metric_value": 0.1}])
    assert [f.code for f in check_store(store) if f.severity == "error" and f.count] == []


def test_db_cli_import_info_check_export(mini_release_dir, tmp_path, capsys):
    db = tmp_path / "s.duckdb"
    assert db_main(["import", str(mini_release_dir), "--db", str(db)]) == 2  # a mistyped --db creates nothing
    assert "no store at" in capsys.readouterr().err and not db.exists()
    assert db_main(["import", str(mini_release_dir), "--db", str(db), "--create"]) == 0
    out = capsys.readouterr().out
    assert "4 evaluation_results" in out and "9 inserted" in out  # rows of the three tables
    assert db_main(["info", "--db", str(db), "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert "evaluation_results" in out and "piqa" in out
    assert db_main(["check", "--db", str(db), "--json"]) == 0
    codes = {f["code"]: f for f in json.loads(capsys.readouterr().out)}
    assert codes["evaluated_without_annotation"]["count"] == 2  # the case twin and the checkpoint path
    assert codes["alias_overlaps"]["count"] == 0 and codes["flagged_scores"]["count"] == 1  # the NaN brier score
    assert codes["path_ids"]["severity"] == "warning"  # its path id is in metadata/model_aliases.csv
    assert db_main(["check", "--db", str(db), "--strict"]) == 0
    capsys.readouterr()
    assert db_main(["export", str(tmp_path / "exp"), "--db", str(db)]) == 0
    assert db_main(["export", str(tmp_path / "exp"), "--db", str(db)]) == 2
    assert "not empty" in capsys.readouterr().err
    with AnalysisStore.from_existing(tmp_path / "exp") as again, AnalysisStore.from_existing(db) as orig:
        assert again.scores().equals(orig.scores())


def test_db_cli_add_model_and_add_eval(tmp_path, capsys, monkeypatch):
    db = tmp_path / "new.duckdb"
    monkeypatch.setenv("NJSL_DB", str(db))  # the default store comes from the environment
    assert db_main(["create", str(db)]) == 0
    cfg = tmp_path / "model"
    cfg.mkdir()
    (cfg / "config.json").write_text(json.dumps(LLAMA_CONFIG))
    assert db_main(["add-model", str(cfg)]) == 2
    assert "pass --model-id" in capsys.readouterr().err
    assert db_main(["add-model", str(cfg), "--model-id", "me/tiny"]) == 0
    assert "1 inserted" in capsys.readouterr().out
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"results": {"hellaswag": {"acc,none": 0.3, "acc_norm,none": 0.31}},
                                   "n-shot": {"hellaswag": 10}, "config": {"model_args": "pretrained=me/tiny"}}))
    assert db_main(["add-eval", str(results)]) == 0
    with AnalysisStore.from_existing(db) as store:
        assert store.annotations().loc[0, "num_layers"] == 4
        assert len(store.scores(benchmark="hellaswag", ids=["me/tiny"])) == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert db_main(["add-eval", str(bad)]) == 2
    assert "error:" in capsys.readouterr().err


def test_db_cli_errors_are_one_line(tmp_path, capsys):
    assert db_main(["info", "--db", str(tmp_path / "missing.duckdb")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no store at") and "Traceback" not in err


def test_summary_prints_models_benchmarks_coverage_and_issues(release_dir, capsys):
    assert summary_main(["--db", str(release_dir), "--top", "5"]) == 0
    out = capsys.readouterr().out
    assert "annotated (model_annotations)         121" in out
    assert "27,150 scores" in out and "coverage, top 5" in out
    assert "evaluated_without_annotation: 41" in out
