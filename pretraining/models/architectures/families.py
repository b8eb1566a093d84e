"""Family builders registered into the trainer's registry: ``mamba``, ``hyena`` and ``transformer+mlm``.

Each builder turns a :class:`pretraining.config.ModelConfig` into a randomly initialised Hugging Face
model. The objective decides the variant: ``clm`` → a causal LM, ``mlm`` → a bidirectional model with a
masked-LM head (and a mask token id in its config).

Mapping of the store's vocabulary onto each family (``ModelConfig`` field → model):

========================  ====================================  ====================================
field                     mamba                                 hyena
========================  ====================================  ====================================
dimension                 hidden_size                           d_model
num_layers                num_hidden_layers                     n_layer
ffn_hidden_size           expand × dimension (mixer width)      d_intermediate (MLP of each block)
sequence_length           —                                     max_position_embeddings (filters)
weight_tying              tie_word_embeddings                   tie_word_embeddings
extra                     state_size, conv_kernel               order, filter_order, filter_emb_dim,
                                                                short_filter_order
========================  ====================================  ====================================

``extra.mask_token_id`` (any family, ``mlm``) is the tokenizer's mask token; without it one id is appended
to the vocabulary (``vocab_size``) and used as the mask.

Transformer + ``mlm`` is a BERT encoder (``transformers.BertForMaskedLM``): post-LayerNorm blocks, learned
absolute positions, biases, non-gated activation. Other transformer decisions raise
:class:`UnsupportedArchitecture` listing what is supported. The trainer picks this builder for family
``transformer`` with objective ``mlm`` (registry key ``"transformer+mlm"``).
"""
from __future__ import annotations

from typing import Any

from torch import nn

from pretraining.config import ConfigError, ModelConfig
from pretraining.models.registry import (BIASES_ALL, LAYERNORM, MHA, NON_GATED, SEQUENTIAL,
                                        UnsupportedArchitecture, builder_key, first_unmet,
                                        register_family)

# family -> extra options it accepts (anything else in ModelConfig.extra is an error naming the key)
FAMILY_EXTRAS: dict[str, dict[str, Any]] = {
    "mamba": {"state_size": 16, "conv_kernel": 4, "mask_token_id": None},
    "hyena": {"order": 2, "filter_order": 64, "filter_emb_dim": 33, "short_filter_order": 3, "mask_token_id": None},
    "transformer+mlm": {"mask_token_id": None},
}


def extras(cfg: ModelConfig) -> dict[str, Any]:
    """``cfg.extra`` merged over the family's defaults; an unknown key is a :class:`ConfigError`."""
    key = builder_key(cfg)  # transformer+mlm for a masked-LM transformer, else the family
    defaults = FAMILY_EXTRAS[key]
    for name in cfg.extra:
        if name not in defaults:
            raise ConfigError(f"model.extra.{name}: unknown option for family {key}; "
                              f"known: {sorted(defaults)}")
    out = {**defaults, **cfg.extra}
    for name, value in out.items():
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ConfigError(f"model.extra.{name}: expected a non-negative integer, got {value!r}")
    return out


def _check_objective(cfg: ModelConfig) -> None:
    if cfg.objective not in ("clm", "mlm"):
        raise ConfigError(f"model.objective: {cfg.objective!r} is not supported by family {cfg.family}; "
                          "use clm or mlm")


def _vocab_and_mask(cfg: ModelConfig, opts: dict[str, Any]) -> tuple[int, int | None]:
    """(embedding rows, mask id): masked-LM models without a tokenizer mask token get one extra id."""
    if cfg.objective != "mlm":
        return cfg.vocab, None
    mid = opts.get("mask_token_id")
    if mid is None:
        return cfg.vocab + 1, cfg.vocab
    if mid >= cfg.vocab:
        raise ConfigError(f"model.extra.mask_token_id: {mid} is outside the vocabulary (vocab_size "
                          f"{cfg.vocab}); omit it to append a mask id")
    return cfg.vocab, mid


# ---------------------------------------------------------------------------------------------- mamba
def mamba_hf_config(cfg: ModelConfig):
    """The ``MambaConfig`` (causal) or ``BiMambaConfig`` (masked LM) for ``cfg``."""
    from pretraining.models.architectures.mamba import BiMambaConfig
    from transformers import MambaConfig

    _check_objective(cfg)
    opts = extras(cfg)
    if cfg.ffn_hidden_size % cfg.dimension:
        raise ConfigError(f"model.ffn_hidden_size: for mamba it is expand × dimension; {cfg.ffn_hidden_size} "
                          f"is not a multiple of dimension {cfg.dimension}")
    vocab, mask_id = _vocab_and_mask(cfg, opts)
    cls = BiMambaConfig if cfg.objective == "mlm" else MambaConfig
    config = cls(vocab_size=vocab, hidden_size=cfg.dimension, num_hidden_layers=cfg.num_layers,
                 state_size=opts["state_size"], conv_kernel=opts["conv_kernel"],
                 expand=cfg.ffn_hidden_size // cfg.dimension, layer_norm_epsilon=cfg.norm_eps,
                 tie_word_embeddings=cfg.weight_tying, use_cache=False,
                 pad_token_id=None, bos_token_id=None, eos_token_id=None)
    config.mask_token_id = mask_id
    return config


@register_family("mamba")
def build_mamba(cfg: ModelConfig) -> nn.Module:
    """``MambaForCausalLM`` (clm) or the bidirectional ``BiMambaForMaskedLM`` (mlm)."""
    from pretraining.models.architectures.mamba import BiMambaForMaskedLM
    from transformers import MambaForCausalLM

    config = mamba_hf_config(cfg)
    return BiMambaForMaskedLM(config) if cfg.objective == "mlm" else MambaForCausalLM(config)


# ---------------------------------------------------------------------------------------------- hyena
def hyena_hf_config(cfg: ModelConfig):
    """The :class:`HyenaConfig` for ``cfg`` (bidirectional for mlm)."""
    from pretraining.models.architectures.hyena import HyenaConfig

    _check_objective(cfg)
    opts = extras(cfg)
    vocab, mask_id = _vocab_and_mask(cfg, opts)
    if opts["filter_emb_dim"] < 3 or opts["filter_emb_dim"] % 2 == 0:
        raise ConfigError(f"model.extra.filter_emb_dim: must be odd and >= 3, got {opts['filter_emb_dim']}")
    if opts["order"] < 1 or opts["short_filter_order"] < 1 or opts["filter_order"] < 1:
        raise ConfigError("model.extra: order, filter_order and short_filter_order must be >= 1")
    config = HyenaConfig(vocab_size=vocab, d_model=cfg.dimension, n_layer=cfg.num_layers,
                         d_intermediate=cfg.ffn_hidden_size, max_position_embeddings=cfg.sequence_length,
                         order=opts["order"], filter_order=opts["filter_order"],
                         filter_emb_dim=opts["filter_emb_dim"], short_filter_order=opts["short_filter_order"],
                         bidirectional=cfg.objective == "mlm", dropout=cfg.dropout,
                         layer_norm_epsilon=cfg.norm_eps, initializer_range=cfg.init_std,
                         tie_word_embeddings=cfg.weight_tying)
    config.mask_token_id = mask_id
    return config


@register_family("hyena")
def build_hyena(cfg: ModelConfig) -> nn.Module:
    """``HyenaForCausalLM`` (clm, causal FFT convolutions) or ``HyenaForMaskedLM`` (mlm, bidirectional)."""
    from pretraining.models.architectures.hyena import HyenaForCausalLM, HyenaForMaskedLM

    config = hyena_hf_config(cfg)
    return HyenaForMaskedLM(config) if cfg.objective == "mlm" else HyenaForCausalLM(config)


# ------------------------------------------------------------------------------------ transformer + mlm
def bert_check(cfg: ModelConfig) -> str | None:
    """None when a BERT encoder implements ``cfg``'s decisions, else what is missing."""
    return first_unmet(cfg, (LAYERNORM, (lambda c: c.positional_embeddings == "learned",
                                         "needs positional_embeddings learned (absolute)"),
                             NON_GATED, MHA, BIASES_ALL, SEQUENTIAL))


def bert_hf_config(cfg: ModelConfig):
    """The ``BertConfig`` of a masked-LM transformer, or :class:`UnsupportedArchitecture`."""
    from transformers import BertConfig

    why = bert_check(cfg)
    if why is not None:
        raise UnsupportedArchitecture(
            f"model: transformer with objective mlm is a BERT encoder: layernorm + learned positions + "
            f"sequential + gelu|gelu_new|relu|silu; mha; biases all ({why})")
    opts = extras(cfg)
    vocab, mask_id = _vocab_and_mask(cfg, opts)
    config = BertConfig(vocab_size=vocab, hidden_size=cfg.dimension, num_hidden_layers=cfg.num_layers,
                        num_attention_heads=cfg.num_heads, intermediate_size=cfg.ffn_hidden_size,
                        hidden_act=cfg.activation, max_position_embeddings=cfg.sequence_length,
                        type_vocab_size=1, layer_norm_eps=cfg.norm_eps, initializer_range=cfg.init_std,
                        hidden_dropout_prob=cfg.dropout, attention_probs_dropout_prob=cfg.dropout,
                        tie_word_embeddings=cfg.weight_tying, pad_token_id=None, use_cache=False)
    config.mask_token_id = mask_id
    return config


@register_family("transformer+mlm")
def build_transformer_mlm(cfg: ModelConfig) -> nn.Module:
    """``BertForMaskedLM`` (bidirectional self-attention, padding masked) for a masked-LM transformer."""
    from transformers import BertForMaskedLM

    return BertForMaskedLM._from_config(bert_hf_config(cfg), attn_implementation="sdpa")
