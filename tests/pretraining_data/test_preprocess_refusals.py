"""Preprocessing refuses bad input and unsafe outputs with one line, writing nothing; k-mer unknown-token rate."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from pretraining.data import preprocess_cli
from pretraining.data.preprocess import PreprocessError, preprocess, read_manifest


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()} \
        if folder.exists() else {}


def _cli(capsys, *args) -> tuple[int, str]:
    rc = preprocess_cli.main([str(a) for a in args])
    return rc, capsys.readouterr().err


def test_empty_input_refused(tmp_path, tok_dir, jsonl_writer, capsys):
    empty = jsonl_writer(tmp_path / "empty.jsonl", ["", "   ", ""])
    out = tmp_path / "out"
    with pytest.raises(PreprocessError, match="holds no non-empty document \\(3 empty"):
        preprocess(empty, out, str(tok_dir), progress=False)
    assert _snapshot(out) == {}  # no .bin/.idx/manifest, no leftover work files
    (tmp_path / "zero.jsonl").write_text("")
    rc, err = _cli(capsys, "--input", tmp_path / "zero.jsonl", "--output_dir", out, "--tokenizer", tok_dir)
    assert rc == 2 and err.startswith("error: --input:") and err.count("\n") == 1 and _snapshot(out) == {}


def test_output_of_another_tokenizer_refused_unless_overwrite(tmp_path, corpus_jsonl, tok_dir, capsys):
    out = tmp_path / "out"
    preprocess(corpus_jsonl, out, str(tok_dir), progress=False)
    before = _snapshot(out)
    assert read_manifest(out / "corpus_text_document")["tokenizer"]["sha256"]
    rc, err = _cli(capsys, "--input", corpus_jsonl, "--output_dir", out, "--tokenizer", "3mer", "--allow_unk")
    assert rc == 2 and err.count("\n") == 1
    assert "holds corpus_text_document.manifest.json, preprocessed with tokenizer" in err and "'3mer'" in err
    assert _snapshot(out) == before  # nothing replaced
    preprocess(corpus_jsonl, out, str(tok_dir), progress=False)  # the same tokenizer again: allowed
    res = preprocess(corpus_jsonl, out, "3mer", progress=False, overwrite=True, allow_unk=True,
                     output_prefix="as_3mer")
    assert read_manifest(res.prefix)["tokenizer"]["name"] == "3mer"


def test_output_path_that_is_a_file_refused(tmp_path, corpus_jsonl, tok_dir, capsys):
    target = tmp_path / "taken"
    target.write_text("keep me")
    for flag in ("--output_dir", "--json_dir"):
        args = ["--input", corpus_jsonl, "--output_dir", tmp_path / "o", "--tokenizer", tok_dir, flag, target]
        rc, err = _cli(capsys, *args)
        assert rc == 2 and err == f"error: {flag}: {target} is a file, not a folder; give a folder path\n"
    assert target.read_text() == "keep me" and not (tmp_path / "o").exists()


def _sequences(alphabet: str, n: int = 40, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(60, 200))) for _ in range(n)]


def test_kmer_unknown_rate_reported_and_rna_into_dna_refused(tmp_path, jsonl_writer, capsys):
    dna = jsonl_writer(tmp_path / "dna.jsonl", _sequences("ACGT"))
    rna = jsonl_writer(tmp_path / "rna.jsonl", _sequences("ACGU", seed=1))
    m = preprocess(dna, tmp_path / "dna", "3mer", progress=False).manifest
    assert m["unknown_tokens"] == 0 and m["unknown_rate"] == 0.0
    rc, err = _cli(capsys, "--input", rna, "--output_dir", tmp_path / "rna", "--tokenizer", "3mer")
    assert rc == 2 and "of the tokens of" in err and "unknown to the k-mer tokenizer '3mer'" in err
    assert _snapshot(tmp_path / "rna") == {}
    # with --allow_unk it is written, and the manifest gives the rate: every U is one unknown token
    from tokenization.kmer import split_kmers

    texts = _sequences("ACGU", seed=1)
    pieces = [p for t in texts for p in split_kmers(t, 3)]
    expected = sum(p == "U" for p in pieces) / len(pieces)
    m = preprocess(rna, tmp_path / "rna", "3mer", progress=False, allow_unk=True).manifest
    assert m["unknown_rate"] == pytest.approx(expected, abs=1e-6) and m["unknown_rate"] > 0.3
    m = preprocess(rna, tmp_path / "rna2", "3mer-rna", progress=False).manifest
    assert m["unknown_tokens"] == 0
    # a raised threshold accepts the same input; DNA into an RNA vocabulary is refused likewise
    assert _cli(capsys, "--input", rna, "--output_dir", tmp_path / "rna3", "--tokenizer", "3mer",
                "--max_unk_rate", "0.9")[0] == 0
    with pytest.raises(PreprocessError, match="unknown to the k-mer tokenizer '3mer-rna'"):
        preprocess(dna, tmp_path / "dna_rna", "3mer-rna", progress=False)
