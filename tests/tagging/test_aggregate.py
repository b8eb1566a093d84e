"""Aggregation to the paper's feature names, and into the store."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from njsl.documents import Document

from data_tagging import aggregate_features, tag_documents
from data_tagging.cli import main

# Every paper feature our taggers produce (generation_features CSV column names).
PAPER_NAMES = [
    f"{base}_{stat}" for stat in ("mean", "std") for base in (
        "char_len", "num_tokens", "unique_tokens", "ttr", "content_function_ratio",
        "dep_parse_dep_head_dist_median", "dep_parse_dep_head_dist_90p", "dep_parse_dep_head_dist_max",
        "dep_parse_dep_root_dist_median", "dep_parse_dep_root_dist_mean", "dep_parse_dep_root_dist_max",
        "const_parse_num_sentences", "const_parse_num_words", "const_parse_words_per_sent_mean",
        "const_parse_words_per_sent_std",
    )
] + ["question_words_ratio", "imperative_verbs_ratio", "conjunctions_ratio", "instructions_words_ratio",
     "numbers_ratio"]


@pytest.fixture(scope="module")
def per_doc(docstrings) -> pd.DataFrame:
    docs = [Document(f"d{i}", t) for i, t in enumerate(docstrings[:12])]
    return tag_documents(docs, "all")


def test_aggregate_produces_paper_names(per_doc):
    feats = aggregate_features(per_doc)
    missing = [n for n in PAPER_NAMES if n not in feats]
    assert not missing
    assert feats["char_len_mean"] == pytest.approx(per_doc["char_len"].mean())
    assert feats["char_len_std"] == pytest.approx(per_doc["char_len"].std(ddof=1))  # pandas, as the paper
    col = per_doc["dep_parse_dep_head_dist_median"]
    assert feats["dep_parse_dep_head_dist_median_std"] == pytest.approx(np.std(col))  # np.std, as the paper
    pooled = 1e5 * per_doc["question_words"].sum() / per_doc["char_len"].sum()
    assert feats["question_words_ratio"] == pytest.approx(pooled)
    assert all(not math.isnan(v) for v in feats.values())


def test_paper_names_exist_in_the_release(shared):
    from njsl.paths import generation_features_csv

    columns = set(pd.read_csv(generation_features_csv(), nrows=1).columns)
    assert [n for n in PAPER_NAMES if n not in columns] == []


def test_skipped_documents_do_not_count(per_doc):
    extra = tag_documents([Document("de", "Die Katze sitzt auf dem Tisch und schaut aus dem Fenster, weil "
                                          "draußen die Vögel singen und der Hund im Garten schläft.")], "parse")
    both = pd.concat([per_doc, extra], ignore_index=True)
    assert aggregate_features(both)["dep_parse_dep_head_dist_median_mean"] == pytest.approx(
        aggregate_features(per_doc)["dep_parse_dep_head_dist_median_mean"])


def test_cli_aggregate_into_store_and_json(tmp_path, per_doc, capsys):
    from model_metadata_db import AnalysisStore

    tags = tmp_path / "tags.parquet"
    per_doc.to_parquet(tags)
    store_path = tmp_path / "store.duckdb"
    js = tmp_path / "f.json"
    assert main(["aggregate", str(tags), "--kind", "model", "--id", "org/model-1", "--store", str(store_path),
                 "--output", str(js)]) == 0
    payload = json.loads(js.read_text())
    assert payload["documents"] == len(per_doc) and payload["id"] == "org/model-1"
    with AnalysisStore.from_existing(store_path) as store:
        wide = store.features_wide("model")
        long = store.features("model")
    assert wide.loc["org/model-1", "char_len_mean"] == pytest.approx(payload["features"]["char_len_mean"])
    assert set(PAPER_NAMES) <= set(wide.columns)
    assert long["source"].str.startswith("data_tagging:").all()
    # rerun with fewer documents replaces the values, no duplicates
    per_doc.iloc[:3].to_parquet(tags)
    assert main(["aggregate", str(tags), "--kind", "model", "--id", "org/model-1", "--store", str(store_path)]) == 0
    with AnalysisStore.from_existing(store_path) as store:
        wide2 = store.features_wide("model")
    assert len(wide2) == 1
    assert wide2.loc["org/model-1", "char_len_mean"] == pytest.approx(per_doc["char_len"].iloc[:3].mean())


def test_cli_aggregate_bad_requests(tmp_path, per_doc, capsys):
    tags = tmp_path / "t.parquet"
    per_doc.to_parquet(tags)
    assert main(["aggregate", str(tags), "--store", str(tmp_path / "s.duckdb")]) == 2
    assert "--store needs --id" in capsys.readouterr().err
    assert main(["aggregate", str(tmp_path / "none.parquet"), "--id", "x", "--output", str(tmp_path / "o.json")]) == 2
    assert "none.parquet: not found" in capsys.readouterr().err
    assert not (tmp_path / "s.duckdb").exists() and not (tmp_path / "o.json").exists()


def test_api_with_worker_processes_matches_single_process(per_doc, docstrings):
    import torch  # noqa: F401  # a caller that already uses torch (e.g. freegens) forks the pool safely too

    docs = [Document(f"d{i}", t) for i, t in enumerate(docstrings[:12])]
    parallel = tag_documents(docs, "all", n_process=2, batch_size=4)
    pd.testing.assert_frame_equal(parallel, per_doc)
