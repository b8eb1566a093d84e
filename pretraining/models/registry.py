"""Model families: a registry from ``ModelConfig.family`` to a builder returning an ``nn.Module``.

A family is one decorated function::

    @register_family("mamba", param_count=mamba_params)   # param_count optional
    def build_mamba(cfg: ModelConfig) -> nn.Module: ...

Models return Hugging Face style outputs (``.logits``) and, for export, should be ``PreTrainedModel``s.

The ``transformer`` family maps the store's design decisions onto a Hugging Face ``transformers``
architecture that implements them: Llama for the paper's configs (RMSNorm, RoPE, gated MLP), GPT-NeoX for
LayerNorm + RoPE with parallel or sequential blocks, GPT-2 for learned positions, Falcon for ALiBi.
A combination no backend implements is a :class:`UnsupportedArchitecture` error listing what is supported.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from njsl.registry import Registry
from pretraining.config import GATED_ACTIVATIONS, ConfigError, ModelConfig
from pretraining.models.moe import is_moe, mixtral_config, mixtral_params, moe_check


class UnsupportedArchitecture(ConfigError):
    """No registered family/backend implements the requested combination of design decisions."""


@dataclass(frozen=True)
class Family:
    """A registered family: its builder and, optionally, an analytic parameter count."""

    build: Callable[[ModelConfig], nn.Module]
    param_count: Callable[[ModelConfig], int] | None = None


# The families beyond the transformer (mamba, hyena, transformer+mlm) register themselves when the
# architectures package is imported, on the first lookup; it imports this module, so it is named, not imported.
PLUGINS = ("pretraining.models.architectures",)
FAMILIES: Registry[Family] = Registry("family", where="model.family: ", error=ConfigError, plugins=PLUGINS)


def register_family(name: str, *, param_count: Callable[[ModelConfig], int] | None = None):
    """Decorator registering ``fn(cfg) -> nn.Module`` as family ``name`` (optionally with a param formula)."""

    def deco(fn: Callable[[ModelConfig], nn.Module]) -> Callable[[ModelConfig], nn.Module]:
        FAMILIES.add(name, Family(fn, param_count))
        return fn

    return deco


def builder_key(cfg: ModelConfig) -> str:
    """Registry key for ``cfg``: an objective-specific builder ("transformer+mlm") wins over the family's."""
    key = f"{cfg.family}+{cfg.objective}"
    return key if key in FAMILIES else cfg.family


def build_model(cfg: ModelConfig) -> nn.Module:
    """Instantiate the model for ``cfg`` (randomly initialised with ``cfg.init``, on the current default device)."""
    from pretraining.models.init_schemes import apply_init

    family = FAMILIES.get(builder_key(cfg))  # unknown: an error naming model.family, with a did-you-mean
    if cfg.vocab_size is None:
        raise ConfigError("model.vocab_size: not set; give it in the config or pass a tokenizer")
    _check_moe(cfg)
    model = family.build(cfg)
    apply_init(model, cfg.init, std=cfg.init_std, num_layers=cfg.num_layers, dimension=cfg.dimension)
    return model


def _check_moe(cfg: ModelConfig) -> None:
    if cfg.num_experts > 1 and builder_key(cfg) != "transformer":
        raise UnsupportedArchitecture(f"model.num_experts: mixture of experts is implemented for the Llama-style "
                                      f"causal transformer only, not {builder_key(cfg)} (objective "
                                      f"{cfg.objective}); use num_experts 1")


def family_param_count(cfg: ModelConfig) -> int:
    """Parameter count from the family's formula, else by instantiating the model on the meta device."""
    if cfg.vocab_size is None:
        raise ConfigError("model.vocab_size: needed for the parameter count")
    formula = FAMILIES.get(builder_key(cfg)).param_count
    if formula is not None:
        return formula(cfg)
    with torch.device("meta"):
        return count_parameters(build_model(cfg))


def family_non_matmul_params(cfg: ModelConfig) -> int:
    """Parameters that do no matmul (norm scales/shifts, biases) — excluded from the FLOP formula."""
    if builder_key(cfg) != "transformer":
        return 0
    return transformer_backend(cfg).param_formula(cfg)[1]


def check_buildable(cfg: ModelConfig) -> None:
    """Raise :class:`UnsupportedArchitecture` at load time when no transformer backend implements ``cfg``."""
    _check_moe(cfg)
    if builder_key(cfg) == "transformer":
        transformer_backend(cfg)


def count_parameters(model: nn.Module) -> int:
    """Unique parameters of an instantiated model (tied weights counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


# ----------------------------------------------------------------------------------------------------
# The transformer family: Hugging Face backends
# ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HFBackend:
    name: str
    supports: str  # human description of the combinations it implements
    check: Callable[[ModelConfig], str | None]  # None when supported, else the reason
    make_config: Callable[[ModelConfig], object]
    model_class: str
    param_formula: Callable[[ModelConfig], tuple[int, int]]  # (total params, non-matmul params)


# A backend's check is a list of requirements, each (holds?, reason when it does not); the first unmet one is
# reported. The shared ones are named so that every backend (and the BERT encoder in
# ``pretraining.models.architectures.families``) words the same requirement the same way.
Requirement = tuple[Callable[[ModelConfig], bool], str]


def needs(field: str, value: str) -> Requirement:
    """The requirement ``cfg.<field> == value``, reported as "needs <field> <value>"."""
    return (lambda c: getattr(c, field) == value), f"needs {field} {value}"


def first_unmet(cfg: ModelConfig, requirements: tuple[Requirement, ...]) -> str | None:
    """The reason of the first requirement ``cfg`` does not meet, or None when it meets them all."""
    return next((why for holds, why in requirements if not holds(cfg)), None)


LAYERNORM = needs("layer_norm_type", "layernorm")
ROPE = needs("positional_embeddings", "rope")
SEQUENTIAL = needs("block_type", "sequential")
BIASES_ALL = needs("biases", "all")
NON_GATED: Requirement = (lambda c: not c.gated, "needs a non-gated activation (gelu, gelu_new, relu, silu)")
MHA: Requirement = (lambda c: c.num_kv_heads == c.num_heads, "multi-head attention only (num_kv_heads == num_heads)")


def _rope(c: ModelConfig) -> dict:
    # transformers 5 reads the RoPE base from rope_parameters only (a rope_theta keyword is silently ignored)
    return {"rope_type": "default", "rope_theta": c.rope_theta}


def _llama_check(c: ModelConfig) -> str | None:
    return first_unmet(c, (needs("layer_norm_type", "rmsnorm"), ROPE, SEQUENTIAL,
                           (lambda c: c.gated, "needs a gated activation (swiglu or geglu)"),
                           (lambda c: c.biases != "ln_only", "RMSNorm has no bias (biases ln_only impossible)")))


def _llama_config(c: ModelConfig):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=c.vocab, hidden_size=c.dimension, intermediate_size=c.ffn_hidden_size,
        num_hidden_layers=c.num_layers, num_attention_heads=c.num_heads, num_key_value_heads=c.num_kv_heads,
        hidden_act=GATED_ACTIVATIONS[c.activation], max_position_embeddings=c.sequence_length,
        rms_norm_eps=c.norm_eps, rope_parameters=_rope(c), initializer_range=c.init_std,
        tie_word_embeddings=c.weight_tying, attention_bias=c.biases in ("attn_only", "all"),
        mlp_bias=c.biases == "all", attention_dropout=c.dropout, use_cache=False,
        bos_token_id=None, eos_token_id=None, pad_token_id=None,
    )


def _llama_params(c: ModelConfig) -> tuple[int, int]:
    d, f, hd = c.dimension, c.ffn_hidden_size, c.head_dim
    q, kv = c.num_heads * hd, c.num_kv_heads * hd
    attn_bias = (q + 2 * kv + d) if c.biases in ("attn_only", "all") else 0
    mlp_bias = (2 * f + d) if c.biases == "all" else 0
    norms = 2 * d
    layer = d * q + 2 * d * kv + q * d + 3 * d * f + attn_bias + mlp_bias + norms
    total = c.vocab * d + c.num_layers * layer + d + (0 if c.weight_tying else c.vocab * d)
    return total, c.num_layers * (attn_bias + mlp_bias + norms) + d


def _neox_check(c: ModelConfig) -> str | None:
    return first_unmet(c, (LAYERNORM, ROPE, NON_GATED, MHA, BIASES_ALL))


def _neox_config(c: ModelConfig):
    from transformers import GPTNeoXConfig

    return GPTNeoXConfig(
        vocab_size=c.vocab, hidden_size=c.dimension, intermediate_size=c.ffn_hidden_size,
        num_hidden_layers=c.num_layers, num_attention_heads=c.num_heads, hidden_act=c.activation,
        max_position_embeddings=c.sequence_length, layer_norm_eps=c.norm_eps,
        rope_parameters={**_rope(c), "partial_rotary_factor": 1.0}, initializer_range=c.init_std,
        tie_word_embeddings=c.weight_tying,
        use_parallel_residual=c.block_type == "parallel", attention_dropout=c.dropout, hidden_dropout=c.dropout,
        use_cache=False, bos_token_id=None, eos_token_id=None, pad_token_id=None,
    )


def _neox_params(c: ModelConfig) -> tuple[int, int]:
    d, f = c.dimension, c.ffn_hidden_size
    non_matmul = 4 * d + 3 * d + d + f + d  # 2 layernorms, qkv/dense biases, mlp biases
    layer = 4 * d * d + 2 * d * f + non_matmul
    total = c.vocab * d + c.num_layers * layer + 2 * d + (0 if c.weight_tying else c.vocab * d)
    return total, c.num_layers * non_matmul + 2 * d


def _gpt2_check(c: ModelConfig) -> str | None:
    return first_unmet(c, (LAYERNORM, needs("positional_embeddings", "learned"), SEQUENTIAL, NON_GATED, MHA,
                           BIASES_ALL))


def _gpt2_config(c: ModelConfig):
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=c.vocab, n_embd=c.dimension, n_inner=c.ffn_hidden_size, n_layer=c.num_layers,
        n_head=c.num_heads, activation_function=c.activation, n_positions=c.sequence_length,
        layer_norm_epsilon=c.norm_eps, initializer_range=c.init_std, tie_word_embeddings=c.weight_tying,
        resid_pdrop=c.dropout, embd_pdrop=c.dropout, attn_pdrop=c.dropout, use_cache=False,
        bos_token_id=None, eos_token_id=None, pad_token_id=None,
    )


def _gpt2_params(c: ModelConfig) -> tuple[int, int]:
    # A GPT-2 layer has the same weights, biases and LayerNorms as a GPT-NeoX one; GPT-2 adds learned positions.
    total, non_matmul = _neox_params(c)
    return total + c.sequence_length * c.dimension, non_matmul


def _falcon_check(c: ModelConfig) -> str | None:
    return first_unmet(c, (LAYERNORM, needs("positional_embeddings", "alibi"), needs("activation", "gelu"),
                           (lambda c: c.num_kv_heads in (1, c.num_heads),
                            "mha or mqa only (num_kv_heads == num_heads or 1)"),
                           (lambda c: c.biases in ("all", "ln_only"), "needs biases all or ln_only")))


def _falcon_config(c: ModelConfig):
    from transformers import FalconConfig

    return FalconConfig(
        vocab_size=c.vocab, hidden_size=c.dimension, ffn_hidden_size=c.ffn_hidden_size,
        num_hidden_layers=c.num_layers, num_attention_heads=c.num_heads, alibi=True,
        multi_query=c.num_kv_heads == 1 and c.num_heads > 1, new_decoder_architecture=False,
        parallel_attn=c.block_type == "parallel", bias=c.biases == "all", layer_norm_epsilon=c.norm_eps,
        initializer_range=c.init_std, tie_word_embeddings=c.weight_tying, max_position_embeddings=c.sequence_length,
        attention_dropout=c.dropout, hidden_dropout=c.dropout, use_cache=False,
        bos_token_id=None, eos_token_id=None, pad_token_id=None,
    )


def _falcon_params(c: ModelConfig) -> tuple[int, int]:
    d, f, hd = c.dimension, c.ffn_hidden_size, c.head_dim
    kv = c.num_kv_heads * hd
    bias = (d + 2 * kv + d + f + d) if c.biases == "all" else 0
    norms = 2 * d * (1 if c.block_type == "parallel" else 2)
    layer = d * (d + 2 * kv) + d * d + 2 * d * f + bias + norms
    total = c.vocab * d + c.num_layers * layer + 2 * d + (0 if c.weight_tying else c.vocab * d)
    return total, c.num_layers * (bias + norms) + 2 * d


BACKENDS: tuple[HFBackend, ...] = (
    HFBackend("mixtral", "num_experts > 1: rmsnorm + rope + sequential + swiglu; mha/gqa/mqa; biases none",
              moe_check, mixtral_config, "MixtralForCausalLM", mixtral_params),
    HFBackend("llama", "rmsnorm + rope + sequential + swiglu|geglu; mha/gqa/mqa; biases none|attn_only|all",
              _llama_check, _llama_config, "LlamaForCausalLM", _llama_params),
    HFBackend("gpt_neox", "layernorm + rope + sequential|parallel + gelu|gelu_new|relu|silu; mha; biases all",
              _neox_check, _neox_config, "GPTNeoXForCausalLM", _neox_params),
    HFBackend("gpt2", "layernorm + learned + sequential + gelu|gelu_new|relu|silu; mha; biases all",
              _gpt2_check, _gpt2_config, "GPT2LMHeadModel", _gpt2_params),
    HFBackend("falcon", "layernorm + alibi + sequential|parallel + gelu; mha/mqa; biases all|ln_only",
              _falcon_check, _falcon_config, "FalconForCausalLM", _falcon_params),
)


def transformer_backend(cfg: ModelConfig) -> HFBackend:
    """The Hugging Face backend implementing ``cfg``'s decisions, or an error listing what is supported."""
    reasons = []
    for backend in BACKENDS:
        # mixture of experts is Mixtral's alone; the dense backends would silently drop the experts
        why = backend.check(cfg) if backend.name == "mixtral" or not is_moe(cfg) else "dense MLP only (num_experts 1)"
        if why is None:
            return backend
        reasons.append(f"  {backend.name}: {backend.supports} ({why})")
    raise UnsupportedArchitecture(
        f"model: no transformer backend implements layer_norm_type={cfg.layer_norm_type}, "
        f"positional_embeddings={cfg.positional_embeddings}, block_type={cfg.block_type}, "
        f"activation={cfg.activation}, attention={cfg.attention_variant}, biases={cfg.biases}, "
        f"num_experts={cfg.num_experts}. "
        "Supported combinations:\n" + "\n".join(reasons))


def _transformer_params(cfg: ModelConfig) -> int:
    return transformer_backend(cfg).param_formula(cfg)[0]


@register_family("transformer", param_count=_transformer_params)
def build_transformer(cfg: ModelConfig) -> nn.Module:
    """A randomly initialised Hugging Face causal LM implementing ``cfg``."""
    import transformers

    backend = transformer_backend(cfg)
    config = backend.make_config(cfg)
    # sdpa uses flash/memory-efficient kernels on GPU; HF falls back to eager where sdpa is unsupported
    model = getattr(transformers, backend.model_class)._from_config(config, attn_implementation="sdpa")
    return model
