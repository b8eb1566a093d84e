"""Analytic counts from a model config: parameters, FLOPs per token, optimizer steps for a token budget."""
from __future__ import annotations

import math

from pretraining.config import ConfigError, ModelConfig
from pretraining.models.registry import family_non_matmul_params, family_param_count


def param_count(cfg: ModelConfig) -> int:
    """Total trainable parameters, from the decisions alone.

    Uses the family's own formula when it registered one, else counts the model built on the meta device.
    """
    return family_param_count(cfg)


def active_param_count(cfg: ModelConfig) -> int:
    """Parameters one token uses: the total minus the experts it is not routed to (= total for dense models)."""
    from pretraining.models.moe import inactive_params

    return param_count(cfg) - inactive_params(cfg)


def embedding_params(cfg: ModelConfig) -> int:
    """Parameters of lookup tables (token and learned position embeddings): they cost no matmul FLOPs."""
    if cfg.vocab_size is None:
        raise ConfigError("model.vocab_size: needed for the parameter count")
    n = cfg.vocab * cfg.dimension
    if cfg.positional_embeddings == "learned":
        n += cfg.sequence_length * cfg.dimension
    return n


def flops_per_token(cfg: ModelConfig, sequence_length: int | None = None, training: bool = True) -> float:
    """Model FLOPs per token, PaLM/torchtitan convention.

    ``6 * N_matmul + 12 * L * d * T`` for a training step (forward 2x, backward 4x), where ``N_matmul`` is the
    parameter count without lookup embeddings (the LM head counts, tied or not) and the attention term counts
    the full T x T score and value products (causal masking is not discounted). Forward only: a third of it.
    Mixture of experts: ``N_matmul`` counts the *active* parameters (the experts a token is routed to).
    """
    t = sequence_length or cfg.sequence_length
    n_matmul = active_param_count(cfg) - embedding_params(cfg)
    if cfg.weight_tying:
        n_matmul += cfg.vocab * cfg.dimension  # the tied head still does a matmul
    # norms and biases are not matmuls; their share is negligible but excluded for an exact count
    n_matmul -= family_non_matmul_params(cfg)
    fwd = 2 * n_matmul + 4 * cfg.num_layers * cfg.dimension * t
    return float(3 * fwd if training else fwd)


def format_params(n: int) -> str:
    """``123.4M`` / ``1.23B``."""
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"


def steps_for_budget(train_tokens: int, batch_sequences: int, sequence_length: int) -> int:
    """Optimizer steps to see ``train_tokens``: ceil(tokens / (global batch x sequence length))."""
    per_step = batch_sequences * sequence_length
    if train_tokens < per_step:
        raise ConfigError(f"training.train_tokens: {train_tokens} is less than one step's "
                          f"{per_step} tokens (global batch {batch_sequences} x sequence {sequence_length})")
    return math.ceil(train_tokens / per_step)
