"""JSON model configs (``model_type``/``mode``/``tokenizer``/``model_config``) → the trainer's run config.

Layout (every key is validated by the pydantic models below, :class:`JsonLayout` and, per model type,
:class:`TransformerKeys` / :class:`MambaKeys` / :class:`HyenaKeys`; a bad key is named in the error)::

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

from abc import abstractmethod
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, ValidationError,
                      ValidationInfo, model_validator)

from pretraining.config import (INIT_SCHEMES, Activation, ConfigError, Flag, ModelConfig, NonNegativeFloat, Norm,
                                PositiveFloat, PositiveInt, RunConfig, error_message, parse_run_config, parse_section)
from pretraining.models.architectures.families import bert_check
from pretraining.models.helm import check_helm
from pretraining.models.presets import PresetError, preset
from pretraining.models.registry import check_buildable
from tokenization.kmer import MASK, KmerSpecError, is_kmer_name, load_any_tokenizer, parse_kmer_name

MODEL_TYPES = ("transformer", "mamba", "hyena")
MODES = ("clm", "mlm")

# JSON key -> ModelConfig field, passed through unchanged
_PASS_THROUGH = {"init": "init", "init_std": "init_std", "num_experts": "num_experts", "moe_top_k": "moe_top_k",
                 "router_aux_loss_coef": "router_aux_loss_coef"}
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


def _non_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("blank")
    return value


def _known_transformer(model: Any) -> Any:
    if not isinstance(model, str) or model not in TRANSFORMER_MODELS:
        raise ValueError(f"unknown transformer {model!r}; use one of {sorted(TRANSFORMER_MODELS)}")
    return model


def _known_position(value: Any) -> Any:
    pos = _POSITIONS.get(value.lower()) if isinstance(value, str) else None
    if pos is None:
        raise ValueError(f"unknown value {value!r}; use one of {sorted(_POSITIONS)}")
    return pos


# ---------------------------------------------------------------------------------------------------------------
# ``model_config``: one model per model type. Errors name the key (``model_config.n_head: ...``); checks that
# need the top-level ``mode`` get it from the validation context.
# ---------------------------------------------------------------------------------------------------------------

Count = Annotated[int, Field(strict=True, ge=1, description="an integer >= 1")]


class ArchKeys(BaseModel):
    """The ``model_config`` keys every model type takes."""

    model_config = ConfigDict(extra="forbid")

    d_model: Count
    n_layer: Count
    max_position_embeddings: Count = 2048
    sequence_length: Count | None = None  # default max_position_embeddings
    bidirectional: Flag | None = None  # default: mode == mlm
    tie_embeddings: Flag | None = None  # default: the model type's (transformer: the model's)
    dropout: Annotated[float, Field(strict=True, ge=0, lt=1, description="a number in [0, 1)")] = 0.0
    preset: str | None = None  # resolved into the size keys before validation
    init: Literal[INIT_SCHEMES] | None = None  # type: ignore[valid-type]
    init_std: PositiveFloat | None = None

    @model_validator(mode="after")
    def _agrees_with_mode(self, info: ValidationInfo) -> ArchKeys:
        mode = (info.context or {}).get("mode", "clm")
        if self.sequence_length is not None and self.sequence_length > self.max_position_embeddings:
            raise ValueError(f"sequence_length: {self.sequence_length} exceeds max_position_embeddings "
                             f"{self.max_position_embeddings}")
        if self.bidirectional is not None and self.bidirectional != (mode == "mlm"):
            raise ValueError(f"bidirectional: {self.bidirectional} contradicts mode {mode}: masked LM (mlm) needs "
                             "bidirectional true, causal LM (clm) needs false")
        return self

    @abstractmethod
    def store_fields(self, extra: dict[str, Any]) -> dict[str, Any]:
        """:class:`ModelConfig` fields this model type decides (its own options go into ``extra``)."""


class TransformerKeys(ArchKeys):
    """``model_config`` of ``model_type: transformer``: the HF model's defaults, then the keys given."""

    model: Annotated[str, BeforeValidator(_known_transformer)] = "gpt2"
    n_head: Count | None = None  # default d_model / 64
    n_kv_head: Count | None = None  # default n_head
    d_intermediate: Count | None = None  # default 4 d_model
    pos_embedding: Annotated[str, BeforeValidator(_known_position)] | None = None  # stored as the store's name
    activation: Activation | None = None
    norm: Norm | None = None
    num_experts: PositiveInt | None = None
    moe_top_k: PositiveInt | None = None
    router_aux_loss_coef: NonNegativeFloat | None = None

    @model_validator(mode="after")
    def _model_fits(self, info: ValidationInfo) -> TransformerKeys:
        mode = (info.context or {}).get("mode", "clm")
        if mode == "mlm" and self.model not in MLM_TRANSFORMER_MODELS:
            raise ValueError(f"model: {self.model!r} with mode mlm is not supported; a masked-LM transformer is a "
                             f"BERT encoder: use one of {list(MLM_TRANSFORMER_MODELS)}")
        if mode == "clm" and self.model == "bert":
            raise ValueError("model: 'bert' is an encoder; use mode mlm, or gpt2/llama/gpt_neox for clm")
        if self.d_model % self.heads:
            raise ValueError(f"n_head: d_model {self.d_model} is not divisible by n_head {self.heads}")
        return self

    @property
    def heads(self) -> int:
        return self.n_head or max(1, self.d_model // 64)

    def store_fields(self, extra: dict[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = dict(TRANSFORMER_MODELS[self.model])
        fields.update(num_heads=self.heads, num_kv_heads=self.n_kv_head or self.heads,
                      ffn_hidden_size=self.d_intermediate or 4 * self.d_model)
        for key, field in (("pos_embedding", "positional_embeddings"), ("activation", "activation"),
                           ("norm", "layer_norm_type")):
            if getattr(self, key) is not None:
                fields[field] = getattr(self, key)
        return fields


class MambaKeys(ArchKeys):
    """``model_config`` of ``model_type: mamba``."""

    d_state: Count = 16
    d_conv: Count = 4
    expand: Count = 2

    def store_fields(self, extra: dict[str, Any]) -> dict[str, Any]:
        extra.update(state_size=self.d_state, conv_kernel=self.d_conv)
        # No attention: num_heads is a placeholder the config needs (the store annotation leaves heads empty).
        return {"num_heads": 1, "num_kv_heads": 1, "block_type": "sequential", "weight_tying": True,
                "ffn_hidden_size": self.expand * self.d_model, "activation": "silu", "layer_norm_type": "rmsnorm",
                "positional_embeddings": "none", "biases": "none"}


class HyenaKeys(ArchKeys):
    """``model_config`` of ``model_type: hyena``."""

    d_intermediate: Count | None = None  # default 4 d_model
    order: Count = 2
    filter_order: Count = 64
    filter_emb_dim: Annotated[int, Field(strict=True, ge=3, description="an integer >= 3")] = 33
    short_filter_order: Count = 3

    def store_fields(self, extra: dict[str, Any]) -> dict[str, Any]:
        extra.update(order=self.order, filter_order=self.filter_order, filter_emb_dim=self.filter_emb_dim,
                     short_filter_order=self.short_filter_order)
        return {"num_heads": 1, "num_kv_heads": 1, "block_type": "sequential", "weight_tying": True,
                "ffn_hidden_size": self.d_intermediate or 4 * self.d_model, "activation": "gelu_new",
                "layer_norm_type": "layernorm", "positional_embeddings": "none", "biases": "all"}


ARCH_KEYS: dict[str, type[ArchKeys]] = {"transformer": TransformerKeys, "mamba": MambaKeys, "hyena": HyenaKeys}


def parse_arch(family: str, mode: str, keys: Any) -> ArchKeys:
    """The typed ``model_config`` of ``family`` trained with ``mode`` (a ``preset`` fills the size keys first);
    raise :class:`JsonConfigError` naming the first bad key."""
    cls = ARCH_KEYS[family]
    if not isinstance(keys, dict):
        raise JsonConfigError(f"model_config: expected an object of architecture keys, got {keys!r}")
    if "preset" in keys:
        try:
            keys = {**preset(family, mode, keys["preset"]), **keys}
        except PresetError as exc:
            raise JsonConfigError(str(exc)) from None
    try:
        return cls.model_validate(keys, context={"mode": mode})
    except ValidationError as exc:
        # an unknown key first: a misspelt required key ("n_layers") is named as such, not as "n_layer: missing"
        errors = exc.errors()
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        raise JsonConfigError(error_message(cls, first, "model_config.", unknown=(
            f"unknown key for model_type {family}; known keys are {{known}}"))) from None


class JsonLayout(BaseModel):
    """The top level of a JSON model config; ``model_config`` is checked against the model type (:attr:`arch`)."""

    model_config = ConfigDict(extra="forbid")

    model_type: Literal[MODEL_TYPES]  # type: ignore[valid-type]
    mode: Literal[MODES]  # type: ignore[valid-type]
    tokenizer: Annotated[str | None, Field(strict=True, description="a k-mer name (nuc, 3mer, 6mer), an HF name "
                                           "or a path"), AfterValidator(_non_blank)] = None
    helm: Flag = False
    alpha: Annotated[float | None, Field(strict=True, ge=0, description="a number >= 0 (HELM's level decay)")] = None
    raw_arch: Annotated[dict[str, Any], Field(alias="model_config", description="an object of architecture keys")]
    name: str | None = None
    training: Annotated[dict[str, Any] | None, Field(description="a mapping of TrainingConfig fields")] = None
    data: Annotated[dict[str, Any] | None, Field(description="a mapping with path and tokenizer")] = None
    _arch: ArchKeys | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _check(self) -> JsonLayout:
        if self.alpha is not None and not self.helm:
            raise ValueError("alpha: HELM's alpha is given but helm is false; set \"helm\": true or drop alpha")
        self._arch = parse_arch(self.model_type, self.mode, self.raw_arch)
        return self

    @property
    def arch(self) -> ArchKeys:
        """The typed ``model_config`` (:class:`TransformerKeys`, :class:`MambaKeys` or :class:`HyenaKeys`)."""
        assert self._arch is not None  # set by the validator
        return self._arch


def validate_layout(raw: Any) -> JsonLayout:
    """The checked layout; raise :class:`JsonConfigError` naming the first bad key (``model_config.n_head``)."""
    if not isinstance(raw, dict):
        raise JsonConfigError("config: expected a JSON object with model_type, mode, tokenizer, model_config")
    try:
        return JsonLayout.model_validate(raw)
    except ValidationError as exc:
        top_keys = [field.alias or name for name, field in JsonLayout.model_fields.items()]
        raise JsonConfigError(error_message(JsonLayout, exc.errors()[0], unknown=(
            f"unknown top-level key; known keys are {top_keys}"))) from None


def model_config_from_layout(raw: dict, vocab_size: int | None = None, mask_token_id: int | None = None
                             ) -> ModelConfig:
    """The trainer's :class:`ModelConfig` for a JSON layout (validated; errors name the bad key)."""
    layout = validate_layout(raw)
    arch, mode = layout.arch, layout.mode
    extra: dict[str, Any] = {}
    if mode == "mlm" and mask_token_id is not None:
        extra["mask_token_id"] = mask_token_id
    fields: dict[str, Any] = {"dimension": arch.d_model, "num_layers": arch.n_layer,
                              "sequence_length": arch.sequence_length or arch.max_position_embeddings,
                              "vocab_size": vocab_size, "family": layout.model_type, "objective": mode,
                              "dropout": float(arch.dropout)}
    fields.update(arch.store_fields(extra))
    if arch.tie_embeddings is not None:
        fields["weight_tying"] = arch.tie_embeddings
    fields["extra"] = extra
    fields.update({field: getattr(arch, key) for key, field in _PASS_THROUGH.items()
                   if getattr(arch, key, None) is not None})
    if layout.helm:
        fields["helm"] = True
        if layout.alpha is not None:
            fields["helm_alpha"] = layout.alpha
    cfg = parse_section(ModelConfig, fields, "model_config -> model.")
    if layout.model_type == "transformer" and mode == "mlm":  # fail at load time, not when the model is built
        why = bert_check(cfg)
        if why is not None:
            raise JsonConfigError(f"model_config: a masked-LM transformer is a BERT encoder and {why}")
    return cfg


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
