"""One id per model (metadata/model_aliases.csv), flagged targets and partial evaluations."""
from __future__ import annotations

import csv
import json

import pytest

from model_metadata_db import AnalysisStore, StoreError
from model_metadata_db.aliases import ALIAS_FILE, alias_overlaps, canonicalize, load_aliases, propose_aliases
from model_metadata_db.hygiene import TASK_DEFINITIONS, XNLI_LANGUAGES, flag_scores
from model_metadata_db.importers import import_lm_eval_results


def test_alias_table_is_reviewed_data():
    with ALIAS_FILE.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and all(r["reason"].strip() for r in rows)
    table = load_aliases()
    assert table["meta-llama/Llama-2-7b"] == "meta-llama/Llama-2-7b-hf"
    assert table["EleutherAI/pythia-410M"] == "EleutherAI/pythia-410m"
    assert not set(table.values()) & set(table)  # no chains


def test_bad_alias_file_is_named(tmp_path):
    bad = tmp_path / "a.csv"
    bad.write_text("alias,canonical,reason\nx,y,\n")
    with pytest.raises(StoreError, match="line 2: alias, canonical and reason must all be given"):
        load_aliases(bad)
    bad.write_text("alias,canonical,reason\nx,y,r\ny,z,r\n")
    with pytest.raises(StoreError, match="themselves aliases"):
        load_aliases(bad)


def test_canonical_rows_win_and_alias_rows_fill():
    import pandas as pd
    table = {"a/M": "a/m"}
    scores = pd.DataFrame({"id": ["a/m", "a/M", "a/M"], "benchmark": ["x", "x", "y"], "setting": ["0-shot"] * 3,
                           "metric": ["accuracy"] * 3, "metric_value": [0.5, 0.6, 0.7]})
    out = canonicalize(scores, ["id", "benchmark", "setting", "metric"], table)
    assert sorted(zip(out["benchmark"], out["metric_value"], strict=True)) == [("x", 0.5), ("y", 0.7)]
    assert alias_overlaps(scores, table)[["alias", "alias_value", "value"]].values.tolist() == [["a/M", 0.6, 0.5]]
    ann = pd.DataFrame({"id": ["a/m", "a/M"], "dimension": [None, 64.0], "num_heads": [8.0, 4.0]})
    row = canonicalize(ann, ["id"], table).iloc[0]
    assert row["dimension"] == 64.0 and row["num_heads"] == 8.0


def test_check_proposes_new_aliases():
    ids = ["org/Model-7B", "org/model-7b", "org/x", "org/x-hf", "/data/ckpt/org/x", "/data/run/y"]
    got = propose_aliases(ids, {}).set_index("alias")["canonical"].to_dict()
    assert got == {"org/Model-7B": "org/model-7b", "org/x": "org/x-hf", "/data/ckpt/org/x": "x"} or \
        got["org/Model-7B"] == "org/model-7b" and got["org/x"] == "org/x-hf"
    assert "/data/run/y" not in got


def test_imports_store_canonical_ids(store):
    store.add_eval_results([{"id": "EleutherAI/pythia-410M", "benchmark": "piqa", "setting": "0-shot",
                             "metric": "accuracy", "metric_value": 0.6}])
    assert store.scores(canonical=False)["id"].tolist() == ["EleutherAI/pythia-410m"]


def test_release_reads_use_canonical_ids(release):
    raw = set(release.scores(canonical=False)["id"])
    ids = set(release.scores()["id"])
    assert "meta-llama/Llama-2-7b-hf" in raw and "EleutherAI/pythia-410M" in raw
    assert not any(i.startswith("/") for i in ids) and "EleutherAI/pythia-410M" not in ids
    models = release.models_with_features().set_index("id")
    llama = models.loc["meta-llama/Llama-2-7b-hf"]
    # the annotation of "Llama-2-7b" joins the scores of "Llama-2-7b-hf"; the count comes from annotation_fills.csv
    assert llama["dimension"] == 4096 and llama["total_params"] == 6_738_415_616
    assert llama["pretraining_summary_total_tokens_billions"] == 2000.0
    assert "meta-llama/Llama-2-7b" not in models.index
    path_model = release.scores(ids=["llama2_460M_nl_code_shuf-hf"])
    # 113 scores under the checkpoint path; the 20 under the name are of the same keys (the name's values kept)
    assert len(path_model) == 113
    overlaps = alias_overlaps(release.scores(canonical=False))
    assert overlaps["alias"].nunique() == 5  # 3 checkpoint paths, 2 case twins


def test_predictor_gains_the_recovered_models(release):
    from performance_prediction.data import load_data
    data = load_data(store=release, metric="accuracy")
    scored = set(data.targets["id"])
    assert {"meta-llama/Llama-2-7b-hf", "llama2_460M_nl_code_shuf-hf"} <= scored
    assert len(scored) == 98  # 96 before the alias table (measured on the release, see README)


def test_release_flags(release):
    flags = release.flagged_scores()
    broken = flags[flags["flag"] == "broken_run"]
    crystal = broken[(broken["id"] == "LLM360/CrystalCoder") & (broken["benchmark"] == "lambada_openai")]
    assert set(crystal["metric"]) == {"accuracy", "perplexity"}
    assert "worse than uniform guessing" in crystal["reason"].iloc[0]
    assert {"cerebras/Cerebras-GPT-13B", "EleutherAI/pile-t5-large", "Devio/test-3b",
            "frank098/orca_mini_3b_juniper", "AbacusResearch/jaLLAbi"} <= set(broken["id"])
    # small models with a high but possible perplexity are not flagged
    assert "EleutherAI/pythia-14m" not in set(broken[broken["benchmark"].str.startswith("lambada")]["id"])
    defs = flags[flags["flag"] == "task_definition"]
    assert set(defs["benchmark"]) == set(TASK_DEFINITIONS) == {"gsm8k_cot", "xnli_eu"}
    train = release.training_scores(metric="accuracy")
    assert not ((train["id"] == "LLM360/CrystalCoder") & train["benchmark"].str.startswith("lambada")).any()
    assert "gsm8k_cot" not in set(train["benchmark"])
    every = release.training_scores(metric="accuracy", include_flagged=True)
    assert len(every) == len(release.scores(metric="accuracy"))


def test_task_definitions_exclude_no_model(release):
    """gsm8k = gsm8k alone, xnli = 15 languages: every model keeps a target (counts in the README)."""
    scores = release.scores()
    gsm = scores[scores["benchmark"] == "gsm8k"]["id"]
    cot = scores[(scores["benchmark"] == "gsm8k_cot") & (scores["setting"] == "5-shot")]["id"]
    assert cot.nunique() == 76 and set(cot) <= set(gsm)
    xnli = scores[scores["benchmark"].str.startswith("xnli_")]
    langs = xnli.groupby("id")["benchmark"].nunique()
    assert (langs >= len(XNLI_LANGUAGES)).all() and (langs == 16).sum() == 70
    assert len(XNLI_LANGUAGES) == 15


def test_partial_evaluation_is_stored_with_its_sample_count(store, tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps({
        "results": {"arc_easy": {"acc,none": 0.5, "acc_stderr,none": 0.08}, "piqa": {"acc,none": 0.6}},
        "n-shot": {"arc_easy": 0, "piqa": 0}, "config": {"model_args": "pretrained=org/m", "limit": 40},
        "n-samples": {"arc_easy": {"original": 120, "effective": 40}, "piqa": {"original": 40, "effective": 40}}}))
    import_lm_eval_results(store, path)
    s = store.scores().set_index("benchmark")
    assert (s.loc["arc_easy", "n_samples"], s.loc["arc_easy", "n_total"]) == (40, 120)
    flags = store.flagged_scores()
    assert flags[["benchmark", "flag"]].values.tolist() == [["arc_easy", "partial"]]
    assert "evaluated on 40 of 120 items" in flags["reason"].iloc[0]
    assert store.training_scores()["benchmark"].tolist() == ["piqa"]
    assert sorted(store.training_scores(include_partial=True)["benchmark"]) == ["arc_easy", "piqa"]


def test_flag_rules_on_synthetic_rows():
    import pandas as pd
    rows = pd.DataFrame([
        {"id": "a", "benchmark": "lambada_openai", "setting": "0-shot", "metric": "perplexity",
         "metric_value": 5e8, "metric_stderr": 5e7},
        {"id": "a", "benchmark": "lambada_openai", "setting": "0-shot", "metric": "accuracy",
         "metric_value": 0.0, "metric_stderr": 0.0},
        {"id": "b", "benchmark": "piqa", "setting": "0-shot", "metric": "accuracy", "metric_value": 0.6,
         "metric_stderr": 3.0},
        {"id": "c", "benchmark": "piqa", "setting": "0-shot", "metric": "accuracy", "metric_value": 0.6,
         "metric_stderr": 0.01},
    ])
    flags = flag_scores(rows)
    assert sorted(set(flags["id"])) == ["a", "b"]
    assert "stderr 3 is larger than the metric's whole range" in flags[flags["id"] == "b"]["reason"].iloc[0]


def test_store_without_aliases_for_features_kind_dataset(store):
    store.set_features("dataset", "EleutherAI/pythia-410M", {"x": 1.0}, source="t")  # a dataset name, not a model
    assert store.features("dataset")["id"].tolist() == ["EleutherAI/pythia-410M"]


def test_file_store_round_trip_keeps_sample_counts(tmp_path):
    db = tmp_path / "s.duckdb"
    with AnalysisStore.create(db) as s:
        s.add_eval_results([{"id": "o/m", "benchmark": "piqa", "setting": "0-shot", "metric": "accuracy",
                             "metric_value": 0.6, "n_samples": 10, "n_total": 1838}])
        s.export(tmp_path / "exp")
    with AnalysisStore.from_existing(tmp_path / "exp") as again:
        assert again.scores()[["n_samples", "n_total"]].iloc[0].tolist() == [10, 1838]
