"""Allowed values of the categorical annotation columns, with the aliases writers may use.

The release's own vocabulary wins (the predictor treats each distinct string as a category, so our rows
must use the same words as the paper's): multi-head attention is ``full`` (``mha`` is accepted and
normalised to ``full``); a LayerNorm with learned scale/bias is ``parametric`` (``layernorm`` → ``parametric``),
OLMo's LayerNorm without parameters is ``non-parametric``.
"""
from __future__ import annotations

from typing import Any

from .errors import StoreError

# column -> allowed canonical values (the release's values plus those the HF importer/trainer produce).
VOCABULARY: dict[str, tuple[str, ...]] = {
    "layer_norm_type": ("rmsnorm", "parametric", "non-parametric"),
    "positional_embeddings": ("rope", "learned", "alibi", "none", "sinusoidal"),
    "attention_variant": ("full", "gqa", "mqa", "local,full"),
    "biases": ("none", "attn_only", "ln_only", "all"),
    "block_type": ("sequential", "parallel"),
    "activation": ("swiglu", "geglu", "gelu", "gelu_new", "gelu_fast", "silu", "relu", "relu2"),
    "architecture_family": ("transformer", "mamba", "hyena", "rwkv", "retnet", "hybrid"),
    "training_objective": ("clm", "mlm", "prefix_lm"),
    "training_loss": ("cross_entropy", "helm"),  # helm: HELM's hierarchical cross-entropy over codons
}

ALIASES: dict[str, dict[str, str]] = {
    "layer_norm_type": {"layernorm": "parametric", "layer_norm": "parametric", "ln": "parametric",
                        "rms_norm": "rmsnorm", "rms": "rmsnorm", "nonparametric": "non-parametric",
                        "non_parametric": "non-parametric"},
    "positional_embeddings": {"rotary": "rope", "absolute": "learned", "nope": "none"},
    "attention_variant": {"mha": "full", "multi_head": "full", "multi-head": "full", "multihead": "full",
                          "grouped": "gqa", "multi_query": "mqa", "multi-query": "mqa"},
    "biases": {"attention_only": "attn_only", "layernorm_only": "ln_only", "no": "none"},
    "activation": {"swish": "silu", "gelu_pytorch_tanh": "gelu_new", "gelu_tanh": "gelu_new",
                   "gelu_python": "gelu", "squared_relu": "relu2"},
    "block_type": {"parallel_residual": "parallel"},
    "training_objective": {"causal": "clm", "causal_lm": "clm", "masked": "mlm"},
}


def normalize_value(column: str, value: Any) -> Any:
    """Return the canonical spelling of ``value`` for a categorical ``column``; raise on an unknown value.

    Non-categorical columns and missing values pass through unchanged.
    """
    if column not in VOCABULARY or value is None:
        return value
    if not isinstance(value, str):
        raise StoreError(f"{column}: expected one of {list(VOCABULARY[column])}, got {value!r} "
                         f"({type(value).__name__})")
    key = value.strip().lower()
    key = ALIASES.get(column, {}).get(key, key)
    if key not in VOCABULARY[column]:
        raise StoreError(f"{column}: unknown value {value!r}; use one of {list(VOCABULARY[column])} "
                         f"(aliases: {sorted(ALIASES.get(column, {}))})")
    return key
