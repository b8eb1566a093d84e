"""Entropy and Megatron preprocessing as datatrove pipelines: the same numbers / bytes as the single-process path."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from whole_corpus_measures import cli as entropy_cli

INT_FIELDS = ("events", "contexts", "distinct_ngrams", "median_context_entropy_bits",
              "percentiles_context_entropy_bits")


def entropy_args(corpus: Path, out: Path, *extra: str):
    return entropy_cli.build_parser().parse_args(
        ["--input", str(corpus), "--output", str(out), "--ngram", "0", "1", "3", *extra])


def assert_same_entropy(a: dict, b: dict) -> None:
    for key in ("documents", "empty_documents", "tokens", "tokenizer", "vocab_size", "malformed_lines"):
        assert a[key] == b[key], key
    for n, oa in a["entropy"].items():
        ob = b["entropy"][n]
        for key in INT_FIELDS:  # counts and per-context entropies are exact, so are their percentiles
            assert oa[key] == ob[key], (n, key)
        for key in ("conditional_entropy_bits", "mean_context_entropy_bits"):  # pooled sums: float rounding
            assert oa[key] == pytest.approx(ob[key], rel=1e-12), (n, key)


@pytest.mark.parametrize("extra", [["--tasks", "3", "--workers", "1"],
                                   ["--tasks", "2", "--workers", "2", "--max_memory_mb", "0.05"]])
def test_entropy_pipeline_equals_single_process(corpus, tmp_path, extra):
    ref = entropy_cli.run(entropy_args(corpus, tmp_path / "ref.json"))
    out = tmp_path / "out.json"
    assert entropy_cli.main([*map(str, ["--input", corpus, "--output", out, "--ngram", "0", "1", "3"]), *extra]) == 0
    got = json.loads(out.read_text())
    assert_same_entropy(got, ref)
    assert got["tasks"] == int(extra[1])
    assert not list(tmp_path.glob(".out.json.datatrove/**/*.u64"))  # the runs are removed once merged


def test_entropy_pipeline_refuses_num_docs_over_tasks(corpus, tmp_path, capsys):
    rc = entropy_cli.main(["--input", str(corpus), "--output", str(tmp_path / "o.json"), "--num_docs", "5",
                           "--tasks", "2"])
    assert rc == 2 and "--num_docs" in capsys.readouterr().err
    assert not (tmp_path / "o.json").exists()


def test_preprocess_pipeline_byte_identical(corpus, tmp_path):
    from pretraining.data.preprocess import preprocess
    from pretraining.data.preprocess_cli import main as preprocess_main
    from whole_corpus_measures.cli import default_tokenizer_dir

    tok = default_tokenizer_dir()
    ref = preprocess(corpus, tmp_path / "ref", tok, progress=False)
    assert preprocess_main(["--input", str(corpus), "--output_dir", str(tmp_path / "dt"), "--tokenizer", tok,
                            "--tasks", "2", "--workers", "1"]) == 0
    for suffix in (".bin", ".idx"):
        got = (tmp_path / "dt" / (ref.prefix.name + suffix)).read_bytes()
        assert got == (tmp_path / "ref" / (ref.prefix.name + suffix)).read_bytes()
    manifest = json.loads((tmp_path / "dt" / (ref.prefix.name + ".manifest.json")).read_text())
    assert manifest["documents"] == ref.manifest["documents"] and manifest["tokens"] == ref.manifest["tokens"]
    assert not (tmp_path / "dt" / f".{ref.prefix.name}.work").exists()


def test_entropy_shards_last_one_merges(corpus, tmp_path, capsys):
    ref = entropy_cli.run(entropy_args(corpus, tmp_path / "ref.json"))
    out = tmp_path / "out.json"
    base = ["--input", str(corpus), "--output", str(out), "--ngram", "0", "1", "3", "--executor", "local"]
    assert entropy_cli.main([*base, "--shard", "1/2"]) == 0
    assert "still to run" in capsys.readouterr().out and not out.exists()
    assert entropy_cli.main([*base, "--shard", "0/2"]) == 0
    assert_same_entropy(json.loads(out.read_text()), ref)


def test_preprocess_pipeline_refuses_input_without_documents(tmp_path, capsys):
    from pretraining.data.preprocess_cli import main as preprocess_main
    from whole_corpus_measures.cli import default_tokenizer_dir

    docs = tmp_path / "docs"
    docs.mkdir()
    for k in range(2):
        (docs / f"part{k}.jsonl").write_text('{"text": "  "}\n{"text": ""}\n')
    out = tmp_path / "out"
    rc = preprocess_main(["--input", str(docs), "--output_dir", str(out), "--tokenizer", default_tokenizer_dir(),
                          "--tasks", "2", "--workers", "1"])
    assert rc == 2 and "no non-empty document" in capsys.readouterr().err
    assert not list(out.glob("*.bin")) and not list(out.glob("*.idx")) and not list(out.glob(".*.work"))
