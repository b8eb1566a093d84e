"""Importers: lm-eval 0.4 results, metadata records (all three kinds and all score layouts), export folders."""
from __future__ import annotations

import json
import shutil

import pytest

from model_metadata_db import AnalysisStore, StoreError
from model_metadata_db.importers import import_export_folder, import_lm_eval_results
from model_metadata_db.importers.metadata_records import (import_metadata_record, import_metadata_records,
                                                          score_rows)

# What `lm_eval --output_path` (0.4.x) writes, trimmed to the parts the importer reads.
LM_EVAL = {
    "results": {
        "arc_challenge": {"alias": "arc_challenge", "acc,none": 0.25, "acc_stderr,none": 0.0126,
                          "acc_norm,none": 0.28, "acc_norm_stderr,none": 0.013},
        "hellaswag": {"alias": "hellaswag", "acc,none": 0.31, "acc_stderr,none": 0.004, "acc_norm,none": 0.35,
                      "acc_norm_stderr,none": 0.0047},
        "mmlu": {"alias": "mmlu", "acc,none": 0.24, "acc_stderr,none": 0.003},
        "mmlu_stem": {"alias": " - stem", "acc,none": 0.23, "acc_stderr,none": 0.007},
        "mmlu_anatomy": {"alias": "  - anatomy", "acc,none": 0.2, "acc_stderr,none": 0.03},
        "gsm8k": {"alias": "gsm8k", "exact_match,strict-match": 0.01, "exact_match_stderr,strict-match": 0.002,
                  "exact_match,flexible-extract": 0.02, "exact_match_stderr,flexible-extract": 0.003},
        "lambada_openai": {"alias": "lambada_openai", "perplexity,none": 40.1, "perplexity_stderr,none": 1.5,
                           "acc,none": 0.33, "acc_stderr,none": "N/A"},
    },
    "group_subtasks": {"mmlu": ["mmlu_stem"], "mmlu_stem": ["mmlu_anatomy"], "arc_challenge": [],
                       "hellaswag": [], "gsm8k": [], "lambada_openai": []},
    "configs": {"arc_challenge": {"num_fewshot": 25}},
    "n-shot": {"arc_challenge": 25, "hellaswag": 10, "mmlu_anatomy": 5, "gsm8k": 5, "lambada_openai": 0,
               "mmlu": 5, "mmlu_stem": 5},
    "config": {"model": "hf", "model_args": "pretrained=EleutherAI/pythia-160m,dtype=float32", "batch_size": 1},
    "git_hash": "abc",
}


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_lm_eval_results_map_to_release_vocabulary(store, tmp_path):
    report = import_lm_eval_results(store, write(tmp_path, "results.json", LM_EVAL))
    s = store.scores().set_index(["benchmark", "setting", "metric"])
    assert set(s["id"]) == {"EleutherAI/pythia-160m"}
    assert s.loc[("arc_challenge", "25-shot", "accuracy"), "metric_value"] == 0.25
    assert s.loc[("arc_challenge", "25-shot", "acc_norm"), "metric_stderr"] == 0.013
    assert s.loc[("hellaswag", "10-shot", "acc_norm"), "metric_value"] == 0.35
    assert s.loc[("mmlu_anatomy", "5-shot", "accuracy"), "metric_value"] == 0.2
    assert s.loc[("gsm8k", "5-shot", "accuracy"), "metric_value"] == 0.01  # strict-match preferred
    assert s.loc[("lambada_openai", "0-shot", "perplexity"), "metric_value"] == 40.1
    assert s.loc[("lambada_openai", "0-shot", "accuracy"), "metric_stderr"] != s.loc[
        ("lambada_openai", "0-shot", "accuracy"), "metric_stderr"]  # "N/A" stderr -> NaN
    assert "mmlu" not in set(store.scores()["benchmark"]) and "mmlu_stem" not in set(store.scores()["benchmark"])
    assert any("group 'mmlu' skipped" in w for w in report.warnings)
    assert report.unknown_benchmarks == []


def test_lm_eval_model_id_override_and_reimport_is_a_noop(store, tmp_path):
    path = write(tmp_path, "results.json", LM_EVAL)
    import_lm_eval_results(store, path, model_id="me/run-1")
    before = store.query("SELECT * FROM evaluation_results ORDER BY ALL")
    again = import_lm_eval_results(store, path, model_id="me/run-1")
    assert again.changed == 0
    assert before.equals(store.query("SELECT * FROM evaluation_results ORDER BY ALL"))
    assert set(store.scores()["id"]) == {"me/run-1"}


def test_lm_eval_model_args_as_dict(store, tmp_path):
    data = {**LM_EVAL, "config": {"model_args": {"pretrained": "org/m", "dtype": "bfloat16"}}}
    import_lm_eval_results(store, write(tmp_path, "r.json", data))
    assert set(store.scores()["id"]) == {"org/m"}


def test_lm_eval_rejects_old_format_and_path_ids(store, tmp_path):
    old = {"results": {"arc_challenge": {"acc": 0.2, "acc_stderr": 0.01}}, "config": {"model_args": "pretrained=x/y"}}
    with pytest.raises(StoreError, match="lm-eval 0.3 format"):
        import_lm_eval_results(store, write(tmp_path, "old.json", old))
    with pytest.raises(StoreError, match="not an lm-eval results file"):
        import_lm_eval_results(store, write(tmp_path, "other.json", {"model_name": "x"}))
    local = {**LM_EVAL, "config": {"model_args": "pretrained=/scratch/ckpt/step_100"}}
    with pytest.raises(StoreError, match="is a filesystem path"):
        import_lm_eval_results(store, write(tmp_path, "local.json", local))
    assert store.counts()["evaluation_results"] == 0


def test_score_record_layouts():
    record = {"model_name": "m", "results": {"harness": {
        "arc:challenge": {"25-shot": {"acc": 0.5, "acc_stderr": 0.01, "acc_norm": 0.6, "timestamp": "t"}},
        "winogrande": {"acc": 0.7, "acc_stderr": 0.02, "timestamp": "t"},
        "anli_r1": {"x-shot": {"brier_score": 0.8, "brier_score_stderr": "N/A", "timestamp": "t"}},
        "gsm8k": {"exact_match": 0.1, "timestamp": "t"},
    }}}
    # three tasks have no recorded shot count: refused unless the user says which
    with pytest.raises(StoreError, match=r"shot count of 3 task\(s\) is not recorded.*--assume-shots"):
        score_rows(record, "m", "r.json")
    rows, notes = score_rows(record, "m", "r.json", assume_shots="standard")
    got = {(r["benchmark"], r["setting"], r["metric"]): r["metric_value"] for r in rows}
    assert got == {("arc:challenge", "25-shot", "accuracy"): 0.5, ("arc:challenge", "25-shot", "acc_norm"): 0.6,
                   ("winogrande", "5-shot", "accuracy"): 0.7, ("anli_r1", "0-shot", "brier_score"): 0.8,
                   ("gsm8k", "5-shot", "accuracy"): 0.1}
    assert any("--assume-shots standard applied" in n for n in notes)
    rows, _ = score_rows(record, "m", "r.json", assume_shots=0)
    assert {r["setting"] for r in rows if r["benchmark"] != "arc:challenge"} == {"0-shot"}


@pytest.fixture(scope="module")
def records_import(shared):
    root = shared / "data" / "metadata_records"
    store = AnalysisStore.create(None)
    result = import_metadata_records(store, root, progress=False, assume_shots="standard", continue_on_error=True,
                                     on_conflict="newest")
    yield store, result
    store.close()


def test_all_shared_records_import_or_fail_with_a_reason(records_import):
    store, result = records_import
    counts = result.counts()
    assert counts["model"] == {"imported": 87, "failed": 0}
    assert counts["dataset"] == {"imported": 36, "failed": 0}
    assert counts["scores"]["imported"] + counts["scores"]["failed"] == 150
    reasons = [f["reason"] for f in result.failures()]
    assert all(reasons)
    assert sum("has no tasks" in r for r in reasons) == 20
    # the path ids are in metadata/model_aliases.csv now: their scores import under the models' names
    assert sum("is a filesystem path" in r for r in reasons) == 0
    assert sum("looks like a column header" in r for r in reasons) == 1
    assert sum("must be a number, got '0.3381'" in r for r in reasons) == 1
    # the two single-underscore path-id files store gsm8k as strings ('0.0091', '0')
    assert sum("metric 'exact_match' must be a number, got '0" in r for r in reasons) == 2
    # results_tiiuae__falcon-7b.json has "gsm8k" twice in one object with different runs: refused, not guessed.
    assert sum("duplicate key 'gsm8k' with different values" in r for r in reasons) == 1
    assert counts["scores"]["imported"] == 125
    assert set(store.scores()["id"]) >= {"llama2_460M_nl_code_shuf-hf", "llama2_220M_nl_0_code_100"}
    assert not any(i.startswith("/") for i in store.scores(canonical=False)["id"])


def test_records_agree_with_the_release(records_import, release):
    store, _ = records_import
    mine = store.scores()
    theirs = release.scores()
    merged = mine.merge(theirs, on=["id", "benchmark", "setting", "metric"], how="left", suffixes=("", "_rel"))
    # Every score key the records give is in the release (benchmark names, settings, metrics all agree)...
    assert merged["metric_value_rel"].notna().mean() > 0.999
    # ...and most values (the release took other runs for some duplicated models; measured 93.8 % within 1e-9).
    same = (merged["metric_value"] - merged["metric_value_rel"]).abs() < 1e-9
    assert same.mean() > 0.93
    ann = store.annotations().set_index("id")
    assert ann.loc["allenai/OLMo-7B", "total_params"] == 6_888_095_744  # from safetensors.total
    assert ann.loc["tiiuae/falcon-7b", "batch_instances"] == 2304  # from the pretraining stage
    assert ann.loc["tiiuae/falcon-7b", "block_type"] == "parallel"
    info = store.dataset_info().set_index("id")
    assert info.loc["allenai/OLMo-7B", "pretraining_summary_percentage_web"] == pytest.approx(82.0)


def test_dataset_record_becomes_dataset_features(records_import):
    store, _ = records_import
    f = store.features_wide("dataset")
    assert f.loc["dolma", "total_tokens_billions"] == 2460.0
    assert f.loc["dolma", "percentage_web"] == pytest.approx(82.0)
    assert f.loc["dolma", "char_len_mean"] == pytest.approx(3821.06)


def test_record_reimport_is_a_noop(store, tmp_path):
    path = tmp_path / "model_scores" / "results_01-ai__Yi-34B.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"model_name": "01-ai__Yi-34B", "last_updated": "2024-12-04", "results": {
        "harness": {"arc:challenge": {"25-shot": {"acc": 0.61, "acc_norm": 0.65, "timestamp": "2024-01-01T00:00:00"}},
                    "winogrande": {"acc": 0.83, "acc_stderr": 0.01}}}}))
    first = import_metadata_record(store, path, assume_shots="standard")
    before = {t: store.query(f"SELECT * FROM {t} ORDER BY ALL") for t in ("evaluation_results", "model_annotations")}
    report = import_metadata_record(store, path, assume_shots="standard")
    assert report.changed == 0 and report.counts["unchanged"] == first.counts["inserted"] > 0
    assert report.counts["inserted"] == 0
    for t, frame in before.items():
        assert frame.equals(store.query(f"SELECT * FROM {t} ORDER BY ALL"))


def test_import_export_folder_into_existing_store_is_idempotent(mini_release_dir, store):
    import_export_folder(store, mini_release_dir)
    first = store.query("SELECT * FROM evaluation_results ORDER BY ALL")
    report = import_export_folder(store, mini_release_dir)
    assert report.counts["inserted"] == 0 and report.counts["unchanged"] == 9
    assert first.equals(store.query("SELECT * FROM evaluation_results ORDER BY ALL"))


def test_release_copy_elsewhere_still_imports(mini_release_dir, tmp_path):
    """load.sql names another machine's paths; a copy in any folder must import from its own CSVs."""
    copy = tmp_path / "moved release"
    shutil.copytree(mini_release_dir, copy)
    assert "/data/tir/elsewhere" in (copy / "load.sql").read_text()
    with AnalysisStore.from_existing(copy) as s:
        assert s.counts()["evaluation_results"] == 4
        # the export keeps the ids as published; reads map them to canonical ids
        assert "EleutherAI/pythia-410M" in set(s.scores(canonical=False)["id"])
        assert set(s.scores()["id"]) == {"org/a", "EleutherAI/pythia-410m", "llama2_460M_nl_code_shuf-hf"}


def test_records_folder_import_is_all_or_nothing(tmp_path, capsys):
    """A bad file stops the whole folder (nothing written); --continue-on-error imports the good ones, exit 1."""
    from model_metadata_db.cli import main as db_main
    root = tmp_path / "records"
    (root / "model_scores").mkdir(parents=True)
    for name, model in (("results_01-ai__Yi-34B.json", "01-ai__Yi-34B"), ("results_gpt2.json", "gpt2"),
                        ("results_model_name.json", "model_name")):
        (root / "model_scores" / name).write_text(json.dumps({"model_name": model, "results": {"harness": {
            "winogrande": {"acc": 0.6}}}}))
    db = tmp_path / "s.duckdb"
    assert db_main(["create", str(db)]) == 0
    assert db_main(["import", str(root), "--db", str(db), "--assume-shots", "standard"]) == 2
    assert "looks like a column header" in capsys.readouterr().err
    with AnalysisStore.from_existing(db) as s:
        assert s.counts()["evaluation_results"] == 0
    assert db_main(["import", str(root), "--db", str(db), "--assume-shots", "standard", "--continue-on-error"]) == 1
    out = capsys.readouterr().out
    assert "failed:" in out and "looks like a column header" in out and "inserted" in out
    with AnalysisStore.from_existing(db) as s:
        assert set(s.scores()["id"]) == {"01-ai/Yi-34B", "gpt2"}


def test_record_schemas_are_the_papers(shared):
    """metadata/record_schemas/ holds the paper's schemas unchanged (only a $comment naming the source added)."""
    from model_metadata_db.importers.metadata_records import KINDS, schema_path
    for kind, (_, name) in KINDS.items():
        ours = json.loads(schema_path(kind).read_text())
        assert "nightingal3/llm-pretraining-behaviours" in ours.pop("$comment")
        assert ours == json.loads((shared / "data" / "metadata_records" / name).read_text())
