"""JSON model configs (``model_type``/``mode``/``tokenizer``/``model_config``) → the trainer's run config.

Layout (every key is validated; a bad one is named in the error)::

    {"model_type": "transformer",          # transformer | mamba | hyena
     "mode": "mlm",                        # clm (next token) | mlm (15% masking, bidirectional)
     "tokenizer": "3mer",                  # nuc | 3mer | 6mer (+ -rna) | HF name | tokenizer folder/file
     "helm": false,                        # true: HELM hierarchical cross-entropy (codon tokenizers 3mer/3mer-rna)
     "alpha": 0.2,                         # HELM's level decay (only with helm: true)
     "model_config": {"model": "gpt2", "d_model": 640, "n_layer": 10, "d_intermediate": 2560,
                      "pos_embedding": "absolute", "max_position_embeddings": 2048, "bidirectional": true},
     "name": "...", "training": {...}, "data": {...}}   # optional: same sections as the YAML run config

``model_config`` keys (defaults in brackets; ``preset``: 20M | 50M | 100M fills the size keys):

* all: ``d_model``, ``n_layer``, ``max_position_embeddings`` [2048] (= training sequence length unless
  ``sequence_length`` is given), ``bidirectional`` [mode == mlm; must agree with mode], ``tie_embeddings``,
  ``dropout`` [0], ``preset``;
* transformer: ``model`` gpt2 | llama | gpt_neox | bert [gpt2] (sets norm/activation/biases/tying defaults;
  mlm takes gpt2 or bert, both built as a BERT encoder),
  ``n_head`` [d_model/64], ``n_kv_head`` [n_head], ``d_intermediate`` [4·d_model], ``pos_embedding``
  absolute | learned | rope | alibi | none [the model's], ``activation``, ``norm`` layernorm | rmsnorm;
  masked LM is a BERT encoder (absolute positions, layernorm, non-gated activation);
* mamba: ``d_state`` [16], ``d_conv`` [4], ``expand`` [2];
* hyena: ``d_intermediate`` [4·d_model], ``order`` [2], ``filter_order`` [64], ``filter_emb_dim`` [33],
  ``short_filter_order`` [3];
* initialisation (all): ``init`` default | normal | scaled_output | mitchell | small [default], ``init_std``
  [0.02];
* mixture of experts (transformer ``llama``, clm): ``num_experts`` [1], ``moe_top_k`` [2],
  ``router_aux_loss_coef`` [0.02].

The result is an ordinary :class:`~pretraining.config.RunConfig` (family, objective, store-vocabulary
fields), so the trainer, parameter counts and the store annotation need nothing JSON-specific.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from pretraining.config import (ConfigError, Flag, ModelConfig, RunConfig, error_message, parse_run_config,
                                parse_section)
from pretraining.models.architectures.families import bert_check
from pretraining.models.helm import check_helm
from pretraining.models.presets import PresetError, preset
from pretraining.models.registry import check_buildable
from tokenization.kmer import MASK, KmerSpecError, is_kmer_name, load_any_tokenizer, parse_kmer_name

MODEL_TYPES = ("transformer", "mamba", "hyena")
MODES = ("clm", "mlm")
TOP_KEYS = ("model_type", "mode", "tokenizer", "helm", "alpha", "model_config", "name", "training", "data")

_COMMON = {"d_model", "n_layer", "max_position_embeddings", "sequence_length", "bidirectional",
           "tie_embeddings", "dropout", "preset", "init", "init_std"}
# JSON key -> ModelConfig field, passed through unchanged (validated by ModelConfig)
_PASS_THROUGH = {"init": "init", "init_std": "init_std", "num_experts": "num_experts", "moe_top_k": "moe_top_k",
                 "router_aux_loss_coef": "router_aux_loss_coef"}
MODEL_CONFIG_KEYS: dict[str, set[str]] = {
    "transformer": _COMMON | {"model", "n_head", "n_kv_head", "d_intermediate", "pos_embedding", "activation",
                              "norm", "num_experts", "moe_top_k", "router_aux_loss_coef"},
    "mamba": _COMMON | {"d_state", "d_conv", "expand"},
    "hyena": _COMMON | {"d_intermediate", "order", "filter_order", "filter_emb_dim", "short_filter_order"},
}
# transformer "model" → store-vocabulary defaults (the HF family the trainer builds for them)
TRANSFORMER_MODELS: dict[str, dict[str, Any]] = {
    "gpt2": {"activation": "gelu_new", "layer_norm_type": "layernorm", "positional_embeddings": "learned",
             "biases": "all", "weight_tying": True},
    "llama": {"activation": "swiglu", "layer_norm_type": "rmsnorm", "positional_embeddings": "rope",
              "biases": "none", "weight_tying": False},
    "gpt_neox": {"activation": "gelu", "layer_norm_type": "layernorm", "positional_embeddings": "rope",
                 "biases": "all", "weight_tying": False},
    "bert": {"activation": "gelu", "layer_norm_type": "layernorm", "positional_embeddings": "learned",
             "biases": "all", "weight_tying": True},
}
MLM_TRANSFORMER_MODELS = ("gpt2", "bert")  # masked LM transformers are BERT encoders (families.py)
_POSITIONS = {"absolute": "learned", "learned": "learned", "rope": "rope", "rotary": "rope", "alibi": "alibi",
              "none": "none"}


class JsonConfigError(ConfigError):
    """A JSON model config is invalid; the message names the bad key."""


def is_json_layout(raw: Any) -> bool:
    """True when a parsed config uses the JSON layout (``model_type``/``model_config``), not the YAML one."""
    return isinstance(raw, dict) and ("model_type" in raw or "model_config" in raw)


def _int(mc: dict, key: str, default: Any = None, minimum: int = 1) -> int:
    value = mc.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise JsonConfigError(f"model_config.{key}: expected an integer >= {minimum}, got {value!r}")
    return value


def _bool(raw: dict, key: str, default: bool, where: str = "model_config.") -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise JsonConfigError(f"{where}{key}: expected true or false, got {value!r}")
    return value


def _non_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("blank")
    return value


class JsonLayout(BaseModel):
    """The top level of a JSON model config; ``model_config`` keys are checked against the model type."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    model_type: Literal[MODEL_TYPES]  # type: ignore[valid-type]
    mode: Literal[MODES]  # type: ignore[valid-type]
    tokenizer: Annotated[str | None, Field(strict=True, description="a k-mer name (nuc, 3mer, 6mer), an HF name "
                                           "or a path"), AfterValidator(_non_blank)] = None
    helm: Flag = False
    alpha: Annotated[float | None, Field(strict=True, ge=0, description="a number >= 0 (HELM's level decay)")] = None
    arch: Annotated[dict[str, Any], Field(alias="model_config", description="an object of architecture keys")]
    name: str | None = None
    training: Annotated[dict[str, Any] | None, Field(description="a mapping of TrainingConfig fields")] = None
    data: Annotated[dict[str, Any] | None, Field(description="a mapping with path and tokenizer")] = None

    @model_validator(mode="after")
    def _known_arch_keys(self) -> JsonLayout:
        if self.alpha is not None and not self.helm:
            raise ValueError("alpha: HELM's alpha is given but helm is false; set \"helm\": true or drop alpha")
        allowed = MODEL_CONFIG_KEYS[self.model_type]
        for key in self.arch:
            if key not in allowed:
                raise ValueError(f"model_config.{key}: unknown key for model_type {self.model_type}; "
                                 f"known keys are {sorted(allowed)}")
        return self


def validate_layout(raw: Any) -> JsonLayout:
    """Check the top-level keys and their types; raise :class:`JsonConfigError` naming the first bad one."""
    if not isinstance(raw, dict):
        raise JsonConfigError("config: expected a JSON object with model_type, mode, tokenizer, model_config")
    try:
        return JsonLayout.model_validate(raw)
    except ValidationError as exc:
        raise JsonConfigError(error_message(JsonLayout, exc.errors()[0], unknown=(
            f"unknown top-level key; known keys are {list(TOP_KEYS)}"))) from None


def model_config_from_layout(raw: dict, vocab_size: int | None = None, mask_token_id: int | None = None
                             ) -> ModelConfig:
    """The trainer's :class:`ModelConfig` for a JSON layout (validated; errors name the bad key)."""
    validate_layout(raw)
    family, mode = raw["model_type"], raw["mode"]
    mc = dict(raw["model_config"])
    if "preset" in mc:
        try:
            mc = {**preset(family, mode, mc["preset"]), **mc}
        except PresetError as exc:
            raise JsonConfigError(str(exc)) from None
    d = _int(mc, "d_model")
    n_layer = _int(mc, "n_layer")
    max_pos = _int(mc, "max_position_embeddings", 2048)
    seq = _int(mc, "sequence_length", max_pos)
    if seq > max_pos:
        raise JsonConfigError(f"model_config.sequence_length: {seq} exceeds max_position_embeddings {max_pos}")
    bidirectional = _bool(mc, "bidirectional", mode == "mlm")
    if bidirectional != (mode == "mlm"):
        raise JsonConfigError(f"model_config.bidirectional: {bidirectional} contradicts mode {mode}: masked LM "
                              "(mlm) needs bidirectional true, causal LM (clm) needs false")
    dropout = mc.get("dropout", 0.0)
    if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0 <= dropout < 1:
        raise JsonConfigError(f"model_config.dropout: expected a number in [0, 1), got {dropout!r}")
    extra: dict[str, Any] = {}
    if mode == "mlm" and mask_token_id is not None:
        extra["mask_token_id"] = mask_token_id
    fields: dict[str, Any] = {"dimension": d, "num_layers": n_layer, "sequence_length": seq,
                              "vocab_size": vocab_size, "family": family, "objective": mode,
                              "dropout": float(dropout)}

    if family == "transformer":
        fields.update(_transformer_fields(mc, d, mode))
    else:
        fields.update(_attention_free_fields(mc, d, family, extra))
    fields["weight_tying"] = _bool(mc, "tie_embeddings", fields.get("weight_tying", False))
    fields["extra"] = extra
    fields.update({field: mc[key] for key, field in _PASS_THROUGH.items() if key in mc})
    if raw.get("helm"):
        fields["helm"] = True
        if raw.get("alpha") is not None:
            fields["helm_alpha"] = raw["alpha"]
    cfg = parse_section(ModelConfig, fields, "model_config -> model.")
    if family == "transformer" and mode == "mlm":  # fail at load time, not when the model is built
        why = bert_check(cfg)
        if why is not None:
            raise JsonConfigError(f"model_config: a masked-LM transformer is a BERT encoder and {why}")
    return cfg


def _transformer_fields(mc: dict, d: int, mode: str) -> dict[str, Any]:
    """Store-vocabulary fields of a transformer ``model_config`` (the HF model's defaults, then the keys given)."""
    model = mc.get("model", "gpt2")
    if model not in TRANSFORMER_MODELS:
        raise JsonConfigError(f"model_config.model: unknown transformer {model!r}; use one of "
                              f"{sorted(TRANSFORMER_MODELS)}")
    if mode == "mlm" and model not in MLM_TRANSFORMER_MODELS:
        raise JsonConfigError(f"model_config.model: {model!r} with mode mlm is not supported; a masked-LM "
                              f"transformer is a BERT encoder: use one of {list(MLM_TRANSFORMER_MODELS)}")
    if mode == "clm" and model == "bert":
        raise JsonConfigError("model_config.model: 'bert' is an encoder; use mode mlm, or gpt2/llama/gpt_neox "
                              "for clm")
    fields: dict[str, Any] = dict(TRANSFORMER_MODELS[model])
    n_head = _int(mc, "n_head", max(1, d // 64))
    if d % n_head:
        raise JsonConfigError(f"model_config.n_head: d_model {d} is not divisible by n_head {n_head}")
    fields.update(num_heads=n_head, num_kv_heads=_int(mc, "n_kv_head", n_head),
                  ffn_hidden_size=_int(mc, "d_intermediate", 4 * d))
    if "pos_embedding" in mc:
        pos = _POSITIONS.get(str(mc["pos_embedding"]).lower())
        if pos is None:
            raise JsonConfigError(f"model_config.pos_embedding: unknown value {mc['pos_embedding']!r}; use "
                                  f"one of {sorted(_POSITIONS)}")
        fields["positional_embeddings"] = pos
    if "activation" in mc:
        fields["activation"] = mc["activation"]
    if "norm" in mc:
        fields["layer_norm_type"] = mc["norm"]
    return fields


def _attention_free_fields(mc: dict, d: int, family: str, extra: dict[str, Any]) -> dict[str, Any]:
    """Fields of a Mamba or Hyena ``model_config``; their own options go to ``extra``."""
    # No attention: num_heads is a placeholder the config needs (the store annotation leaves heads empty).
    fields: dict[str, Any] = {"num_heads": 1, "num_kv_heads": 1, "block_type": "sequential", "weight_tying": True}
    if family == "mamba":
        fields.update(ffn_hidden_size=_int(mc, "expand", 2) * d, activation="silu", layer_norm_type="rmsnorm",
                      positional_embeddings="none", biases="none")
        extra.update(state_size=_int(mc, "d_state", 16), conv_kernel=_int(mc, "d_conv", 4))
    else:
        fields.update(ffn_hidden_size=_int(mc, "d_intermediate", 4 * d), activation="gelu_new",
                      layer_norm_type="layernorm", positional_embeddings="none", biases="all")
        extra.update(order=_int(mc, "order", 2), filter_order=_int(mc, "filter_order", 64),
                     filter_emb_dim=_int(mc, "filter_emb_dim", 33, minimum=3),
                     short_filter_order=_int(mc, "short_filter_order", 3))
    return fields


def run_config_from_layout(raw: dict, default_name: str = "model") -> RunConfig:
    """A validated :class:`RunConfig` from a JSON layout; the tokenizer sets ``vocab_size`` and the mask id."""
    validate_layout(raw)
    data = dict(raw.get("data") or {})
    # data.tokenizer (e.g. from `njsl train --tokenizer`) overrides the layout's tokenizer key
    tokenizer = data.get("tokenizer") or raw.get("tokenizer")
    if tokenizer:
        data["tokenizer"] = tokenizer
    vocab_size, mask_id = tokenizer_sizes(tokenizer) if tokenizer else (None, None)
    model = model_config_from_layout(raw, vocab_size=vocab_size, mask_token_id=mask_id)
    # Reuse the YAML path for training/data so both layouts share one validation.
    cfg = parse_run_config({"name": raw.get("name") or default_name, "model": model.to_dict(),
                            "training": raw.get("training") or {}, "data": data}, default_name)
    check_buildable(cfg.model)
    check_helm(cfg.model, cfg.data.tokenizer)
    return cfg


def tokenizer_sizes(tokenizer: str) -> tuple[int | None, int | None]:
    """(vocabulary size, mask token id) of a k-mer name or a local tokenizer; (None, None) if not local."""
    if is_kmer_name(tokenizer):
        try:
            vocab = parse_kmer_name(tokenizer).vocabulary()
        except KmerSpecError as exc:
            raise JsonConfigError(f"tokenizer: {exc}") from None
        return len(vocab), vocab.index(MASK)
    if not Path(tokenizer).exists():
        return None, None  # a hub name: the trainer resolves it (and the vocabulary) when it loads the data
    tok = load_any_tokenizer(tokenizer)
    return len(tok), tok.mask_token_id


def layout_from_model_config(cfg: ModelConfig, tokenizer: str | None = None) -> dict[str, Any]:
    """The JSON layout describing ``cfg`` (inverse of :func:`model_config_from_layout` for its fields)."""
    mc: dict[str, Any] = {"d_model": cfg.dimension, "n_layer": cfg.num_layers,
                          "max_position_embeddings": cfg.sequence_length,
                          "bidirectional": cfg.objective == "mlm", "tie_embeddings": cfg.weight_tying}
    if cfg.family == "transformer":
        # the "model" whose defaults give the biases and norm (the other decisions are written explicitly)
        mc["model"] = next((name for name, d in TRANSFORMER_MODELS.items()
                            if d["biases"] == cfg.biases and d["layer_norm_type"] == cfg.layer_norm_type), "gpt2")
        mc.update(n_head=cfg.num_heads, n_kv_head=cfg.num_kv_heads, d_intermediate=cfg.ffn_hidden_size,
                  pos_embedding="absolute" if cfg.positional_embeddings == "learned" else cfg.positional_embeddings,
                  activation=cfg.activation, norm=cfg.layer_norm_type)
    elif cfg.family == "mamba":
        mc.update(expand=cfg.ffn_hidden_size // cfg.dimension, d_state=cfg.extra.get("state_size", 16),
                  d_conv=cfg.extra.get("conv_kernel", 4))
    else:
        mc.update(d_intermediate=cfg.ffn_hidden_size,
                  **{k: v for k, v in cfg.extra.items() if k != "mask_token_id"})
    mc.update({key: getattr(cfg, field) for key, field in _PASS_THROUGH.items()
               if getattr(cfg, field) != ModelConfig.model_fields[field].default})
    layout: dict[str, Any] = {"model_type": cfg.family, "mode": cfg.objective, "tokenizer": tokenizer, "helm": cfg.helm,
              "model_config": mc}
    if cfg.helm:
        layout["alpha"] = cfg.helm_alpha
    return layout
