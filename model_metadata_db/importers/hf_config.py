"""Hugging Face ``config.json`` → a ``model_annotations`` row (architecture decisions + parameter count).

Each supported ``model_type`` is one small :class:`ArchSpec` in ``FAMILIES``: where its config keeps the
dimension, heads, FFN size..., and its fixed design (norm type, positions, biases, block type, default tying).
The parameter count is computed from the spec with one formula (:func:`count_params`), tested against the
published counts of Llama-2-7B, Mistral-7B, GPT-2, Pythia, Falcon-7B, OLMo-7B, Qwen2-0.5B and Gemma-2B.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable, Mapping

from ..errors import StoreError

GATED = {"swiglu", "geglu"}


@dataclass(frozen=True)
class Arch:
    """The numbers and decisions the parameter formula needs, resolved from one config."""
    vocab_size: int
    dimension: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    ffn_hidden_size: int
    activation: str            # swiglu | geglu | gelu | gelu_new | relu | silu ...
    layer_norm_type: str       # rmsnorm | parametric | non-parametric
    norms_per_layer: int       # 2 for sequential blocks; 1 or 2 for parallel ones; 4 for Gemma-2
    positional_embeddings: str  # rope | learned | alibi
    max_positions: int | None
    qkv_bias: bool
    out_bias: bool
    mlp_bias: bool
    block_type: str            # sequential | parallel
    weight_tying: bool
    rotary_dim: int = 0        # dimensions rotated by RoPE (for the inv_freq buffer only)
    extra_per_layer: int = 0   # family-specific extras (e.g. OLMo-2's q/k norms)
    lm_head_bias: bool = False  # Phi's output layer has a bias
    causal_mask_buffer: bool = False  # old GPT-2/GPT-NeoX code saved a max_positions² mask per layer


def _get(config: Mapping[str, Any], *names: str, default: Any = None) -> Any:
    for name in names:
        if config.get(name) is not None:
            return config[name]
    return default


def _require(config: Mapping[str, Any], model_type: str, *names: str) -> int:
    value = _get(config, *names)
    if value is None:
        raise StoreError(f"config.json ({model_type}): field {names[0]!r} is missing; it is needed to describe "
                         "the architecture")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0 or int(value) != value:
        raise StoreError(f"config.json ({model_type}): field {names[0]!r} must be a positive integer, got {value!r}")
    return int(value)


def _activation(name: str | None, gated: bool) -> str:
    name = (name or "").lower()
    if gated:
        return "swiglu" if name in ("silu", "swish", "swiglu") else "geglu" if name.startswith("gelu") else name
    return {"gelu_pytorch_tanh": "gelu_new", "gelu_python": "gelu", "swish": "silu"}.get(name, name)


def _llama_like(config: Mapping[str, Any], mt: str, *, qkv_bias: bool | None = None, norm: str = "rmsnorm",
                tie_default: bool = False, norms: int = 2, act_key: str = "hidden_act",
                extra_per_layer: Callable[[int, int, int], int] | None = None) -> Arch:
    d = _require(config, mt, "hidden_size")
    h = _require(config, mt, "num_attention_heads")
    kv = int(_get(config, "num_key_value_heads", default=h))
    head_dim = int(_get(config, "head_dim", default=d // h))
    attn_bias = bool(_get(config, "attention_bias", default=False))
    q_bias = attn_bias if qkv_bias is None else qkv_bias
    act = _get(config, act_key, "hidden_activation", "hidden_act", default="silu")
    extra = extra_per_layer(d, h * head_dim, kv * head_dim) if extra_per_layer else 0
    return Arch(
        vocab_size=_require(config, mt, "vocab_size"), dimension=d,
        num_layers=_require(config, mt, "num_hidden_layers"),
        num_heads=h, num_kv_heads=kv, head_dim=head_dim, ffn_hidden_size=_require(config, mt, "intermediate_size"),
        activation=_activation(act, gated=True), layer_norm_type=norm, norms_per_layer=norms,
        positional_embeddings="rope", max_positions=_get(config, "max_position_embeddings"),
        qkv_bias=q_bias, out_bias=attn_bias, mlp_bias=bool(_get(config, "mlp_bias", default=False)),
        block_type="sequential", weight_tying=bool(_get(config, "tie_word_embeddings", default=tie_default)),
        rotary_dim=head_dim, extra_per_layer=extra)


def _llama(c, mt):
    return _llama_like(c, mt)


def _qwen2(c, mt):
    # Qwen2 has biases on q/k/v only (not on o_proj): "attn_only" in the release's words.
    return _llama_like(c, mt, qkv_bias=True)


def _olmo(c, mt):
    # OLMo-1 uses LayerNorm without learnable scale or bias ("non-parametric"); clip_qkv adds no weights.
    return _llama_like(c, mt, norm="non-parametric", norms=0)


def _olmo2(c, mt):
    # OLMo-2: RMSNorm after attention and after the MLP, plus RMSNorm on q and k (over all heads).
    return _llama_like(c, mt, extra_per_layer=lambda d, q, k: q + k)


def _gemma(c, mt):
    return _llama_like(c, mt, tie_default=True)


def _gemma2(c, mt):
    # Gemma-2 normalises before and after both attention and MLP: four RMSNorms per layer.
    return _llama_like(c, mt, tie_default=True, norms=4)


def _gpt_neox(c, mt):
    d = _require(c, mt, "hidden_size")
    h = _require(c, mt, "num_attention_heads")
    head_dim = d // h
    bias = bool(_get(c, "attention_bias", default=True))
    parallel = bool(_get(c, "use_parallel_residual", default=True))
    return Arch(
        vocab_size=_require(c, mt, "vocab_size"), dimension=d, num_layers=_require(c, mt, "num_hidden_layers"),
        num_heads=h, num_kv_heads=h, head_dim=head_dim,
        ffn_hidden_size=int(_get(c, "intermediate_size", default=4 * d)),
        activation=_activation(_get(c, "hidden_act", default="gelu"), gated=False), layer_norm_type="parametric",
        norms_per_layer=2, positional_embeddings="rope", max_positions=_get(c, "max_position_embeddings"),
        qkv_bias=bias, out_bias=bias, mlp_bias=True, block_type="parallel" if parallel else "sequential",
        weight_tying=bool(_get(c, "tie_word_embeddings", default=False)),
        rotary_dim=int(head_dim * float(_get(c, "rotary_pct", "partial_rotary_factor", default=0.25))),
        causal_mask_buffer=True)


def _gpt2(c, mt):
    d = _require(c, mt, "n_embd", "hidden_size")
    h = _require(c, mt, "n_head", "num_attention_heads")
    return Arch(
        vocab_size=_require(c, mt, "vocab_size"), dimension=d,
        num_layers=_require(c, mt, "n_layer", "num_hidden_layers"),
        num_heads=h, num_kv_heads=h, head_dim=d // h, ffn_hidden_size=int(_get(c, "n_inner", default=4 * d)),
        activation=_activation(_get(c, "activation_function", default="gelu_new"), gated=False),
        layer_norm_type="parametric", norms_per_layer=2, positional_embeddings="learned",
        max_positions=_get(c, "n_positions", "n_ctx", "max_position_embeddings"), qkv_bias=True, out_bias=True,
        mlp_bias=True, block_type="sequential", weight_tying=bool(_get(c, "tie_word_embeddings", default=True)),
        causal_mask_buffer=True)


def _falcon(c, mt):
    d = _require(c, mt, "hidden_size", "n_embd")
    h = _require(c, mt, "num_attention_heads", "n_head")
    new_arch = bool(_get(c, "new_decoder_architecture", default=False))
    if new_arch:
        kv = int(_get(c, "num_kv_heads", "n_head_kv", default=h))
    else:
        kv = 1 if _get(c, "multi_query", default=True) else h
    bias = bool(_get(c, "bias", default=False))
    parallel = new_arch or bool(_get(c, "parallel_attn", default=True))
    # Falcon-40B/180B keep two LayerNorms (attention and MLP) in their parallel block; Falcon-7B shares one.
    norms = 2 if new_arch or not parallel else int(_get(c, "num_ln_in_parallel_attn", default=1) or 1)
    return Arch(
        vocab_size=_require(c, mt, "vocab_size"), dimension=d,
        num_layers=_require(c, mt, "num_hidden_layers", "n_layer"),
        num_heads=h, num_kv_heads=kv, head_dim=d // h, ffn_hidden_size=int(_get(c, "ffn_hidden_size", default=4 * d)),
        activation=_activation(_get(c, "activation", default="gelu"), gated=False), layer_norm_type="parametric",
        norms_per_layer=norms, positional_embeddings="alibi" if _get(c, "alibi", default=False) else "rope",
        max_positions=_get(c, "max_position_embeddings"), qkv_bias=bias, out_bias=bias, mlp_bias=bias,
        block_type="parallel" if parallel else "sequential",
        weight_tying=bool(_get(c, "tie_word_embeddings", default=True)))


def _phi(c, mt):
    d = _require(c, mt, "hidden_size")
    h = _require(c, mt, "num_attention_heads")
    head_dim = d // h
    return Arch(
        vocab_size=_require(c, mt, "vocab_size"), dimension=d, num_layers=_require(c, mt, "num_hidden_layers"),
        num_heads=h, num_kv_heads=int(_get(c, "num_key_value_heads", default=h)), head_dim=head_dim,
        ffn_hidden_size=_require(c, mt, "intermediate_size"),
        activation=_activation(_get(c, "hidden_act", default="gelu_new"), gated=False), layer_norm_type="parametric",
        norms_per_layer=1, positional_embeddings="rope", max_positions=_get(c, "max_position_embeddings"),
        qkv_bias=True, out_bias=True, mlp_bias=True, block_type="parallel",
        weight_tying=bool(_get(c, "tie_word_embeddings", default=False)),
        rotary_dim=int(head_dim * float(_get(c, "partial_rotary_factor", default=0.5))), lm_head_bias=True)


# model_type -> resolver. Llama-style families share one resolver.
FAMILIES: dict[str, Callable[[Mapping[str, Any], str], Arch]] = {
    "llama": _llama, "mistral": _llama, "qwen2": _qwen2, "olmo": _olmo, "olmo2": _olmo2, "gemma": _gemma,
    "gemma2": _gemma2, "gpt_neox": _gpt_neox, "gpt2": _gpt2, "falcon": _falcon, "RefinedWeb": _falcon,
    "RefinedWebModel": _falcon, "phi": _phi,
}


def resolve_arch(config: Mapping[str, Any]) -> Arch:
    """Read the architecture of a Hugging Face config dict (see ``FAMILIES`` for the supported model types)."""
    if not isinstance(config, Mapping):
        raise StoreError(f"config.json must be a JSON object, got {type(config).__name__}")
    model_type = config.get("model_type")
    if model_type not in FAMILIES:
        raise StoreError(f"config.json: model_type {model_type!r} is not supported; supported: "
                         f"{sorted(FAMILIES)} (add a resolver in model_metadata_db/importers/hf_config.py)")
    arch = FAMILIES[model_type](config, model_type)
    if arch.num_kv_heads <= 0 or arch.num_heads % arch.num_kv_heads:
        raise StoreError(f"config.json ({model_type}): num_key_value_heads={arch.num_kv_heads} must divide "
                         f"num_attention_heads={arch.num_heads}")
    return arch


def count_params(arch: Arch, *, include_buffers: bool = False) -> int:
    """Number of weights of a decoder-only transformer described by ``arch``.

    ``include_buffers`` also counts the persistent buffers older ``transformers`` versions saved in the state
    dict (causal-mask matrices of GPT-2/GPT-NeoX, RoPE ``inv_freq``): the release's ``total_params`` for
    Pythia, GPT-2 and Llama-2-13B were counted that way (e.g. pythia-160m 212,654,688 = 162,322,944 weights
    + 12 × 2048² mask + 12 × 8 inv_freq).
    """
    d, q_dim, kv_dim, f = arch.dimension, arch.num_heads * arch.head_dim, arch.num_kv_heads * arch.head_dim, \
        arch.ffn_hidden_size
    norm = {"rmsnorm": d, "parametric": 2 * d, "non-parametric": 0}[arch.layer_norm_type]
    attn = d * (q_dim + 2 * kv_dim) + q_dim * d
    attn += (q_dim + 2 * kv_dim) * arch.qkv_bias + d * arch.out_bias
    mlp = (3 if arch.activation in GATED else 2) * d * f
    mlp += ((2 * f if arch.activation in GATED else f) + d) * arch.mlp_bias
    layer = attn + mlp + arch.norms_per_layer * norm + arch.extra_per_layer
    embed = arch.vocab_size * d
    total = embed + arch.num_layers * layer + norm + (0 if arch.weight_tying else embed)
    total += arch.vocab_size * arch.lm_head_bias
    if arch.positional_embeddings == "learned":
        total += (arch.max_positions or 0) * d
    if include_buffers:
        if arch.causal_mask_buffer:
            total += arch.num_layers * (arch.max_positions or 0) ** 2
        if arch.positional_embeddings == "rope":
            total += arch.num_layers * (arch.rotary_dim // 2)
    return int(total)


def _biases(arch: Arch) -> str:
    if arch.mlp_bias:
        return "all"
    if arch.qkv_bias or arch.out_bias:
        return "attn_only"
    # LayerNorm with learnable bias but no linear biases (Falcon-7B): the release calls it "ln_only".
    return "ln_only" if arch.layer_norm_type == "parametric" else "none"


def _attention_variant(arch: Arch) -> str:
    if arch.num_kv_heads == arch.num_heads:
        return "full"
    return "mqa" if arch.num_kv_heads == 1 else "gqa"


def annotation_from_hf_config(config: Mapping[str, Any], model_id: str) -> dict[str, Any]:
    """A ``model_annotations`` row (store columns, release vocabulary) for a Hugging Face config.

    ``total_params`` is the config's own count when it gives one (``num_parameters``/``n_params``), else
    computed with :func:`count_params`. Multi-head attention is ``"full"`` as in the release.
    """
    if not isinstance(model_id, str) or not model_id.strip():
        raise StoreError("annotation_from_hf_config: model_id is empty; pass the model's id (e.g. org/name)")
    arch = resolve_arch(config)
    given = _get(config, "num_parameters", "n_params", "total_params")
    params = int(given) if isinstance(given, (int, float)) and not isinstance(given, bool) and given > 0 \
        else count_params(arch)
    return {
        "id": model_id,
        "dimension": arch.dimension,
        "num_heads": arch.num_heads,
        "mlp_ratio": arch.ffn_hidden_size / arch.dimension,
        "layer_norm_type": arch.layer_norm_type,
        "positional_embeddings": arch.positional_embeddings,
        "attention_variant": _attention_variant(arch),
        "biases": _biases(arch),
        "block_type": arch.block_type,
        "activation": arch.activation,
        "sequence_length": int(arch.max_positions) if arch.max_positions else None,
        "weight_tying": arch.weight_tying,
        "total_params": params,
        "num_layers": arch.num_layers,
        "num_kv_heads": arch.num_kv_heads,
        "vocab_size": arch.vocab_size,
        "ffn_hidden_size": arch.ffn_hidden_size,
        "architecture_family": "transformer",
        "training_objective": "clm",
    }


def read_hf_config(path: str | Path) -> dict[str, Any]:
    """Load a ``config.json`` (or the one inside a model folder) with a clear error on bad JSON."""
    path = Path(path)
    if path.is_dir():
        path = path / "config.json"
    if not path.is_file():
        raise StoreError(f"{path}: no such config.json; give a Hugging Face config file or model folder")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise StoreError(f"{path}: malformed JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
