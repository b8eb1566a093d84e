"""Special tokens shared by every tokenizer we train or build (BPE/unigram and k-mer): same strings, ids 0..3."""
from __future__ import annotations

EOS, BOS, PAD, UNK = "<|endoftext|>", "<|bos|>", "<|pad|>", "<|unk|>"
SPECIAL_TOKENS = [EOS, BOS, PAD, UNK]
MASK = "<|mask|>"  # k-mer vocabularies add it for masked-LM training
