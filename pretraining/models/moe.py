"""Mixture-of-experts feed-forward for the Llama-style transformer, built as ``transformers.MixtralForCausalLM``.

A Llama block whose MLP is replaced by ``num_experts`` SwiGLU experts of width ``ffn_hidden_size`` and a linear
router; each token goes to its ``moe_top_k`` highest-scoring experts, whose outputs are summed with the
renormalised softmax weights of those k experts (Mixtral, Jiang et al. 2024). Being a stock transformers class,
the exported folder loads with ``AutoModelForCausalLM`` (lm-eval included) and needs no remote code.

* **Routing is dropless**: transformers' implementation computes every routed token (no capacity factor, no
  token dropping), so results do not depend on the batch composition beyond the routing itself.
* **Load balancing**: the Switch-Transformer auxiliary loss ``E · Σ_e f_e · P_e`` (f_e: fraction of top-k
  assignments to expert e, P_e: mean router probability of e; it equals k when perfectly balanced), summed over
  layers by transformers, is added to the training loss with weight ``router_aux_loss_coef`` (Mixtral's 0.02 by
  default here; 0 disables it). Validation losses and perplexities exclude it.
* **Parameter counts**: *total* counts every expert; *active* counts the ``moe_top_k`` experts a token uses
  (plus everything else). FLOPs per token and MFU use the active count; the store records both, with
  ``num_experts`` and ``moe_top_k``.
"""
from __future__ import annotations

from typing import Any

import torch


def is_moe(cfg: Any) -> bool:
    """True when the model config asks for more than one expert."""
    return (getattr(cfg, "num_experts", 1) or 1) > 1


def moe_check(cfg: Any) -> str | None:
    """None when Mixtral implements ``cfg``'s decisions, else what is missing (for the backend error)."""
    if not is_moe(cfg):
        return "needs num_experts > 1"
    for ok, why in ((cfg.layer_norm_type == "rmsnorm", "needs layer_norm_type rmsnorm"),
                    (cfg.positional_embeddings == "rope", "needs positional_embeddings rope"),
                    (cfg.block_type == "sequential", "needs block_type sequential"),
                    (cfg.activation == "swiglu", "needs activation swiglu"),
                    (cfg.biases == "none", "needs biases none"),
                    (1 <= cfg.moe_top_k <= cfg.num_experts, "needs 1 <= moe_top_k <= num_experts")):
        if not ok:
            return why
    return None


def mixtral_config(cfg: Any):
    """The ``MixtralConfig`` of a model config with ``num_experts > 1``."""
    from transformers import MixtralConfig

    return MixtralConfig(
        vocab_size=cfg.vocab_size, hidden_size=cfg.dimension, intermediate_size=cfg.ffn_hidden_size,
        num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads, num_key_value_heads=cfg.num_kv_heads,
        head_dim=cfg.dimension // cfg.num_heads, hidden_act="silu", max_position_embeddings=cfg.sequence_length,
        rms_norm_eps=cfg.norm_eps, rope_parameters={"rope_type": "default", "rope_theta": cfg.rope_theta},
        initializer_range=cfg.init_std, tie_word_embeddings=cfg.weight_tying, attention_dropout=cfg.dropout,
        num_local_experts=cfg.num_experts, num_experts_per_tok=cfg.moe_top_k,
        output_router_logits=cfg.router_aux_loss_coef > 0, router_aux_loss_coef=cfg.router_aux_loss_coef,
        use_cache=False, bos_token_id=None, eos_token_id=None, pad_token_id=None,
    )


def mixtral_params(cfg: Any) -> tuple[int, int]:
    """(total parameters, non-matmul parameters) of the Mixtral model for ``cfg`` (analytic)."""
    d, f, hd, n_exp = cfg.dimension, cfg.ffn_hidden_size, cfg.dimension // cfg.num_heads, cfg.num_experts
    q, kv = cfg.num_heads * hd, cfg.num_kv_heads * hd
    norms = 2 * d
    layer = d * q + 2 * d * kv + q * d + d * n_exp + n_exp * 3 * d * f + norms
    total = cfg.vocab_size * d + cfg.num_layers * layer + d + (0 if cfg.weight_tying else cfg.vocab_size * d)
    return total, cfg.num_layers * norms + d


def inactive_params(cfg: Any) -> int:
    """Parameters of the experts a token does not use: (num_experts − top_k) experts in every layer."""
    if not is_moe(cfg):
        return 0
    return cfg.num_layers * (cfg.num_experts - cfg.moe_top_k) * 3 * cfg.dimension * cfg.ffn_hidden_size


def router_aux_loss(model: torch.nn.Module, output: Any) -> torch.Tensor | None:
    """``router_aux_loss_coef × aux_loss`` of a training forward of an MoE model, else None."""
    aux = getattr(output, "aux_loss", None)
    inner: Any = getattr(model, "module", model)  # DDP keeps the model in .module
    if aux is None or not inner.training or not torch.is_tensor(aux):
        return None
    return float(inner.config.router_aux_loss_coef) * aux
