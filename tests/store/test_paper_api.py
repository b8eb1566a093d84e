"""The paper's AnalysisStore API on our store: its tests' behaviours (CSV imports, joins) and every member.

The paper's tests (metadata/duckdb/test_model_metadata_db.py of its repository) import three CSVs into
``AnalysisStore(":memory:")`` and check OLMo-7B's and Pythia-410m's values; the CSVs here are our own small files
in the same layouts, holding the same published facts.
"""
from __future__ import annotations

import json

import pandas as pd
import pytest

from model_metadata_db import AnalysisStore, StoreError, load_table_from_db, update_specific_columns

MODEL_CSV = """id,dimension,num_heads,mlp_ratio,layer_norm_type,positional_embeddings,attention_variant,biases,\
block_type,activation,sequence_length,batch_instances,batch_tokens,weight_tying,safetensors:total,\
is_instruction_tuned,is_preference_tuned,total_params
EleutherAI/pythia-410m,1024,16,4,,,,,,gelu,2048,,,FALSE,505997504,,,
cerebras/Cerebras-GPT-2.7B,2560,32,4,,learned,,,,,2048,528,,TRUE,,FALSE,FALSE,2700000000
allenai/OLMo-7B,4096,32,5.375,non-parametric,rope,full,none,sequential,swiglu,2048,2160,,FALSE,6888095744,FALSE,FALSE,
"""
DATASET_CSV = """id,pretraining_summary:total_tokens_billions,pretraining_summary:percentage_web,\
pretraining_summary:percentage_code,pretraining_summary:percentage_books,pretraining_summary:percentage_reference,\
pretraining_summary:percentage_academic,pretraining_summary:percentage_english,sft_summary:total_tokens_billions
allenai/OLMo-7B,2460.0,82.0,13.43,0.2,0.14,2.29,100.0,
EleutherAI/pythia-410m,371.0,91.82,8.18,0.0,0.0,0.0,100.0,
cerebras/Cerebras-GPT-2.7B,371.0,,,,,,100.0,
"""
SCORES_CSV = """model_name,arc:challenge_25-shot_acc,arc:challenge_25-shot_acc_stderr,arc:challenge_25-shot_acc_norm,\
hellaswag_10-shot_acc_norm,winogrande_5-shot_acc
EleutherAI/pythia-410m,0.23122866894197952,0.012320858834772283,0.2619453924914676,0.4084843656642103,
allenai/OLMo-7B,,,,,0.6
"""


@pytest.fixture
def paths(tmp_path):
    out = {}
    for name, text in (("model", MODEL_CSV), ("dataset", DATASET_CSV), ("scores", SCORES_CSV)):
        out[name] = tmp_path / f"{name}.csv"
        out[name].write_text(text)
    return out


@pytest.fixture
def db():
    with AnalysisStore(":memory:") as store:
        yield store


def test_model_import(db, paths):
    db.import_model_features_from_csv(str(paths["model"]))
    r = db.con.execute("SELECT dimension, num_heads, total_params FROM model_annotations "
                       "WHERE id = 'allenai/OLMo-7B'").df()
    assert len(r) == 1 and r.iloc[0].tolist() == [4096, 32, 6888095744]
    # safetensors:total wins over total_params, as in the paper's importer
    assert db.annotations().set_index("id").loc["EleutherAI/pythia-410m", "total_params"] == 505997504


def test_dataset_import(db, paths):
    db.import_dataset_features_from_csv(str(paths["dataset"]))
    r = db.con.execute("SELECT pretraining_summary_total_tokens_billions, pretraining_summary_percentage_web, "
                       "pretraining_summary_percentage_code FROM dataset_info WHERE id = 'allenai/OLMo-7B'").df()
    assert r.iloc[0].tolist() == [2460.0, 82.0, 13.43]


def test_scores_import(db, paths):
    db.import_scores_from_csv(str(paths["scores"]))
    r = db.con.execute("SELECT setting, metric_value, metric_stderr FROM evaluation_results "
                       "WHERE id = 'EleutherAI/pythia-410m' AND benchmark = 'arc:challenge' "
                       "AND metric = 'accuracy'").df()
    assert len(r) == 1 and r.iloc[0]["setting"] == "25-shot"
    assert r.iloc[0]["metric_value"] == pytest.approx(0.23122866894197952)
    assert r.iloc[0]["metric_stderr"] == pytest.approx(0.012320858834772283)
    assert set(db.scores()["metric"]) == {"accuracy", "acc_norm"}


def test_joined_query_and_complete_import(db, paths):
    db.import_model_features_from_csv(str(paths["model"]))
    db.import_dataset_features_from_csv(str(paths["dataset"]))
    db.import_scores_from_csv(str(paths["scores"]))
    r = db.con.execute("SELECT m.id, m.dimension, m.total_params, d.pretraining_summary_total_tokens_billions "
                       "FROM model_annotations m JOIN dataset_info d ON m.id = d.id ORDER BY m.total_params DESC").df()
    assert len(r) == 3 and r.iloc[0].tolist() == ["allenai/OLMo-7B", 4096, 6888095744, 2460.0]
    assert db.counts()["model_annotations"] == db.counts()["dataset_info"] == 3


def test_csv_bad_input_changes_nothing(db, tmp_path, paths):
    db.import_model_features_from_csv(str(paths["model"]))
    before = db.query("SELECT * FROM model_annotations ORDER BY ALL")
    bad = tmp_path / "bad.csv"
    bad.write_text("id,dimension\norg/a,12\norg/b,wide\n")
    with pytest.raises(StoreError, match=r"bad.csv line 3 column 'dimension': 'wide' is not a number"):
        db.import_model_features_from_csv(str(bad))
    shotless = tmp_path / "s.csv"
    shotless.write_text("id,gsm8k_exact_match\norg/a,0.1\n")
    with pytest.raises(StoreError, match="have no shot count .*--assume-shots"):
        db.import_scores_from_csv(str(shotless))
    assert db.import_scores_from_csv(str(shotless), assume_shots=5).counts["inserted"] == 1
    pd.testing.assert_frame_equal(before, db.query("SELECT * FROM model_annotations ORDER BY ALL"))


def test_csv_through_the_cli(tmp_path, paths, capsys):
    from model_metadata_db.cli import main as db_main
    db = tmp_path / "s.duckdb"
    assert db_main(["import", str(paths["model"]), str(paths["dataset"]), str(paths["scores"]), "--db", str(db),
                    "--create"]) == 0
    with AnalysisStore.from_existing(db) as s:
        assert s.counts()["model_annotations"] == 3 and s.counts()["evaluation_results"] == 4


def test_extract_metrics_is_the_papers():
    got = AnalysisStore.extract_metrics({"alias": "x", "acc,none": 0.5, "acc_stderr,none": 0.01,
                                         "exact_match,strict-match": "0.25", "exact_match,flexible-extract": 0.9,
                                         "timestamp": "t"}, exclude_keys=["alias"])
    assert got == {"accuracy": {"value": 0.25, "stderr": None}} or got["accuracy"]["value"] in (0.5, 0.25)
    assert AnalysisStore.extract_metrics({"brier_score": 0.7, "brier_score_stderr": 0.02}) == {
        "brier_score": {"value": 0.7, "stderr": 0.02}}


def test_lm_eval_json_with_excludes_and_name_map(db, tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({
        "results": {"mmlu": {"acc,none": 0.3}, "mmlu_anatomy": {"acc,none": 0.4, "acc_stderr,none": 0.04}},
        "n-shot": {"mmlu": 0, "mmlu_anatomy": 0},
        "config": {"model_args": "pretrained=/ckpt/run7"}}))
    db.import_scores_from_lm_eval_json(str(path), excludes=["mmlu"], alternate_name_map={"/ckpt/run7": "me/run7"})
    s = db.scores()
    assert s[["id", "benchmark", "metric_value"]].values.tolist() == [["me/run7", "mmlu_anatomy", 0.4]]


def test_json_dir_import_with_the_papers_defaults(db, tmp_path):
    folder = tmp_path / "model_scores"
    folder.mkdir()
    (folder / "results_org__m.json").write_text(json.dumps(
        {"model_name": "org__m", "results": {"harness": {"hellaswag": {"acc_norm": 0.5},
                                                          "arc_challenge": {"25-shot": {
                                                              "acc": 0.4, "timestamp": "2024-01-01T00:00:00"}}}}}))
    with pytest.raises(StoreError, match="shot count"):
        db.import_scores_from_json_dir(str(folder))
    report = db.import_scores_from_json_dir(str(folder), benchmark_defaults=AnalysisStore.BENCHMARK_DEFAULTS)
    assert report.counts["inserted"] == 2
    assert set(zip(db.scores()["benchmark"], db.scores()["setting"], strict=True)) == {("hellaswag", "10-shot"),
                                                                           ("arc_challenge", "25-shot")}


def test_leaderboard_v1_and_v2_import(db, tmp_path):
    from model_metadata_db.importers import import_lm_eval_results
    v1 = tmp_path / "results_2023.json"
    v1.write_text(json.dumps({
        "config_general": {"model_name": "org/m", "model_sha": "abc"},
        "results": {"harness|arc:challenge|25": {"acc": 0.5, "acc_stderr": 0.01, "acc_norm": 0.55},
                    "harness|truthfulqa:mc|0": {"mc1": 0.2, "mc2": 0.35},
                    "harness|hendrycksTest-anatomy|5": {"acc": 0.3}, "all": {"acc": 0.4}}}))
    report = import_lm_eval_results(db, v1)
    assert report.counts["inserted"] == 5
    s = db.scores().set_index(["benchmark", "metric"])
    assert s.loc[("arc:challenge", "accuracy"), "setting"] == "25-shot"
    assert s.loc[("truthfulqa:mc", "mc2"), "metric_value"] == 0.35
    v2 = tmp_path / "contents.json"
    v2.write_text(json.dumps([{"fullname": "org/m", "BBH Raw": 0.41, "BBH": 20.1, "MMLU-PRO Raw": 0.3},
                              {"fullname": "org/n", "GPQA Raw": 0.27}]))
    import_lm_eval_results(db, v2)
    v2rows = db.scores()[db.scores()["benchmark"].str.startswith("leaderboard_")]
    assert sorted(zip(v2rows["id"], v2rows["benchmark"], v2rows["setting"], strict=True)) == [
        ("org/m", "leaderboard_bbh", "3-shot"), ("org/m", "leaderboard_mmlu_pro", "5-shot"),
        ("org/n", "leaderboard_gpqa", "0-shot")]


# ---------------------------------------------------------------- every member on the release
def test_get_analysis_data_and_wide_format_on_the_release(release):
    long = release.get_analysis_data()
    assert {"accuracy", "accuracy_stderr", "benchmark", "setting", "dimension"} <= set(long.columns)
    acc = release.scores(metric="accuracy")
    olmo = long[(long["id"] == "allenai/OLMo-7B-hf") & long["benchmark"].notna()]
    assert len(olmo) == (acc["id"] == "allenai/OLMo-7B-hf").sum() > 0
    wide = release.get_analysis_data(format="wide")
    assert wide["id"].is_unique and len(wide) == release.annotations()["id"].nunique()
    # mmlu subjects exist at 0- and 5-shot: their columns carry the setting (the paper's pivot raised here)
    assert "mmlu_anatomy_0-shot_acc" in wide.columns and "gsm8k_acc" in wide.columns
    row = wide.set_index("id").loc["allenai/OLMo-7B-hf"]
    value = acc[(acc["id"] == "allenai/OLMo-7B-hf") & (acc["benchmark"] == "gsm8k")]["metric_value"].iloc[0]
    assert row["gsm8k_acc"] == value
    with pytest.raises(StoreError, match="format"):
        release.get_analysis_data(format="tall")


def test_get_model_profile_on_the_release(release):
    profile = release.get_model_profile("EleutherAI/pythia-410M")  # an alias: the canonical model's profile
    assert profile["model_features"]["id"].tolist() == ["EleutherAI/pythia-410m"]
    assert len(profile["benchmark_scores"]) > 200 and len(profile["dataset_features"]) == 1
    assert list(profile["benchmark_scores"].columns) == ["benchmark", "setting", "metric", "metric_value",
                                                         "metric_stderr"]


def test_conflicts_members_on_the_release(release_copy):
    conflicts = release_copy.check_for_conflicts()
    assert set(conflicts["id"]) >= {"EleutherAI/pythia-410m", "EleutherAI/gpt-neo-125m"}
    assert (conflicts["occurrence_count"] == 2).all()
    with pytest.raises(StoreError, match="needs the time of each value"):
        release_copy.resolve_conflicts(conflicts, "newer")
    one = conflicts[conflicts["id"] == "EleutherAI/pythia-410m"].head(1)
    report = release_copy.resolve_conflicts(one, "larger")
    r = one.iloc[0]
    assert report.counts["replaced"] + report.counts["unchanged"] == 1
    stored = release_copy.scores(canonical=False)
    hit = stored[(stored["benchmark"] == r["benchmark"]) & (stored["setting"] == r["setting"])
                 & (stored["metric"] == r["metric"]) & stored["id"].isin(r["ids"])]
    assert hit["id"].tolist() == ["EleutherAI/pythia-410m"] and hit["metric_value"].iloc[0] == max(r["values"])


def test_verify_save_preview_setup_and_con(release, tmp_path, capsys):
    counts = release.verify_data()
    assert counts["evaluation_results"] == 27150 and "Data Verification" in capsys.readouterr().out
    release.save_database(str(tmp_path / "saved"))
    assert (tmp_path / "saved" / "load.sql").is_file()
    assert release.preview_changes() == {}
    with AnalysisStore.from_existing(tmp_path / "saved") as again:
        again.delete_model("allenai/OLMo-7B-hf")
        again.save_database(str(tmp_path / "saved2"), preview=False)
    changes = release.preview_changes(str(tmp_path / "saved2"))
    assert set(changes["model_annotations"]["id"]) == {"allenai/OLMo-7B-hf"}
    assert set(changes["model_annotations"]["change"]) == {"only_here"}
    release.setup_schema()  # creates what is missing, drops nothing
    assert release.con.execute("SELECT count(*) FROM evaluation_results").fetchone()[0] == 27150


def test_module_functions(release_dir, tmp_path):
    models = load_table_from_db(str(release_dir), "model")
    assert "meta-llama/Llama-2-7b-hf" in set(models["id"])
    acc = load_table_from_db(str(release_dir), "evaluation", metric="accuracy")
    assert set(acc["metric"]) == {"accuracy"}
    with pytest.raises(StoreError, match="Choose from"):
        load_table_from_db(str(release_dir), "scores")
    with AnalysisStore.from_existing(release_dir) as store:
        csv = tmp_path / "upd.csv"
        csv.write_text("id,num_heads,sequence_length\nallenai/OLMo-7B-hf,64,\n")
        report = update_specific_columns(store, str(csv), ["num_heads", "sequence_length"])
        assert report.counts["replaced"] == 1 and report.conflicts[0]["old"] == 32
        row = store.annotations().set_index("id").loc["allenai/OLMo-7B-hf"]
        assert row["num_heads"] == 64 and row["sequence_length"] == 2048  # an empty cell keeps the value
        with pytest.raises(StoreError, match="not in the CSV"):
            update_specific_columns(store, str(csv), ["dimension"])


def test_safe_import_scores_and_verify_scores(db, capsys):
    db.add_eval_results([{"id": "org/m", "benchmark": "hellaswag", "setting": "10-shot", "metric": "acc_norm",
                          "metric_value": 0.40}])
    frame = pd.DataFrame({"id": ["org/m", "org/n"], "hellaswag_10-shot_acc_norm": [0.45, 0.30]})
    new, conflicts = db.safe_import_scores(frame)
    assert new["id"].tolist() == ["org/n"] and conflicts[["id", "old", "new"]].values.tolist() == [
        ["org/m", 0.40, 0.45]]
    assert db.counts()["evaluation_results"] == 1  # nothing written
    report = db.import_scores_safely(frame)  # no auto_resolve: the stored value is kept
    assert report.counts["inserted"] == 1 and report.counts["refused"] == 1
    report = db.import_scores_safely(frame, auto_resolve=True, resolution_strategy="smaller")
    assert report.counts["refused"] == 1 and db.scores(ids=["org/m"])["metric_value"].tolist() == [0.40]
    report = db.import_scores_safely(frame, auto_resolve=True, resolution_strategy="larger")
    assert report.counts["replaced"] == 1 and db.scores(ids=["org/m"])["metric_value"].tolist() == [0.45]
    out = db.verify_scores()
    assert "Sample of scores with accuracy" in capsys.readouterr().out and set(out) == {"accuracy", "other_metrics"}
