"""generate -> filter -> tag -> classify (local model and a local OpenAI-compatible server) -> store -> predictor."""
from __future__ import annotations

import json
import math

import pytest

from freegens.cli import main as freegens_main
from freegens.domains_cli import main as domains_main
from freegens.features import DOMAIN_FEATURES

LOOSE = ["--min_words", "1", "--min_chars", "1", "--languages", "en,de,fr"]


@pytest.mark.slow
def test_tiny_model_pseudo_features_into_the_store(tiny_model, labelled_csv, chat_server, tmp_path, capsys):
    from model_metadata_db import AnalysisStore

    gens = tmp_path / "gens.jsonl"
    assert freegens_main(["generate", "--model", str(tiny_model), "--output", str(gens), "--num_samples", "6",
                          "--max_new_tokens", "40", "--batch_size", "3", "--threads", "1"]) == 0
    domain_model = tmp_path / "domain_model"
    assert domains_main(["train", str(labelled_csv), "--output", str(domain_model)]) == 0
    store = tmp_path / "store.duckdb"
    common = ["--generations", str(gens), "--store", str(store), "--features", "char_len,tokens,parse,keyword_ratios",
              "--max_word_repeat", "40", "--max_dup_ngram_frac", "1", "--max_dup_line_frac", "1",
              "--max_dup_para_frac", "1", *LOOSE]
    assert freegens_main(["features", "tiny-local", "--workdir", str(tmp_path / "w1"), "--domain_backend", "local",
                          "--domain_model_path", str(domain_model), *common]) == 0
    assert freegens_main(["features", "tiny-llm", "--workdir", str(tmp_path / "w2"), "--domain_backend", "openai",
                          "--base_url", str(chat_server.base_url), "--llm_model", "test-model",
                          "--retry_base_delay", "0.01", *common]) == 0
    assert chat_server.answered > 0
    out = capsys.readouterr()
    assert "wrote" in out.out and "requests sent:" in out.err

    with AnalysisStore.from_existing(store) as st:
        wide = st.features_wide("model")       # what the predictor reads
        long = st.features("model")
    assert {"tiny-local", "tiny-llm"} <= set(wide.index)
    for model_id in ("tiny-local", "tiny-llm"):
        row = wide.loc[model_id]
        assert 0 <= row["pct_english_mean"] <= 100
        assert row["char_len_mean"] > 0 and "num_tokens_mean" in row and "ttr_mean" in row
        domains = [row[c] for c in DOMAIN_FEATURES if c in row and not math.isnan(row[c])]
        if domains:
            assert sum(domains) == pytest.approx(100.0)
    assert set(long["source"]) == {"freegens:gens.jsonl"}
    report = json.loads((tmp_path / "w1" / "report.json").read_text())
    assert report["filter"]["total"] == 6 and report["domain_backend"] == "local"
    assert (tmp_path / "w2" / "domains.csv.cache.sqlite").exists()


def test_features_from_known_generations_with_the_llm_cascade(chat_server, sample_docs, tmp_path, capsys):
    gens = tmp_path / "gens.jsonl"
    with open(gens, "w") as fh:
        for i, text in enumerate(sample_docs.values()):
            fh.write(json.dumps({"doc_id": i, "resps": [[text]], "filtered_resps": [text]}) + "\n")
    store = tmp_path / "store.duckdb"
    assert freegens_main(["features", "org/model-a", "--generations", str(gens), "--store", str(store),
                          "--workdir", str(tmp_path / "w"), "--features", "char_len", "--domain_backend", "openai",
                          "--base_url", chat_server.base_url, "--llm_model", "m", *LOOSE]) == 0
    from model_metadata_db import AnalysisStore

    with AnalysisStore.from_existing(store) as st:
        row = st.features_wide("model").loc["org/model-a"]
    # 7 of 9 documents have a content domain (incoherent and unknown do not count); media folds into reference
    for name, n in {"code": 1, "web": 1, "academic": 1, "books": 1, "specific_datasets": 1, "reference": 2}.items():
        assert row[f"domain_{name}_pct_mean"] == pytest.approx(100 * n / 7)
    assert row["char_len_mean"] > 0 and row["pct_english_mean"] > 50


def test_features_all_filtered_out_is_a_clear_error(tmp_path, capsys):
    gens = tmp_path / "gens.jsonl"
    gens.write_text(json.dumps({"doc_id": 0, "resps": [["too short"]]}) + "\n")
    store = tmp_path / "store.duckdb"
    assert freegens_main(["features", "m", "--generations", str(gens), "--store", str(store), "--workdir",
                          str(tmp_path / "w"), "--features", "none", "--domain_model_path", "x"]) == 2
    err = capsys.readouterr().err
    assert "no generation passed the filters" in err and "too_short: 1" in err
    assert not store.exists()


def test_features_bad_tagger_option(tmp_path, capsys):
    assert freegens_main(["features", "m", "--generations", "g.jsonl", "--store", str(tmp_path / "s.duckdb"),
                          "--tagger_option", "novalue"]) == 2
    assert "--tagger_option must look like KEY=VALUE" in capsys.readouterr().err


def test_domains_features_command_for_a_dataset(tmp_path, capsys):
    classified = tmp_path / "c.csv"
    classified.write_text("id,language,prediction,decided_at\n1,en,web,web\n2,en,code,code\n3,de,media,final\n"
                          "4,en,incoherent,incoherent\n")
    store = tmp_path / "s.duckdb"
    from model_metadata_db import AnalysisStore

    AnalysisStore.create(store).close()
    assert domains_main(["features", str(classified), "--store", str(store), "--id", "fineweb-sample",
                         "--kind", "dataset"]) == 0
    with AnalysisStore.from_existing(store) as st:
        row = st.features_wide("dataset").loc["fineweb-sample"]
        assert st.features_wide("model").empty
    assert row["domain_web_pct_mean"] == pytest.approx(100 / 3)
    assert row["domain_reference_pct_mean"] == pytest.approx(100 / 3)
    assert row["pct_english_mean"] == pytest.approx(200 / 3)  # of web, code, media: the incoherent one is left out


def test_domains_features_rejects_a_csv_of_another_kind(tmp_path, capsys):
    bad = tmp_path / "c.csv"
    bad.write_text("text,label\nx,web\n")
    store = tmp_path / "s.duckdb"
    assert domains_main(["features", str(bad), "--store", str(store), "--id", "x"]) == 2
    assert "not a domain classification CSV" in capsys.readouterr().err
    assert not store.exists()


def test_domains_features_reads_the_papers_labelled_csv(shared, tmp_path, capsys):
    """The paper's columns (text, language, prediction) are enough: its own label file gives its shares."""
    from model_metadata_db import AnalysisStore
    from njsl.paths import domain_labels_csv

    store = tmp_path / "s.duckdb"
    assert domains_main(["features", str(domain_labels_csv()), "--store", str(store), "--id", "fineweb",
                         "--kind", "dataset"]) == 0
    with AnalysisStore.from_existing(store) as st:
        row = st.features_wide("dataset").loc["fineweb"]
    # 1,000 documents, 61 incoherent/unknown left out; media (9) counted as reference (141)
    assert row["domain_web_pct_mean"] == pytest.approx(100 * 664 / 939)
    assert row["domain_reference_pct_mean"] == pytest.approx(100 * 150 / 939)
    assert row["pct_english_mean"] == 100.0
