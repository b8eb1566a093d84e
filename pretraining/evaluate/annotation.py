"""The store's ``model_annotations`` row for a model trained from a run config (the one builder of that row)."""
from __future__ import annotations

from typing import Any

from pretraining.config import ModelConfig, RunConfig
from pretraining.models.counts import active_param_count, param_count

# our norm names -> the store's vocabulary
_STORE_NORM = {"rmsnorm": "rmsnorm", "layernorm": "parametric"}
ATTENTION_FREE = ("mamba", "hyena")


def annotation_from_model_config(cfg: ModelConfig | RunConfig, model_id: str) -> dict[str, Any]:
    """The ``model_annotations`` row (store columns and vocabulary) for a model trained from ``cfg``.

    A :class:`RunConfig` adds the batch size; attention-free families have no heads or attention variant.
    Mixture-of-experts models record ``num_experts``, ``moe_top_k`` and ``active_params``; HELM runs record
    ``training_loss`` ``helm`` and ``helm_alpha`` (cross-entropy runs ``cross_entropy``).
    """
    run = cfg if isinstance(cfg, RunConfig) else None
    m = run.model if run else cfg
    assert isinstance(m, ModelConfig)
    assert m.ffn_hidden_size is not None  # resolved by the model's validation
    row: dict[str, Any] = {
        "id": model_id,
        "dimension": m.dimension,
        "num_heads": m.num_heads,
        "mlp_ratio": round(m.ffn_hidden_size / m.dimension, 4),
        "layer_norm_type": _STORE_NORM.get(m.layer_norm_type, m.layer_norm_type),
        "positional_embeddings": m.positional_embeddings,
        "attention_variant": m.attention_variant,
        "biases": m.biases,
        "block_type": m.block_type,
        "activation": m.activation,
        "sequence_length": m.sequence_length,
        "weight_tying": bool(m.weight_tying),
        "is_instruction_tuned": False,
        "is_preference_tuned": False,
        "total_params": param_count(m) if m.vocab_size else None,
        "num_layers": m.num_layers,
        "num_kv_heads": m.num_kv_heads,
        "vocab_size": m.vocab_size,
        "ffn_hidden_size": m.ffn_hidden_size,
        "architecture_family": m.family,
        "training_objective": m.objective,
        "training_framework": "njsl-pretraining (PyTorch, HF transformers)",
        # mixture of experts: total_params counts every expert, active_params those a token is routed to
        "num_experts": m.num_experts,
        "moe_top_k": m.moe_top_k if m.num_experts > 1 else None,
        "active_params": active_param_count(m) if m.vocab_size else None,
        "training_loss": "helm" if m.helm else "cross_entropy",
        "helm_alpha": m.helm_alpha if m.helm else None,
    }
    if m.family in ATTENTION_FREE:  # num_heads is only a placeholder in their config
        row.update(num_heads=None, num_kv_heads=None, attention_variant=None)
    if run is not None:
        seqs = run.training.batch_sequences(m.sequence_length)
        row["batch_instances"] = seqs
        row["batch_tokens"] = seqs * m.sequence_length
    return row
