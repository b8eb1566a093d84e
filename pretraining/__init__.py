"""Pretraining: tokenizers, Megatron indexed datasets, data mixes, and the trainer built on them."""
