"""Tokenizers shared by every package: load any tokenizer by name or path (:mod:`tokenization.tokenizer`),
fixed k-mer vocabularies for nucleotide sequences (:mod:`tokenization.kmer`), and training a BPE/unigram one
(``njsl tokenizer train``, :mod:`tokenization.cli`)."""
