"""Run configuration as typed models: the model in the store's vocabulary, plus training and data settings.

One YAML file describes a run::

    name: Llama2_220M
    model:              # store vocabulary (model_annotations columns)
      dimension: 1024
      num_layers: 12
      num_heads: 8
      num_kv_heads: 8   # == num_heads -> mha ("full"), 1 -> mqa, otherwise gqa
      ffn_hidden_size: 4096        # or mlp_ratio: 4.0
      activation: swiglu           # swiglu | geglu | gelu | gelu_new | relu | silu
      layer_norm_type: rmsnorm     # rmsnorm | layernorm
      positional_embeddings: rope  # rope | learned | alibi | none
      biases: none                 # none | attn_only | ln_only | all
      block_type: sequential       # sequential | parallel
      weight_tying: false
      sequence_length: 2048
      vocab_size: 32000            # null: taken from the tokenizer
      init: default                # default | normal | scaled_output | mitchell | small (with init_std)
      num_experts: 1               # > 1: mixture-of-experts MLP (Mixtral), moe_top_k experts per token
      helm: false                  # HELM hierarchical cross-entropy (codon tokenizers), helm_alpha: 0.2
    training: {...}     # TrainingConfig fields (all optional; the paper's schedule by default)
    data: {path: ..., tokenizer: ...}   # optional here; the CLI can give them

This module is the bottom of the pretraining package: of the project it imports only :mod:`njsl.units` (token
counts, read as the mix report reads them). Reading a
config *file* (YAML or the JSON layout) and checking that a model family can build it is
:func:`pretraining.models.run_config.load_run_config`; parameter and FLOP counts are
:mod:`pretraining.models.counts`; the store's annotation row is :mod:`pretraining.evaluate.annotation`.

Errors are :class:`ConfigError` whose message starts with the dotted name of the bad field
(``model.num_heads: ...``), translated from pydantic's validation errors by :func:`parse_section`.
"""
from __future__ import annotations

import typing
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from njsl.units import SUFFIXES, TokenCountError, number_or_same, parse_token_count


class ConfigError(ValueError):
    """A run/model config is invalid; the message names the bad field and how to fix it."""


ACTIVATIONS = ("swiglu", "geglu", "gelu", "gelu_new", "relu", "silu")
GATED_ACTIVATIONS = {"swiglu": "silu", "geglu": "gelu"}  # gated form -> HF hidden_act of the gate
NORMS = ("rmsnorm", "layernorm")
POSITIONS = ("rope", "learned", "alibi", "none")
BIASES = ("none", "attn_only", "ln_only", "all")
BLOCKS = ("sequential", "parallel")
# weight initialisation schemes (pretraining.models.init_schemes)
INIT_SCHEMES = ("default", "normal", "scaled_output", "mitchell", "small")
# aliases accepted on load, normalised to the names above (store spellings included)
_ALIASES = {
    "layer_norm_type": {"parametric": "layernorm", "layer_norm": "layernorm", "rms_norm": "rmsnorm"},
    "positional_embeddings": {"rotary": "rope", "absolute": "learned", "nope": "none"},
    "activation": {"swish": "silu", "gelu_pytorch_tanh": "gelu_new"},
    "block_type": {"parallel_residual": "parallel"},
}


# ----------------------------------------------------------------------------------------------------
# Field types. Each carries the phrase used in error messages ("expected <description>").
# ----------------------------------------------------------------------------------------------------

def _integral(value: Any) -> Any:
    # YAML 1.1 reads 2e9 as a string and 2.0e9 as a float; token budgets are written that way
    if isinstance(value, (float, str)) and not isinstance(value, bool):
        try:
            as_float = float(value)
        except ValueError:
            return value
        if as_float.is_integer():
            return int(as_float)
    return value


def _token_count(value: Any) -> Any:
    # token counts take the suffixes the mix report takes ("10B", "300M"): one parser everywhere
    if isinstance(value, str) and value.strip()[-1:].upper() in SUFFIXES:
        try:
            return parse_token_count(value)
        except TokenCountError:
            return value  # reported by the field, with its name
    return _integral(value)



def _alias(field: str):
    def normalise(value: Any) -> Any:
        return _ALIASES.get(field, {}).get(value.lower(), value.lower()) if isinstance(value, str) else value
    return BeforeValidator(normalise)


PositiveInt = Annotated[int, BeforeValidator(_integral), Field(strict=True, gt=0, description="a positive integer")]
NonNegativeInt = Annotated[int, BeforeValidator(_integral),
                           Field(strict=True, ge=0, description="a non-negative integer")]
TokenCount = Annotated[int, BeforeValidator(_token_count),
                      Field(strict=True, gt=0, description="a token count such as 300M, 1.5B or 2e9")]
PositiveFloat = Annotated[float, BeforeValidator(number_or_same),
                          Field(strict=True, gt=0, description="a positive number")]
NonNegativeFloat = Annotated[float, BeforeValidator(number_or_same),
                             Field(strict=True, ge=0, description="a non-negative number")]
Fraction = Annotated[float, BeforeValidator(number_or_same),
                     Field(strict=True, ge=0, lt=1, description="a number in [0, 1)")]
Flag = Annotated[bool, Field(strict=True, description="true or false")]
# store vocabulary, any case, store spellings accepted (rms_norm, rotary, ...)
Activation = Annotated[Literal[ACTIVATIONS], _alias("activation")]  # type: ignore[valid-type]
Norm = Annotated[Literal[NORMS], _alias("layer_norm_type")]  # type: ignore[valid-type]


class _Section(BaseModel):
    """Base of the config sections: unknown fields are refused, values are checked on creation."""

    model_config = ConfigDict(extra="forbid", validate_default=False)


S = TypeVar("S", bound=BaseModel)


def _field(cls: type[BaseModel], name: str) -> Any:
    return next((f for n, f in cls.model_fields.items() if name in (n, f.alias)), None)


def _walk(annotation: Any) -> list[Any]:
    """``annotation`` and every type and metadata item nested in it (unions, ``Annotated``, ``Literal`` kept)."""
    out, todo = [], [annotation]
    while todo:
        item = todo.pop(0)
        out.append(item)
        if typing.get_origin(item) is not Literal:
            todo.extend(typing.get_args(item))
            todo.extend(getattr(item, "__metadata__", ()))
    return out


def _allowed_values(field: Any) -> list[Any] | None:
    for item in _walk(field.annotation):
        if typing.get_origin(item) is Literal:
            return list(typing.get_args(item))
    return None


def _description(field: Any) -> str | None:
    if field.description:
        return str(field.description)
    return next((str(i.description) for i in _walk(field.annotation) if getattr(i, "description", None)), None)


def error_message(cls: type[BaseModel], error: Any, prefix: str = "",
                  unknown: str = "unknown field; known fields are {known}") -> str:
    """One line for a pydantic error: the dotted field name first, then what was expected.

    Used by every typed config of the project so that messages read the same everywhere.
    """
    loc = [str(p) for p in error.get("loc", ()) if not isinstance(p, int)]
    kind, value = error["type"], error.get("input")
    if not loc:  # a model-level check: its message already starts with the field name
        return prefix + str(error.get("ctx", {}).get("error") or error["msg"]).removeprefix("Value error, ")
    where = prefix + ".".join(loc)
    owner: Any = cls  # the (possibly nested) model that holds the failing field
    for part in loc[:-1]:
        outer = _field(owner, part) if owner is not None else None
        owner = next((t for t in _walk(outer.annotation) if isinstance(t, type) and issubclass(t, BaseModel)),
                     None) if outer is not None else None
    if kind == "extra_forbidden":
        return f"{where}: " + unknown.format(known=sorted((owner or cls).model_fields))
    if kind == "missing":
        return f"{where}: missing required field"
    field = _field(owner, loc[-1]) if owner is not None else None
    allowed = _allowed_values(field) if field is not None else None
    if kind == "literal_error" and allowed is not None:
        return f"{where}: unknown value {value!r}; use one of {allowed}"
    description = _description(field) if field is not None else None
    if description is None:
        return f"{where}: {str(error['msg']).removeprefix('Value error, ')}"
    return f"{where}: expected {description}, got {value!r}"


def parse_section(cls: type[S], section: Any, prefix: str) -> S:
    """Validate a mapping into ``cls``; raise :class:`ConfigError` naming the first bad field."""
    if not isinstance(section, dict):
        raise ConfigError(f"{prefix.rstrip('.')}: expected a mapping, got {type(section).__name__}")
    try:
        return cls.model_validate(section)
    except ValidationError as exc:
        raise ConfigError(error_message(cls, exc.errors()[0], prefix)) from None


# ----------------------------------------------------------------------------------------------------
# The sections
# ----------------------------------------------------------------------------------------------------

class ModelConfig(_Section):
    """Architecture decisions, named as in the store's ``model_annotations`` table."""

    dimension: PositiveInt
    num_layers: PositiveInt
    num_heads: PositiveInt
    num_kv_heads: PositiveInt  # default num_heads (multi-head attention)
    ffn_hidden_size: PositiveInt  # or mlp_ratio x dimension
    mlp_ratio: PositiveFloat | None = None
    activation: Activation = "swiglu"
    layer_norm_type: Norm = "rmsnorm"
    positional_embeddings: Annotated[Literal[POSITIONS],  # type: ignore[valid-type]
                                     _alias("positional_embeddings")] = "rope"
    biases: Annotated[Literal[BIASES], _alias("biases")] = "none"  # type: ignore[valid-type]
    block_type: Annotated[Literal[BLOCKS], _alias("block_type")] = "sequential"  # type: ignore[valid-type]
    weight_tying: Flag = False
    sequence_length: PositiveInt = 2048
    vocab_size: PositiveInt | None = None
    family: str = "transformer"  # key of pretraining.models.registry.FAMILIES
    objective: str = "clm"  # key of pretraining.models.objectives.OBJECTIVES
    norm_eps: PositiveFloat = 1e-5
    rope_theta: PositiveFloat = 10000.0
    init_std: PositiveFloat = 0.02
    init: Literal[INIT_SCHEMES] = "default"  # type: ignore[valid-type]  # scheme (pretraining.models.init_schemes)
    dropout: Fraction = 0.0
    # mixture of experts (Llama-style transformer -> Mixtral; pretraining.models.moe): experts per layer,
    # experts per token, weight of the load-balancing loss
    num_experts: PositiveInt = 1
    moe_top_k: PositiveInt = 2
    router_aux_loss_coef: NonNegativeFloat = 0.02  # Mixtral 8x7B's
    # HELM: hierarchical cross-entropy over the codon tree (codon tokenizers only; pretraining.models.helm)
    helm: Flag = False
    helm_alpha: NonNegativeFloat = 0.2
    # family-specific options (e.g. Mamba's state size)
    extra: Annotated[dict[str, Any], Field(description="a mapping of family-specific options")] = \
        Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, raw: Any) -> Any:
        """Fill ``num_kv_heads`` (= num_heads) and ``ffn_hidden_size`` (= mlp_ratio x dimension) when not given."""
        if not isinstance(raw, dict):
            return raw
        raw = dict(raw)
        if raw.get("num_kv_heads") is None and "num_heads" in raw:
            raw["num_kv_heads"] = raw["num_heads"]
        if raw.get("ffn_hidden_size") is None:
            try:
                raw["ffn_hidden_size"] = int(round(float(raw["mlp_ratio"]) * _integral(raw["dimension"])))
            except (KeyError, TypeError, ValueError):
                if raw.get("mlp_ratio") is None:
                    raise ValueError("ffn_hidden_size: give ffn_hidden_size or mlp_ratio") from None
                raw.pop("ffn_hidden_size", None)  # the bad mlp_ratio/dimension is reported by its own field
        return raw

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if self.dimension % self.num_heads:
            raise ValueError(f"num_heads: dimension {self.dimension} is not divisible by num_heads {self.num_heads}")
        if self.num_kv_heads > self.num_heads or self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_kv_heads: {self.num_kv_heads} must divide num_heads {self.num_heads} "
                             "(mha: equal, mqa: 1, gqa: a divisor)")
        if self.num_experts > 1 and self.moe_top_k > self.num_experts:
            raise ValueError(f"moe_top_k: {self.moe_top_k} is more than num_experts {self.num_experts}")
        return self

    @property
    def vocab(self) -> int:
        """``vocab_size``, which is None until a tokenizer sets it; an error naming the field when unset."""
        if self.vocab_size is None:
            raise ConfigError("model.vocab_size: not set; give it in the config or pass a tokenizer")
        return self.vocab_size

    @property
    def head_dim(self) -> int:
        return self.dimension // self.num_heads

    @property
    def attention_variant(self) -> str:
        """Store vocabulary: ``full`` (multi-head), ``gqa`` or ``mqa``."""
        if self.num_kv_heads == self.num_heads:
            return "full"
        return "mqa" if self.num_kv_heads == 1 else "gqa"

    @property
    def gated(self) -> bool:
        return self.activation in GATED_ACTIVATIONS

    def validate(self, prefix: str = "model.") -> None:  # type: ignore[override]
        """Re-check the current values (after edits); raise :class:`ConfigError` naming the first bad field."""
        parse_section(ModelConfig, self.model_dump(), prefix)

    def to_dict(self) -> dict[str, Any]:
        """The fields, with ``mlp_ratio`` dropped: it is resolved into ``ffn_hidden_size`` (one source of truth)."""
        d = self.model_dump()
        d.pop("mlp_ratio", None)
        return d


class TrainingConfig(_Section):
    """Optimisation, schedule, parallelism and bookkeeping. Defaults are the paper's schedule."""

    global_batch_size: PositiveInt | None = 512  # sequences per optimizer step (all ranks, all micro-batches)
    global_batch_tokens: TokenCount | None = None  # alternative to global_batch_size: tokens per step
    micro_batch_size: PositiveInt = 8  # sequences per rank per forward/backward
    train_tokens: TokenCount | None = None  # token budget; steps = ceil(tokens / (global batch x seq len))
    max_steps: PositiveInt | None = None  # stop after this step (schedule from train_tokens; without it, the length)
    lr: NonNegativeFloat = 1.5e-4
    min_lr: NonNegativeFloat = 1e-5
    warmup_steps: NonNegativeInt = 100
    weight_decay: NonNegativeFloat = 0.01
    beta1: Fraction = 0.9
    beta2: Fraction = 0.95
    eps: NonNegativeFloat = 1e-8
    grad_clip: NonNegativeFloat = 1.0
    seed: NonNegativeInt = 1234
    # train/valid/test weights for megatron-core's dataset split
    split: Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, (int, float)) else v),
                     Field(description="three comma-separated weights like '989,10,1'")] = "989,10,1"
    eval_every: NonNegativeInt = 500  # steps; 0 disables
    eval_samples: PositiveInt = 64  # validation sequences per evaluation
    checkpoint_every: NonNegativeInt = 1000  # steps; a final checkpoint is always written
    keep_last: PositiveInt = 3
    log_every: PositiveInt = 1
    norms_every: NonNegativeInt = 100  # steps between weight/gradient/activation norm records (0: never)
    parallelism: Literal["auto", "fsdp", "ddp", "none"] = "auto"
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 on GPU, fp32 on CPU
    compile: Flag = False
    activation_checkpointing: Flag = False
    wandb_project: str | None = None  # default: $WANDB_PROJECT
    data_workers: NonNegativeInt = 2  # DataLoader worker processes reading samples ahead of the step (0: in the loop)

    @model_validator(mode="after")
    def _check(self) -> TrainingConfig:
        if (self.global_batch_size is None) == (self.global_batch_tokens is None):
            raise ValueError("global_batch_size: give exactly one of global_batch_size (sequences) "
                             "or global_batch_tokens")
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr: {self.min_lr} is above lr {self.lr}")
        parts = self.split.split(",")
        if len(parts) != 3 or not all(p.strip().replace(".", "", 1).isdigit() for p in parts):
            raise ValueError(f"split: expected three comma-separated weights like '989,10,1', got {self.split!r}")
        return self

    def validate(self, prefix: str = "training.") -> None:  # type: ignore[override]
        """Re-check the current values (after edits); raise :class:`ConfigError` naming the first bad field."""
        parse_section(TrainingConfig, self.model_dump(), prefix)

    def batch_sequences(self, sequence_length: int) -> int:
        """Global batch in sequences, from either form of the setting."""
        if self.global_batch_size is not None:
            return self.global_batch_size
        assert self.global_batch_tokens is not None  # guaranteed by the model check
        if self.global_batch_tokens % sequence_length:
            raise ConfigError(f"training.global_batch_tokens: {self.global_batch_tokens} is not a multiple of "
                              f"model.sequence_length {sequence_length}")
        return self.global_batch_tokens // sequence_length


class DataConfig(_Section):
    """Where the tokens come from: a mix file or one .bin/.idx prefix, and the tokenizer."""

    path: str | None = None
    tokenizer: str | None = None


TOP_LEVEL = ("name", "model", "training", "data")


class RunConfig(BaseModel):
    """A whole run: its name and the three sections."""

    model_config = ConfigDict(extra="forbid")

    name: str
    model: ModelConfig
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    data: DataConfig = Field(default_factory=DataConfig)

    def validate(self) -> None:  # type: ignore[override]
        """Re-check every section and their consistency; raise :class:`ConfigError` naming the first bad field."""
        self.model.validate()
        self.training.validate()
        self.training.batch_sequences(self.model.sequence_length)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model.to_dict(), "training": self.training.model_dump(),
                "data": self.data.model_dump()}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def parse_run_config(raw: Any, default_name: str = "model") -> RunConfig:
    """A :class:`RunConfig` from a parsed YAML/JSON mapping, every field checked (not yet whether a family
    can build the model: :func:`pretraining.models.run_config.run_config_from_dict` adds that)."""
    if not isinstance(raw, dict):
        raise ConfigError("config: expected a mapping with a 'model' section")
    unknown = set(raw) - set(TOP_LEVEL)
    if unknown:
        raise ConfigError(f"{sorted(unknown)[0]}: unknown top-level field; use name, model, training, data")
    if "model" not in raw:
        raise ConfigError("model: missing section describing the architecture")
    cfg = RunConfig(name=str(raw.get("name") or default_name),
                    model=parse_section(ModelConfig, raw["model"], "model."),
                    training=parse_section(TrainingConfig, raw.get("training") or {}, "training."),
                    data=parse_section(DataConfig, raw.get("data") or {}, "data."))
    cfg.training.batch_sequences(cfg.model.sequence_length)
    return cfg


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """Apply ``section.field=value`` strings (value parsed as YAML) to a raw config mapping."""
    raw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected section.field=value, e.g. training.lr=3e-4")
        parts = key.split(".")
        target = raw
        for part in parts[:-1]:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ConfigError(f"--set {item!r}: {part} is not a section")
        # data paths are taken literally (a path is never a YAML number or list)
        target[parts[-1]] = value if parts[0] == "data" else yaml.safe_load(value)
    return raw
