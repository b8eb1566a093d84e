"""Every bad input named in issue 3: clear message naming the fix, exit code 2, nothing written."""
import duckdb
import pytest

from performance_prediction.cli import main
from performance_prediction.data import load_data
from performance_prediction.errors import PredictionInputError


FAST = ["--hyperparam_search", "--grid", "fast", "--max_bin", "16", "--n_jobs", "1"]


def _run(capsys, argv):
    code = main(argv)
    return code, capsys.readouterr().err


def test_db_missing_table(tmp_path, capsys):
    db = tmp_path / "partial.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE model_annotations(id VARCHAR PRIMARY KEY, total_params BIGINT)")
    con.close()
    before = db.read_bytes()
    out = tmp_path / "out"
    code, err = _run(capsys, ["--db_path", str(db), "--output_dir", str(out), *FAST])
    assert code == 2
    assert "no table 'dataset_info'" in err or "lacks column" in err
    assert "njsl db import" in err
    assert not out.exists()
    assert db.read_bytes() == before          # inspected read-only: the file is untouched


def test_db_missing_column_is_named(tmp_path):
    class FakeStore:   # a store whose evaluation_results lacks metric_value
        def query(self, sql, params=None):
            import pandas as pd
            if "information_schema" in sql:
                cols = {"model_annotations": ["id", "total_params", "is_instruction_tuned", "dimension", "num_heads",
                                              "mlp_ratio", "sequence_length", "activation", "attention_variant",
                                              "biases", "block_type", "layer_norm_type", "positional_embeddings"],
                        "dataset_info": ["id", "pretraining_summary_total_tokens_billions"] + [
                            f"pretraining_summary_percentage_{k}" for k in
                            ("web", "code", "books", "reference", "academic", "english")],
                        "evaluation_results": ["id", "benchmark", "setting", "metric"]}
                return pd.DataFrame([(t, c) for t, cs in cols.items() for c in cs],
                                    columns=["table_name", "column_name"])
            return pd.DataFrame({"n": [5]})

    with pytest.raises(PredictionInputError, match=r"'evaluation_results' lacks column\(s\) metric_value.*add them"):
        load_data(store=FakeStore())


def test_missing_db_path(tmp_path, capsys):
    code, err = _run(capsys, ["--db_path", str(tmp_path / "nope.duckdb"), *FAST])
    assert code == 2 and "does not exist" in err and "EXPORT DATABASE" in err


def test_task_with_too_few_models(tmp_path, capsys, store_factory):
    db = tmp_path / "few.duckdb"
    store_factory(db, n_models=12).close()
    before = db.read_bytes()
    out = tmp_path / "out"
    code, err = _run(capsys, ["--db_path", str(db), "--sel_tasks", "arc_challenge", "--output_dir", str(out), *FAST])
    assert code == 2
    assert "too few models" in err and "arc_challenge" in err and "only 12 models" in err and "--min_models" in err
    assert not out.exists()
    assert db.read_bytes() == before          # the predictor never writes to the store


def test_unknown_sel_feature(tiny_store_path, tmp_path, capsys):
    out = tmp_path / "out"
    code, err = _run(capsys, ["--db_path", str(tiny_store_path), "--sel_tasks", "arc_challenge", "--sel_features",
                              "total_params", "pretraining_summary_percentage_cod", "--output_dir", str(out), *FAST])
    assert code == 2
    assert "unknown feature(s) 'pretraining_summary_percentage_cod'" in err
    assert "did you mean 'pretraining_summary_percentage_code'" in err
    assert not out.exists()


def test_pseudo_csv_without_id_column(tiny_store_path, tmp_path, capsys):
    csv = tmp_path / "pseudo.csv"
    csv.write_text("model,entropy_mean\norg0/fam0-1b,1.5\n")
    out = tmp_path / "out"
    code, err = _run(capsys, ["--db_path", str(tiny_store_path), "--pseudo_feats_csv", str(csv),
                              "--output_dir", str(out), *FAST])
    assert code == 2
    assert "has no 'id' column" in err and "add a column named 'id'" in err
    assert not out.exists()


def test_unknown_task(tiny_store_path, capsys):
    code, err = _run(capsys, ["--db_path", str(tiny_store_path), "--sel_tasks", "arc", *FAST])
    assert code == 2 and "unknown task(s) arc" in err and "arc_challenge" in err


def test_bad_initial_features_csv(tiny_store_path, tmp_path, capsys):
    from performance_prediction.cli import gradual_main

    csv = tmp_path / "sel.csv"
    csv.write_text("task,features\narc_challenge,x\n")
    code = gradual_main(["--db_path", str(tiny_store_path), "--test_significance", "--initial_features_csv", str(csv),
                         "--output_dir", str(tmp_path / "o"), *FAST])
    assert code == 2 and "lacks column 'selected_features'" in capsys.readouterr().err


def test_what_if_spec_errors(tmp_path, capsys):
    from performance_prediction.what_if import main as what_if_main

    spec = tmp_path / "spec.yaml"
    spec.write_text("total_params: 1e9\ntokens_billions: 100\narchitecture: {depth: 12}\n")
    assert what_if_main([str(spec)]) == 2
    assert "unknown field 'architecture.depth'" in capsys.readouterr().err
    spec.write_text("total_params: -5\ntokens_billions: 100\n")
    assert what_if_main([str(spec)]) == 2
    assert "'total_params' must be > 0" in capsys.readouterr().err
    spec.write_text("total_params: 1e9\ntokens_billions: 100\ndata: {web: 90, code: 60}\n")
    assert what_if_main([str(spec)]) == 2
    assert "sum to 150.0 > 100" in capsys.readouterr().err


def test_what_if_unknown_pseudo_feature(tiny_store_path, tmp_path, capsys):
    from performance_prediction.what_if import main as what_if_main

    spec = tmp_path / "spec.yaml"
    spec.write_text("total_params: 1e9\ntokens_billions: 100\npseudo: {entropy_mena: 1.0}\n")
    assert what_if_main([str(spec), "--db_path", str(tiny_store_path), "--metrics", "accuracy", "--n_jobs", "1"]) == 2
    assert "unknown feature(s) entropy_mena" in capsys.readouterr().err
