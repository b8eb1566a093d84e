"""Tokenizer training and loading: HF format, special tokens, byte-exact round trips of code."""
from __future__ import annotations

import pytest

from tokenization import cli as tokenizer_cli
from tokenization.tokenizer import EOS, TokenizerError, encoder_from_payload, load_tokenizer, train_tokenizer

CODE = "def f(x):\n\tif x:  # é 中 🙂\n        return [1,\r\n 2]\n\n\n"


def test_bpe_default_is_hf_loadable_and_keeps_whitespace(tok_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    assert len(tok) == 600
    assert tok.eos_token == EOS and tok.eos_token_id is not None
    assert tok.pad_token_id is not None and tok.bos_token_id is not None
    ids = tok(CODE, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == CODE  # newlines, tabs, indentation, non-ASCII all survive
    assert tok.unk_token_id not in ids


@pytest.mark.parametrize("backend", ["tokenizers", "sentencepiece"])
def test_unigram_backends(tmp_path, corpus_jsonl, backend):
    from transformers import AutoTokenizer

    out = train_tokenizer([corpus_jsonl], tmp_path / backend, vocab_size=400, type="unigram", backend=backend)
    tok = AutoTokenizer.from_pretrained(str(out))
    ids = tok(CODE, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == CODE
    assert tok.eos_token_id == 0
    if backend == "sentencepiece":  # the HF conversion encodes exactly like sentencepiece itself
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=str(out / "spm.model"))
        assert sp.encode(CODE) == ids
        assert load_tokenizer(out / "spm.model").encode_batch([CODE]) == [ids]


def test_load_tokenizer_kinds_and_worker_payload(tok_dir):
    tok = load_tokenizer(tok_dir)
    assert tok.kind == "hf" and tok.vocab_size == 600 and tok.eod_id == 0
    ids = tok.encode_batch(["hello world", CODE])
    assert encoder_from_payload(tok.worker_payload())(["hello world", CODE]) == ids
    from_json = load_tokenizer(tok_dir / "tokenizer.json")
    assert from_json.encode_batch([CODE]) == [ids[1]] and from_json.eod_id == 0


def test_bad_inputs(tmp_path, corpus_jsonl):
    with pytest.raises(TokenizerError, match="vocab_size"):
        train_tokenizer([corpus_jsonl], tmp_path / "x", vocab_size=10)
    with pytest.raises(TokenizerError, match="--type"):
        train_tokenizer([corpus_jsonl], tmp_path / "x", vocab_size=400, type="wordpiece")
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        train_tokenizer([tmp_path / "nope.jsonl"], tmp_path / "x", vocab_size=400)
    assert not (tmp_path / "x").exists()
    with pytest.raises(TokenizerError, match="cannot load tokenizer"):
        load_tokenizer(str(tmp_path / "missing_folder"))


def test_cli(tmp_path, corpus_jsonl, capsys):
    out = tmp_path / "cli_tok"
    assert tokenizer_cli.main(["train", "--input", str(corpus_jsonl), "--output", str(out), "--vocab_size", "400"]) == 0
    assert (out / "tokenizer.json").exists() and "vocab 400" in capsys.readouterr().out
    assert tokenizer_cli.main(["train", "--input", str(tmp_path / "no.jsonl"), "--output", str(tmp_path / "o"),
                               "--vocab_size", "400"]) == 2
    assert "error:" in capsys.readouterr().err and not (tmp_path / "o").exists()
