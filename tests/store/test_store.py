"""The store's core API: opening, reads, writes, transactions, export round-trip."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from model_metadata_db import AnalysisStore, StoreError
from model_metadata_db.errors import StoreFileNotFoundError
from model_metadata_db.schema import EXTRA_ANNOTATION_COLUMNS, column_names

TABLES = ("model_annotations", "dataset_info", "evaluation_results", "features")


def raw(store, table):
    return store.query(f"SELECT * FROM {table} ORDER BY ALL")


def test_release_imports_with_the_documented_counts(release):
    counts = release.counts()
    assert counts["model_annotations"] == 121
    assert counts["dataset_info"] == 124
    assert counts["evaluation_results"] == 27150
    assert counts["evaluated_ids"] == 153


def test_schema_is_the_release_schema_plus_appended_columns(release_dir, release):
    release_sql = (release_dir / "schema.sql").read_text()
    cols = list(release.query("SELECT * FROM model_annotations LIMIT 0").columns)
    n_release = len(cols) - len(EXTRA_ANNOTATION_COLUMNS)
    assert cols[n_release:] == list(EXTRA_ANNOTATION_COLUMNS)
    assert "total_params BIGINT);" in release_sql and cols[n_release - 1] == "total_params"
    for table in ("dataset_info", "evaluation_results"):
        assert list(release.query(f"SELECT * FROM {table} LIMIT 0").columns) == column_names(table)


def test_export_round_trips_to_identical_tables(release, tmp_path):
    release.export(tmp_path / "exp")
    assert (tmp_path / "exp" / "load.sql").is_file()
    again = AnalysisStore.from_existing(tmp_path / "exp")
    for table in TABLES:
        pd.testing.assert_frame_equal(raw(release, table), raw(again, table), obj=table)
    for read in ("annotations", "dataset_info", "scores", "benchmarks", "coverage"):
        pd.testing.assert_frame_equal(getattr(release, read)(), getattr(again, read)(), obj=read)


def test_export_round_trip_with_extra_columns_and_features(store, tmp_path):
    store.upsert_annotation({"id": "m", "dimension": 64, "num_layers": 2, "attention_variant": "mha",
                             "architecture_family": "transformer", "source_url": "https://x/y,z \"q\""})
    store.upsert_dataset_info({"id": "m", "pretraining_summary_total_tokens_billions": 0.001,
                               "metadata": {"note": "a,b"}})
    store.add_eval_results([{"id": "m", "benchmark": "hellaswag", "setting": "10-shot", "metric": "acc_norm",
                             "metric_value": 0.1 + 0.2, "metric_stderr": None}])
    store.set_features("model", "m", {"ttr": 1 / 3}, source="test")
    store.export(tmp_path / "e")
    again = AnalysisStore.from_existing(tmp_path / "e")
    for table in TABLES:
        pd.testing.assert_frame_equal(raw(store, table), raw(again, table), obj=table)
    assert again.annotations().loc[0, "attention_variant"] == "full"  # mha is normalised to the release's word


def test_export_refuses_a_non_empty_folder(store, tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(StoreError, match="not empty"):
        store.export(tmp_path / "x")
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"


def test_sentinel_minus_one_reads_as_missing(release):
    info = release.dataset_info()
    assert not (info.select_dtypes("number") == -1).any().any()
    raw_info = release.query("SELECT count(*) AS n FROM dataset_info WHERE pretraining_summary_percentage_web = -1")
    assert raw_info["n"][0] > 0  # the table keeps the release's values unchanged
    ann = release.annotations()
    assert math.isnan(ann.set_index("id").loc["mosaicml/mpt-30b", "mlp_ratio"])


def test_scores_filters_are_parameters(release):
    s = release.scores(benchmark="arc_challenge", setting="25-shot", metric="accuracy")
    assert list(s.columns) == ["id", "benchmark", "setting", "metric", "metric_value", "metric_stderr"]
    assert len(s) == s["id"].nunique() > 30
    assert set(s["benchmark"]) == {"arc_challenge"}
    # A value that would break string-formatted SQL is just a value that matches nothing.
    assert release.scores(benchmark="x' OR '1'='1").empty
    two = release.scores(benchmark=["gsm8k", "winogrande"], ids=["EleutherAI/pythia-160m"])
    assert set(two["benchmark"]) <= {"gsm8k", "winogrande"} and set(two["id"]) <= {"EleutherAI/pythia-160m"}


def test_benchmarks_and_coverage(release):
    b = release.benchmarks()
    assert list(b.columns) == ["benchmark", "setting", "metric", "n_models"]
    row = b[(b.benchmark == "gsm8k") & (b.setting == "5-shot") & (b.metric == "accuracy")]
    assert int(row["n_models"].iloc[0]) == 149
    c = release.coverage()
    assert {"n_models", "n_with_annotation", "n_with_dataset_info"} <= set(c.columns)
    assert (c["n_with_annotation"] <= c["n_models"]).all()


def test_models_with_features_is_one_row_per_annotated_model(release_copy):
    release_copy.set_features("model", "EleutherAI/pythia-160m", {"ttr": 0.5, "dimension": 3.0}, source="t")
    wide = release_copy.models_with_features()
    assert len(wide) == 121 and wide["id"].is_unique
    row = wide.set_index("id").loc["EleutherAI/pythia-160m"]
    assert row["ttr"] == 0.5 and row["feature_dimension"] == 3.0  # name clash is prefixed, not overwritten
    assert "pretraining_summary_total_tokens_billions" in wide.columns


def test_upsert_keeps_columns_not_given(store):
    store.upsert_annotation({"id": "m", "dimension": 128, "num_heads": 4})
    store.upsert_annotation({"id": "m", "num_heads": 8, "is_instruction_tuned": True})
    row = store.annotations().iloc[0]
    assert row["dimension"] == 128 and row["num_heads"] == 8 and bool(row["is_instruction_tuned"])


def test_features_replace_names_for_one_id(store):
    store.set_features("model", "m", {"a": 1.0, "b": 2.0}, source="s1")
    store.set_features("model", "m", {"b": 3.0}, source="s2")
    f = store.features("model").set_index("feature")
    assert f.loc["a", "value"] == 1.0 and f.loc["b", "value"] == 3.0 and f.loc["b", "source"] == "s2"
    assert store.features_wide("model").loc["m", "b"] == 3.0
    with pytest.raises(StoreError, match="kind"):
        store.set_features("corpus", "m", {"a": 1.0}, source="s")


def test_transaction_rolls_back_everything(store):
    with pytest.raises(RuntimeError), store.transaction():
        store.upsert_annotation({"id": "a", "dimension": 1})
        with store.transaction():  # nested: joins the outer one
            store.set_features("model", "a", {"x": 1.0}, source="s")
        raise RuntimeError("boom")
    assert store.counts()["model_annotations"] == 0 and store.counts()["features"] == 0
    with store.transaction():
        store.upsert_annotation({"id": "a", "dimension": 1})
        store.upsert_annotation({"id": "b", "dimension": 2})
    assert store.counts()["model_annotations"] == 2


def test_file_store_create_open_and_reopen(tmp_path):
    path = tmp_path / "s.duckdb"
    with AnalysisStore.create(path) as s:
        s.upsert_annotation({"id": "m", "dimension": 16})
    with pytest.raises(StoreError, match="already exists"):
        AnalysisStore.create(path)
    with AnalysisStore.from_existing(path) as s:
        assert s.annotations()["id"].tolist() == ["m"]
        with s.transaction():
            s.upsert_annotation({"id": "n"})
            assert len(s.annotations()) == 2  # reads inside a transaction see its writes


def test_opening_a_file_written_by_the_papers_code_adds_our_columns(tmp_path, release_dir):
    import duckdb
    path = tmp_path / "paper.duckdb"
    con = duckdb.connect(str(path))
    con.execute((release_dir / "schema.sql").read_text())
    con.execute("INSERT INTO model_annotations (id, dimension) VALUES ('m', 8)")
    con.close()
    with AnalysisStore.from_existing(path) as s:
        ann = s.annotations()
        assert ann.loc[0, "dimension"] == 8 and "num_layers" in ann.columns
        assert s.counts()["features"] == 0


def test_missing_store_and_folder_errors(tmp_path):
    with pytest.raises(StoreFileNotFoundError, match="does not exist"):
        AnalysisStore.from_existing(tmp_path / "nope.duckdb")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreFileNotFoundError, match="schema.sql is missing"):
        AnalysisStore.from_existing(tmp_path / "empty")


def test_memory_store_from_none_and_string():
    for path in (None, ":memory:"):
        with AnalysisStore.from_existing(path) as s:
            assert s.counts()["evaluation_results"] == 0
            assert s.annotations().empty


def test_minus_one_written_by_us_is_stored_as_null(store):
    store.upsert_annotation({"id": "m", "mlp_ratio": -1, "total_params": -1})
    assert store.query("SELECT mlp_ratio, total_params FROM model_annotations").isna().all().all()


def test_numpy_and_pandas_values_are_accepted(store):
    import numpy as np
    store.upsert_annotation({"id": "m", "dimension": np.int64(64), "weight_tying": np.bool_(True),
                             "mlp_ratio": np.float32(2.5)})
    row = store.annotations().iloc[0]
    assert row["dimension"] == 64 and bool(row["weight_tying"]) and row["mlp_ratio"] == 2.5


def test_bounded_metrics_are_checked(store):
    row = {"id": "m", "benchmark": "gsm8k", "setting": "5-shot", "metric": "accuracy", "metric_value": 45.0}
    with pytest.raises(StoreError, match=r"must be within \[0, 1\], got 45.0; give a fraction, not a percent"):
        store.add_eval_results([row])
    store.add_eval_results([{**row, "metric": "bleu_diff", "metric_value": -3.5}])  # unbounded metric
    assert store.counts()["evaluation_results"] == 1


def test_every_release_benchmark_is_known(release):
    from model_metadata_db.benchmarks import is_known_benchmark
    unknown = [b for b in release.benchmarks()["benchmark"].unique() if not is_known_benchmark(b)]
    assert unknown == []


def test_delete_model_removes_it_everywhere(release_copy):
    removed = release_copy.delete_model("EleutherAI/pythia-160m")
    assert removed["model_annotations"] == 1 and removed["evaluation_results"] > 0
    assert release_copy.scores(ids=["EleutherAI/pythia-160m"]).empty


def test_metadata_package_validates_run_info():
    import metadata
    metadata.validate_run_info({"model_id": "njsl/llama2-220m", "tokens_seen": 10, "finished": True,
                                "mix": "mixes/nl80_code20.yaml", "steps_done": 3})
    with pytest.raises(metadata.RunInfoError, match="field tokens_seen"):
        metadata.validate_run_info({"model_id": "njsl/x", "tokens_seen": -1, "finished": True})
    with pytest.raises(metadata.RunInfoError, match="field model_id"):
        metadata.validate_run_info({"model_id": "/scratch/run", "tokens_seen": 1, "finished": False})
    assert metadata.DEFAULT_STORE.name == "njsl.duckdb"
