"""Data mixes: parsing both formats, validation messages, normalisation, reports, shipped templates."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from pretraining.data import mix_cli
from njsl.units import TokenCountError, parse_token_count
from pretraining.data.mixes import CATEGORIES, MixError, count_tokens, load_mix, shipped_mixes


@pytest.fixture(scope="module")
def data(tmp_path_factory, corpus_jsonl, tok_dir):
    """Two real Megatron datasets: nl (docstrings) and code, with manifests."""
    from pretraining.data.preprocess import preprocess

    root = tmp_path_factory.mktemp("mixdata")
    preprocess(corpus_jsonl, root, str(tok_dir), output_prefix="nl_text_document", limit=10, progress=False)
    preprocess(corpus_jsonl, root, str(tok_dir), output_prefix="code_text_document", progress=False)
    return root


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_paper_format(data, tmp_path):
    mix = load_mix(write(tmp_path / "m.txt",
                         f"# NL/code 80/20\n80 {data}/nl_text_document\n20 {data}/code_text_document.bin\n"))
    assert [d.name for d in mix.domains] == ["nl_text_document", "code_text_document"]
    assert [d.weight for d in mix.domains] == pytest.approx([0.8, 0.2])
    assert mix.megatron_blend() == [pytest.approx(0.8), f"{data}/nl_text_document", pytest.approx(0.2),
                                    f"{data}/code_text_document"]
    assert [d.category for d in mix.domains] == ["web", "code"] and all(d.category_guessed for d in mix.domains)
    assert mix.composition() == {"web": pytest.approx(80.0), "code": pytest.approx(20.0), "books": 0.0,
                                 "reference": 0.0, "academic": 0.0}


def test_yaml_with_categories_env_and_relative_paths(data, tmp_path, monkeypatch):
    monkeypatch.setenv("MYDATA", str(data))
    (tmp_path / "rel").symlink_to(data)
    mix = load_mix(write(tmp_path / "m.yaml", """
name: demo
domains:
  - {name: web, weight: 0.3, path: "${MYDATA}/nl_text_document", category: web}
  - {name: other, weight: 0.7, path: rel/code_text_document, category: {books: 0.5, academic: 0.5}}
"""))
    assert mix.name == "demo" and mix.domains[1].path_prefix == str(tmp_path / "rel" / "code_text_document")
    comp = mix.composition()
    assert comp["web"] == pytest.approx(30) and comp["books"] == pytest.approx(35)
    assert comp["academic"] == pytest.approx(35)
    assert sum(comp.values()) == pytest.approx(100)
    row = mix.dataset_info_row("my-model", 2e9)
    assert row["pretraining_summary_total_tokens_billions"] == 2
    assert row["pretraining_summary_percentage_books"] == pytest.approx(35)
    assert json.loads(row["metadata"])["mix"] == "demo"


@pytest.mark.parametrize("text, message", [
    ("0.5 {d}/nl_text_document 1/4 {d}/code_text_document", r"item 2 .*1/4.*write 0\.25"),
    ("-1 {d}/nl_text_document", "positive number"),
    ("0 {d}/nl_text_document", "positive number"),
    ("nan {d}/nl_text_document", "positive number"),
    ("inf {d}/nl_text_document", "positive number"),
    ("1 {d}/nl_text_document 2", "odd number of items"),
    ("# nothing\n", "empty mix"),
    ("1 {d}/missing_document", r"missing_document has no \.bin / \.idx.*njsl preprocess"),
    ("1 ${{UNSET_NJSL_VAR}}/x", r"\$\{UNSET_NJSL_VAR\} is not set; export UNSET_NJSL_VAR="),
])
def test_paper_format_errors(data, tmp_path, text, message):
    with pytest.raises(MixError, match=message):
        load_mix(write(tmp_path / "bad.txt", text.format(d=data)))


@pytest.mark.parametrize("body, message", [
    ("domains: []", "non-empty list"),
    ("domains:\n  - {name: a, weight: 1, path: X/nl_text_document}", r"domain 'a': missing field\(s\) \['category'\]"),
    ("domains:\n  - {name: a, weight: '1/4', path: X/nl_text_document, category: web}", r"domain 'a'\.weight.*1/4"),
    ("domains:\n  - {name: a, weight: 1, path: X/nl_text_document, category: news}", r"category must be one of web"),
    ("domains:\n  - {name: a, weight: 1, path: X/nl_text_document, category: {books: 0.5, code: 0.2}}", "sum to 1"),
    ("domains:\n  - {name: a, weight: 1, path: X/nl_text_document, category: web, colour: red}",
     r"unknown field\(s\) \['colour'\]"),
    ("domains:\n  - {name: a, weight: 1, path: X/nl_text_document, category: web}\n"
     "  - {name: a, weight: 1, path: X/code_text_document, category: code}", "duplicate domain"),
    ("mixture: 1", r"unknown top-level field\(s\) \['mixture'\]"),
    ("domains: [unclosed", "not valid YAML"),
])
def test_yaml_errors(data, tmp_path, body, message):
    with pytest.raises(MixError, match=message):
        load_mix(write(tmp_path / "bad.yaml", body.replace("X", str(data))))


def test_report_tokens_and_epochs(data, tmp_path):
    mix = load_mix(write(tmp_path / "m.txt", f"3 {data}/nl_text_document 1 {data}/code_text_document"))
    nl_tokens = json.loads((data / "nl_text_document.manifest.json").read_text())["tokens"]
    rows = mix.report(token_budget=1_000_000)
    assert rows[0]["tokens_available"] == nl_tokens
    assert rows[0]["tokens_drawn"] == pytest.approx(750_000)
    assert rows[0]["epochs"] == pytest.approx(750_000 / nl_tokens)
    # without a manifest the count comes from the .idx, and agrees
    (data / "nl_text_document.manifest.json").rename(data / "saved.json")
    try:
        assert count_tokens(data / "nl_text_document") == nl_tokens
    finally:
        (data / "saved.json").rename(data / "nl_text_document.manifest.json")


def test_shipped_templates(tmp_path):
    mixes = shipped_mixes()
    for nl, code in [(100, 0), (90, 10), (80, 20), (75, 25), (60, 40), (40, 60), (20, 80), (0, 100)]:
        mix = load_mix(mixes[f"nl_code_{nl}_{code}"], env={"DATA_ROOT": str(tmp_path)}, check_paths=False)
        comp = mix.composition()
        assert comp["web"] == pytest.approx(nl) and comp["code"] == pytest.approx(code)
        assert all(d.path_prefix.startswith(str(tmp_path)) for d in mix.domains)
    for web, other in [(30, 70), (50, 50), (90, 10)]:
        comp = load_mix(mixes[f"web_other_{web}_{other}"], env={"DATA_ROOT": "/d"}, check_paths=False).composition()
        assert comp["web"] == pytest.approx(web) and sum(comp[c] for c in CATEGORIES[2:]) == pytest.approx(other)
    with pytest.raises(MixError, match="DATA_ROOT"):
        load_mix(mixes["nl_code_80_20"], env={}, check_paths=False)
    assert load_mix(mixes["nl_code_80_20.txt"], env={"DATA_ROOT": "/d"},
                    check_paths=False).composition()["code"] == pytest.approx(20)


def test_token_counts():
    assert parse_token_count("300M") == 300_000_000 and parse_token_count("1.5B") == 1_500_000_000
    assert parse_token_count("2e9") == 2_000_000_000 and parse_token_count(10) == 10
    assert parse_token_count("1_000k") == 1_000_000 and parse_token_count(" 10t ") == 10 ** 13
    for bad in ("lots", "1/4B", "-5M", "B", "", True):
        with pytest.raises(TokenCountError, match="--tokens: expected a token count"):
            parse_token_count(bad)  # type: ignore[arg-type]
    with pytest.raises(TokenCountError, match="^--train_tokens: .* got '3x'"):
        parse_token_count("3x", "--train_tokens")


def test_cli(data, tmp_path, capsys):
    mixfile = write(tmp_path / "m.txt", f"80 {data}/nl_text_document 20 {data}/code_text_document")
    assert mix_cli.main(["report", str(mixfile), "--tokens", "1M"]) == 0
    out = capsys.readouterr().out
    assert "nl_text_document" in out and "epochs" in out and "code 20.00%" in out
    assert mix_cli.main(["report", str(mixfile), "--tokens", "1M", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["token_budget"] == 1_000_000 and math.isclose(sum(r["weight"] for r in rep["domains"]), 1.0)
    bad = write(tmp_path / "bad.txt", f"1/4 {data}/nl_text_document")
    assert mix_cli.main(["report", str(bad)]) == 2
    assert "error:" in capsys.readouterr().err
    assert mix_cli.main(["validate", str(mixfile)]) == 0
