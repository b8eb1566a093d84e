"""The fixed k-mer tokenizers: vocabulary, the splitting rule (last k-mer kept), save/load as HF tokenizers."""
from __future__ import annotations

import random

import pytest

from tokenization.kmer import (KMER_SPECIAL_TOKENS, MASK, KmerSpecError, build_kmer_tokenizer,
                                        is_kmer_name, parse_kmer_name, save_kmer_tokenizer, split_kmers)


@pytest.mark.parametrize("name,size", [("nuc", 5 + 4), ("3mer", 5 + 4 + 64), ("6mer", 5 + 4 + 4096),
                                       ("3mer-rna", 5 + 4 + 64)])
def test_vocabulary_sizes(name, size):
    tok = build_kmer_tokenizer(name)
    assert len(tok) == size
    assert tok.convert_ids_to_tokens(list(range(len(KMER_SPECIAL_TOKENS)))) == KMER_SPECIAL_TOKENS
    assert tok.mask_token == MASK and tok.pad_token_id is not None and tok.eos_token_id is not None


def tokens(tok, text):
    return tok.convert_ids_to_tokens(tok(text, add_special_tokens=False)["input_ids"])


def test_last_kmer_is_kept_and_tail_kept_as_nucleotides():
    tok = build_kmer_tokenizer("3mer")
    assert tokens(tok, "ACGTAC") == ["ACG", "TAC"]  # the last full k-mer is not dropped
    assert tokens(tok, "ACGTA") == ["ACG", "T", "A"]  # a shorter tail is kept nucleotide by nucleotide
    assert tokens(tok, "acgtac") == ["ACG", "TAC"]  # lower case accepted
    assert tokens(tok, "ACNGTAAC GGT") == ["A", "C", "<|unk|>", "GTA", "A", "C", "GGT"]
    six = build_kmer_tokenizer("6mer")
    assert tokens(six, "ACGTACGTACGT") == ["ACGTAC", "GTACGT"]


def test_rna_alphabet():
    tok = build_kmer_tokenizer("3mer-rna")
    assert tokens(tok, "ACGUAC") == ["ACG", "UAC"]
    assert tokens(build_kmer_tokenizer("3mer"), "ACGUAC") == ["ACG", "<|unk|>", "A", "C"]


@pytest.mark.parametrize("name", ["nuc", "3mer", "6mer"])
def test_matches_reference_splitter_and_round_trips(name):
    spec = parse_kmer_name(name)
    tok = build_kmer_tokenizer(spec)
    rng = random.Random(0)
    for _ in range(50):
        seq = "".join(rng.choice("ACGT") for _ in range(rng.randint(1, 40)))
        assert tokens(tok, seq) == split_kmers(seq, spec.k)
        ids = tok(seq, add_special_tokens=False)["input_ids"]
        assert tok.unk_token_id not in ids
        assert tok.decode(ids) == seq  # lossless: every nucleotide is in exactly one token


def test_save_and_load_as_hf_tokenizer(tmp_path):
    from transformers import AutoTokenizer

    from tokenization.tokenizer import load_tokenizer

    out = save_kmer_tokenizer("6mer", tmp_path / "tok")
    loaded = AutoTokenizer.from_pretrained(out)
    seq = "ACGTACGTACGTAAC"
    assert loaded(seq)["input_ids"] == build_kmer_tokenizer("6mer")(seq)["input_ids"]
    assert loaded.mask_token == MASK
    # the preprocessing/trainer loader reads the folder too (end-of-document id for the .bin files)
    text_tok = load_tokenizer(str(out))
    assert text_tok.vocab_size == len(loaded) and text_tok.eod_id == loaded.eos_token_id
    assert text_tok.encode_batch([seq]) == [loaded(seq, add_special_tokens=False)["input_ids"]]


def test_bad_names_are_reported(tmp_path):
    for bad in ("7mers", "0mer", "9mer", "3mer-xna", ""):
        with pytest.raises(KmerSpecError, match="k-mer|k must be"):
            parse_kmer_name(bad)
    assert not is_kmer_name("bpe32k") and is_kmer_name("3mer")
    with pytest.raises(KmerSpecError, match="between 1 and 8"):
        save_kmer_tokenizer("9mer", tmp_path / "t")
    assert not (tmp_path / "t").exists()  # nothing half-written
