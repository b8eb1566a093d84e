"""Every bad input the issue names: a clear message, and the store exactly as it was before."""
from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from model_metadata_db import AnalysisStore, StoreError
from model_metadata_db.errors import StoreFileNotFoundError
from model_metadata_db.importers import import_export_folder, import_lm_eval_results
from model_metadata_db.importers.metadata_records import import_metadata_record

GOOD_MODEL = {"id": "org/model", "author": "org", "sha": "0" * 40, "created_at": "2024-01-01T00:00:00+00:00",
              "last_modified": "2024-01-01T00:00:00+00:00", "private": False, "gated": False, "disabled": False,
              "tags": [], "pipeline_tag": "text-generation", "mask_token": None, "card_data": {},
              "model_index": None, "dimension": 512, "num_heads": 8, "total_params": 1000}


@pytest.fixture
def seeded(tmp_path):
    """A store with a little of everything, so 'unchanged' is checked against real content."""
    store = AnalysisStore.create(None)
    store.upsert_annotation({"id": "a/b", "dimension": 64, "num_heads": 4, "total_params": 123})
    store.upsert_dataset_info({"id": "a/b", "pretraining_summary_total_tokens_billions": 1.0,
                               "pretraining_summary_percentage_web": 60.0, "pretraining_summary_percentage_code": 40.0})
    store.add_eval_results([{"id": "a/b", "benchmark": "hellaswag", "setting": "10-shot", "metric": "acc_norm",
                             "metric_value": 0.3, "metric_stderr": 0.01}])
    store.set_features("model", "a/b", {"ttr": 0.4}, source="test")
    yield store
    store.close()


def records_dir(tmp_path):
    """A records folder layout (the JSON schemas are the project's own, metadata/record_schemas/)."""
    root = tmp_path / "records"
    for sub in ("model_metadata", "dataset_metadata", "model_scores"):
        (root / sub).mkdir(parents=True)
    return root


def snapshot(store) -> dict:
    return {t: store.query(f"SELECT * FROM {t} ORDER BY ALL") for t in
            ("model_annotations", "dataset_info", "evaluation_results", "features")}


def assert_unchanged(before: dict, after: dict) -> None:
    for table in before:
        pd.testing.assert_frame_equal(before[table], after[table], obj=table)


def fails(store, match, fn, *args, exc=StoreError, **kwargs):
    """Assert ``fn`` raises ``exc`` with ``match`` in its message and leaves every table as it was."""
    before = snapshot(store)
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)
    assert_unchanged(before, snapshot(store))


def test_malformed_json(seeded, tmp_path):
    path = tmp_path / "results.json"
    path.write_text('{"results": {"arc_challenge": {"acc,none": 0.5,}}}')
    fails(seeded, r"malformed JSON at line 1 column \d+", import_lm_eval_results, seeded, path)
    fails(seeded, "malformed JSON", import_metadata_record, seeded, path, "scores")


def test_record_missing_its_id(seeded, tmp_path):
    root = records_dir(tmp_path)
    path = root / "model_metadata" / "m.json"
    path.write_text(json.dumps({k: v for k, v in GOOD_MODEL.items() if k != "id"}))
    fails(seeded, "'id' is a required property", import_metadata_record, seeded, path)
    scores = root / "model_scores" / "s.json"
    scores.write_text(json.dumps({"model_name": "", "results": {"harness": {"winogrande": {"acc": 0.5}}}}))
    fails(seeded, "model id is missing or empty", import_metadata_record, seeded, scores)
    fails(seeded, "required field 'id' is missing", seeded.upsert_annotation, {"dimension": 5})
    fails(seeded, "required field 'id' is missing", seeded.add_eval_results,
          [{"benchmark": "x", "setting": "0-shot", "metric": "accuracy", "metric_value": 0.1}])


def test_wrong_types(seeded, tmp_path):
    fails(seeded, "field 'dimension' must be a number, got '4096'", seeded.upsert_annotation,
          {"id": "c/d", "dimension": "4096"})
    fails(seeded, "field 'metric_value' must be a number, got 'high'", seeded.add_eval_results,
          [{"id": "c/d", "benchmark": "gsm8k", "setting": "5-shot", "metric": "accuracy", "metric_value": "high"}])
    fails(seeded, "field 'weight_tying' must be true/false", seeded.upsert_annotation,
          {"id": "c/d", "weight_tying": "yes"})
    root = records_dir(tmp_path)
    path = root / "model_metadata" / "m.json"
    path.write_text(json.dumps({**GOOD_MODEL, "dimension": "512"}))
    fails(seeded, "at dimension: '512' is not of type", import_metadata_record, seeded, path)
    scores = root / "model_scores" / "s.json"
    scores.write_text(json.dumps({"model_name": "org/m", "results": {"harness": {
        "winogrande": {"acc": 0.5}, "anli_r1": {"x-shot": {"acc": "0.3381"}}}}}))
    fails(seeded, "metric 'acc' must be a number, got '0.3381'", import_metadata_record, seeded, scores,
          assume_shots="standard")
    bad = {"results": {"hellaswag": {"acc,none": "0.3"}}, "n-shot": {"hellaswag": 10},
           "config": {"model_args": "pretrained=org/m"}}
    (tmp_path / "r.json").write_text(json.dumps(bad))
    fails(seeded, "must be a number, got '0.3'", import_lm_eval_results, seeded, tmp_path / "r.json")


def test_negative_and_absurd_values(seeded, tmp_path):
    fails(seeded, "field 'total_params' is negative", seeded.upsert_annotation, {"id": "c/d", "total_params": -7})
    fails(seeded, "implausibly large", seeded.upsert_annotation, {"id": "c/d", "total_params": 7e15})
    fails(seeded, "sum to 180 > 105", seeded.upsert_dataset_info,
          {"id": "c/d", "pretraining_summary_percentage_web": 90.0, "pretraining_summary_percentage_code": 90.0})
    fails(seeded, "above 100 %", seeded.upsert_dataset_info, {"id": "c/d", "pretraining_summary_percentage_web": 250})
    root = records_dir(tmp_path)
    path = root / "model_metadata" / "m.json"
    path.write_text(json.dumps({**GOOD_MODEL, "total_params": -5}))
    fails(seeded, "total_params: -5 is less than the minimum of 1", import_metadata_record, seeded, path)
    # A model whose pretraining data has shares summing far above 100: the whole file is refused.
    (root / "dataset_metadata" / "mix.json").write_text(json.dumps(
        {"summary": {"total_tokens_billions": 10, "percentage_web": 80.0, "percentage_code": 70.0}}))
    path.write_text(json.dumps({**GOOD_MODEL, "training_stages": [
        {"name": "pretraining", "data": "mix", "total_tokens_billions": 10}]}))
    fails(seeded, "sum to 150 > 105", import_metadata_record, seeded, path)


def test_duplicate_keys_inside_one_import(seeded, tmp_path):
    row = {"id": "c/d", "benchmark": "gsm8k", "setting": "5-shot", "metric": "accuracy", "metric_value": 0.1}
    fails(seeded, "duplicate key .* in rows 0 and 1", seeded.add_eval_results, [row, {**row, "metric_value": 0.2}])
    fails(seeded, "duplicate key", seeded.upsert_rows, "model_annotations", [{"id": "x"}, {"id": "x"}])
    # The same key twice in one JSON object (json.loads would keep the last one silently).
    dup = tmp_path / "dup.json"
    dup.write_text('{"results": {"hellaswag": {"acc,none": 0.3, "acc,none": 0.9}}, "n-shot": {"hellaswag": 10},'
                   ' "config": {"model_args": "pretrained=o/m"}}')
    fails(seeded, "duplicate key 'acc,none' with different values", import_lm_eval_results, seeded, dup)
    same = tmp_path / "same.json"
    same.write_text(dup.read_text().replace("0.9", "0.3"))  # repeated but identical: read once, noted
    report = import_lm_eval_results(seeded, same)
    assert "repeated with identical values" in report.warnings[0]
    # Two lm-eval task names mapping to one store key: the first is kept and the clash reported.
    data = {"results": {"arc_challenge_25shot": {"acc,none": 0.3}, "arc_challenge": {"acc,none": 0.4}},
            "n-shot": {"arc_challenge_25shot": 25, "arc_challenge": 25}, "config": {"model_args": "pretrained=o/m"}}
    (tmp_path / "r.json").write_text(json.dumps(data))
    report = import_lm_eval_results(seeded, tmp_path / "r.json")
    assert any("map to the same store metric" in w for w in report.warnings)


def test_unknown_benchmark_is_kept_but_reported(seeded):
    report = seeded.add_eval_results([{"id": "a/b", "benchmark": "helaswag", "setting": "10-shot",
                                       "metric": "accuracy", "metric_value": 0.3}])
    assert report.unknown_benchmarks == ["helaswag"]
    assert "unknown benchmark name(s) kept as given: helaswag" in report.warnings[0]
    assert "helaswag" in set(seeded.scores()["benchmark"])


def test_unknown_column_and_vocabulary(seeded):
    fails(seeded, r"unknown column\(s\) \['num_routers'\]", seeded.upsert_annotation, {"id": "x", "num_routers": 8})
    fails(seeded, "attention_variant: unknown value 'sparse'", seeded.upsert_annotation,
          {"id": "x", "attention_variant": "sparse"})


def test_export_folder_missing_a_csv(seeded, mini_release_dir, tmp_path):
    copy = tmp_path / "release"
    shutil.copytree(mini_release_dir, copy)
    (copy / "evaluation_results.csv").unlink()
    fails(seeded, "evaluation_results.csv, but .* is missing", import_export_folder, seeded, copy,
          exc=StoreFileNotFoundError)
    with pytest.raises(StoreFileNotFoundError, match="evaluation_results.csv"):
        AnalysisStore.from_existing(copy)


def test_export_folder_with_a_broken_csv_changes_nothing(seeded, mini_release_dir, tmp_path):
    copy = tmp_path / "release"
    shutil.copytree(mini_release_dir, copy)
    text = (copy / "model_annotations.csv").read_text().splitlines()
    text[1] = text[1].replace(",", ",notanumber,", 1)  # one row with a shifted, non-numeric column
    (copy / "model_annotations.csv").write_text("\n".join(text) + "\n")
    fails(seeded, "could not load the export", import_export_folder, seeded, copy)


def test_failed_write_inside_a_transaction_rolls_back_earlier_writes(seeded):
    before = snapshot(seeded)
    with pytest.raises(StoreError, match="must be a number"), seeded.transaction():
        seeded.upsert_annotation({"id": "new/one", "dimension": 8})
        seeded.upsert_annotation({"id": "new/two", "dimension": "eight"})
    assert_unchanged(before, snapshot(seeded))


def test_dataframe_input_is_validated_too(seeded):
    frame = pd.DataFrame([{"id": "c/d", "benchmark": "gsm8k", "setting": "5-shot", "metric": "accuracy",
                           "metric_value": 0.5, "metric_stderr": -0.5}])
    fails(seeded, "metric_stderr' is negative", seeded.add_eval_results, frame)
