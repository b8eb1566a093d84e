"""Run configuration: the model in the store's vocabulary, plus training and data settings.

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
    training: {...}     # TrainingConfig fields (all optional; the paper's schedule by default)
    data: {path: ..., tokenizer: ...}   # optional here; the CLI can give them

The same config is the single source of truth for the parameter count, the FLOPs per token and the
store's annotation row (:func:`annotation_from_model_config`).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A run/model config is invalid; the message names the bad field and how to fix it."""


ACTIVATIONS = ("swiglu", "geglu", "gelu", "gelu_new", "relu", "silu")
GATED_ACTIVATIONS = {"swiglu": "silu", "geglu": "gelu"}  # gated form -> HF hidden_act of the gate
NORMS = ("rmsnorm", "layernorm")
POSITIONS = ("rope", "learned", "alibi", "none")
BIASES = ("none", "attn_only", "ln_only", "all")
BLOCKS = ("sequential", "parallel")
# aliases accepted on load, normalised to the names above (store spellings included)
_ALIASES = {
    "layer_norm_type": {"parametric": "layernorm", "layer_norm": "layernorm", "rms_norm": "rmsnorm"},
    "positional_embeddings": {"rotary": "rope", "absolute": "learned", "nope": "none"},
    "activation": {"swish": "silu", "gelu_pytorch_tanh": "gelu_new"},
    "block_type": {"parallel_residual": "parallel"},
}


@dataclass
class ModelConfig:
    """Architecture decisions, named as in the store's ``model_annotations`` table."""

    dimension: int
    num_layers: int
    num_heads: int
    num_kv_heads: int | None = None
    ffn_hidden_size: int | None = None
    mlp_ratio: float | None = None
    activation: str = "swiglu"
    layer_norm_type: str = "rmsnorm"
    positional_embeddings: str = "rope"
    biases: str = "none"
    block_type: str = "sequential"
    weight_tying: bool = False
    sequence_length: int = 2048
    vocab_size: int | None = None
    family: str = "transformer"  # key of pretraining.model_registry.FAMILIES
    objective: str = "clm"  # key of pretraining.objectives.OBJECTIVES
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    init_std: float = 0.02
    dropout: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # family-specific options (e.g. Mamba's state size)

    def __post_init__(self) -> None:
        if self.num_kv_heads is None:
            self.num_kv_heads = self.num_heads
        if self.ffn_hidden_size is None and self.mlp_ratio is not None:
            self.ffn_hidden_size = int(round(self.mlp_ratio * self.dimension))

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

    def validate(self, prefix: str = "model.") -> None:
        """Raise :class:`ConfigError` naming the first bad field."""
        for name in ("dimension", "num_layers", "num_heads", "num_kv_heads", "sequence_length"):
            _positive_int(getattr(self, name), prefix + name)
        if self.vocab_size is not None:
            _positive_int(self.vocab_size, prefix + "vocab_size")
        if self.ffn_hidden_size is None:
            raise ConfigError(f"{prefix}ffn_hidden_size: give ffn_hidden_size or mlp_ratio")
        _positive_int(self.ffn_hidden_size, prefix + "ffn_hidden_size")
        if self.mlp_ratio is not None and not (isinstance(self.mlp_ratio, (int, float)) and self.mlp_ratio > 0):
            raise ConfigError(f"{prefix}mlp_ratio: expected a positive number, got {self.mlp_ratio!r}")
        if self.dimension % self.num_heads:
            raise ConfigError(f"{prefix}num_heads: dimension {self.dimension} is not divisible by "
                              f"num_heads {self.num_heads}")
        if self.num_kv_heads > self.num_heads or self.num_heads % self.num_kv_heads:
            raise ConfigError(f"{prefix}num_kv_heads: {self.num_kv_heads} must divide num_heads "
                              f"{self.num_heads} (mha: equal, mqa: 1, gqa: a divisor)")
        for name, allowed in (("activation", ACTIVATIONS), ("layer_norm_type", NORMS),
                              ("positional_embeddings", POSITIONS), ("biases", BIASES), ("block_type", BLOCKS)):
            value = getattr(self, name)
            if value not in allowed:
                raise ConfigError(f"{prefix}{name}: unknown value {value!r}; use one of {list(allowed)}")
        if not isinstance(self.weight_tying, bool):
            raise ConfigError(f"{prefix}weight_tying: expected true or false, got {self.weight_tying!r}")
        for name in ("norm_eps", "rope_theta", "init_std"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
                raise ConfigError(f"{prefix}{name}: expected a positive number, got {v!r}")
        if not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ConfigError(f"{prefix}dropout: expected a number in [0, 1), got {self.dropout!r}")
        if not isinstance(self.extra, dict):
            raise ConfigError(f"{prefix}extra: expected a mapping of family-specific options")


@dataclass
class TrainingConfig:
    """Optimisation, schedule, parallelism and bookkeeping. Defaults are the paper's schedule."""

    global_batch_size: int | None = 512  # sequences per optimizer step (all ranks, all micro-batches)
    global_batch_tokens: int | None = None  # alternative to global_batch_size: tokens per step
    micro_batch_size: int = 8  # sequences per rank per forward/backward
    train_tokens: int | None = None  # token budget; steps = ceil(tokens / (global batch x seq len))
    max_steps: int | None = None  # stop after this step (the schedule stays train_tokens'); the schedule without one
    lr: float = 1.5e-4
    min_lr: float = 1e-5
    warmup_steps: int = 100
    weight_decay: float = 0.01
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0
    seed: int = 1234
    split: str = "989,10,1"  # train/valid/test weights for megatron-core's dataset split
    eval_every: int = 500  # steps; 0 disables
    eval_samples: int = 64  # validation sequences per evaluation
    checkpoint_every: int = 1000  # steps; a final checkpoint is always written
    keep_last: int = 3
    log_every: int = 1
    parallelism: str = "auto"  # auto | fsdp | ddp | none
    precision: str = "auto"  # auto (bf16 on GPU, fp32 on CPU) | bf16 | fp32
    compile: bool = False
    activation_checkpointing: bool = False
    wandb_project: str | None = None  # default: $WANDB_PROJECT
    data_workers: int = 2  # DataLoader worker processes reading samples ahead of the step (0: in the loop)

    def validate(self, prefix: str = "training.") -> None:
        if (self.global_batch_size is None) == (self.global_batch_tokens is None):
            raise ConfigError(f"{prefix}global_batch_size: give exactly one of global_batch_size (sequences) "
                              f"or global_batch_tokens")
        for name in ("global_batch_size", "global_batch_tokens", "train_tokens", "max_steps"):
            if getattr(self, name) is not None:
                _positive_int(getattr(self, name), prefix + name)
        for name in ("micro_batch_size", "eval_samples", "keep_last", "log_every"):
            _positive_int(getattr(self, name), prefix + name)
        for name in ("warmup_steps", "eval_every", "checkpoint_every", "seed", "data_workers"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"{prefix}{name}: expected a non-negative integer, got {v!r}")
        for name in ("lr", "min_lr", "weight_decay", "eps", "grad_clip"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v < 0:
                raise ConfigError(f"{prefix}{name}: expected a non-negative number, got {v!r}")
        if self.min_lr > self.lr:
            raise ConfigError(f"{prefix}min_lr: {self.min_lr} is above lr {self.lr}")
        for name in ("beta1", "beta2"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0 <= v < 1:
                raise ConfigError(f"{prefix}{name}: expected a number in [0, 1), got {v!r}")
        if self.parallelism not in ("auto", "fsdp", "ddp", "none"):
            raise ConfigError(f"{prefix}parallelism: unknown value {self.parallelism!r}; use auto|fsdp|ddp|none")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ConfigError(f"{prefix}precision: unknown value {self.precision!r}; use auto|bf16|fp32")
        for name in ("compile", "activation_checkpointing"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{prefix}{name}: expected true or false")
        parts = str(self.split).split(",")
        if len(parts) != 3 or not all(p.strip().replace(".", "", 1).isdigit() for p in parts):
            raise ConfigError(f"{prefix}split: expected three comma-separated weights like '989,10,1', "
                              f"got {self.split!r}")

    def batch_sequences(self, sequence_length: int) -> int:
        """Global batch in sequences, from either form of the setting."""
        if self.global_batch_size is not None:
            return self.global_batch_size
        if self.global_batch_tokens % sequence_length:
            raise ConfigError(f"training.global_batch_tokens: {self.global_batch_tokens} is not a multiple of "
                              f"model.sequence_length {sequence_length}")
        return self.global_batch_tokens // sequence_length


@dataclass
class DataConfig:
    """Where the tokens come from: a mix file or one .bin/.idx prefix, and the tokenizer."""

    path: str | None = None
    tokenizer: str | None = None


@dataclass
class RunConfig:
    name: str
    model: ModelConfig
    training: TrainingConfig = field(default_factory=TrainingConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def validate(self) -> None:
        self.model.validate()
        self.training.validate()
        self.training.batch_sequences(self.model.sequence_length)
        from pretraining.model_registry import builder_key, transformer_backend

        if builder_key(self.model) == "transformer":  # a combination no HF backend implements fails on load
            transformer_backend(self.model)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model": _clean(dataclasses.asdict(self.model)),
                "training": dataclasses.asdict(self.training), "data": dataclasses.asdict(self.data)}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def _clean(d: dict) -> dict:
    # mlp_ratio is resolved into ffn_hidden_size; keep one source of truth in the resolved config
    d = dict(d)
    d.pop("mlp_ratio", None)
    return d


def _positive_int(value: Any, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{name}: expected a positive integer, got {value!r}")


def _build(cls, section: dict, prefix: str):
    if not isinstance(section, dict):
        raise ConfigError(f"{prefix.rstrip('.')}: expected a mapping, got {type(section).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    for key in section:
        if key not in known:
            raise ConfigError(f"{prefix}{key}: unknown field; known fields are {sorted(known)}")
    section = dict(section)
    for key, aliases in _ALIASES.items():
        if key in section and isinstance(section[key], str):
            section[key] = aliases.get(section[key].lower(), section[key].lower())
    # YAML reads 1.5e-4 as a string (YAML 1.1); accept numeric strings for float fields
    for f in dataclasses.fields(cls):
        if f.name in section and isinstance(section[f.name], str) and "float" in str(f.type):
            try:
                section[f.name] = float(section[f.name])
            except ValueError:
                raise ConfigError(f"{prefix}{f.name}: expected a number, got {section[f.name]!r}") from None
    # token counts with suffixes, as everywhere else ("10B", "300M"; the mix report's parser)
    for name in ("train_tokens", "global_batch_tokens"):
        if cls is TrainingConfig and isinstance(section.get(name), str) and section[name][-1:].upper() in "KMBGT":
            from pretraining.mixes import MixError, parse_token_count

            try:
                section[name] = parse_token_count(section[name])
            except MixError:
                raise ConfigError(f"{prefix}{name}: expected a token count such as 300M, 1.5B or 2e9, "
                                  f"got {section[name]!r}") from None
    # 2.0e9 / "2e9" for an integer field (token budgets): accept when integral
    for f in dataclasses.fields(cls):
        v = section.get(f.name)
        if "int" in str(f.type) and "float" not in str(f.type) and isinstance(v, (float, str)) \
                and not isinstance(v, bool):
            try:
                as_float = float(v)
            except ValueError:
                continue
            if as_float.is_integer():
                section[f.name] = int(as_float)
    if cls is ModelConfig:
        for req in ("dimension", "num_layers", "num_heads"):
            if req not in section:
                raise ConfigError(f"{prefix}{req}: missing required field")
    return cls(**section)


def run_config_from_dict(raw: dict, default_name: str = "model") -> RunConfig:
    """Build and validate a :class:`RunConfig` from a parsed YAML/JSON mapping."""
    if not isinstance(raw, dict):
        raise ConfigError("config: expected a mapping with a 'model' section")
    unknown = set(raw) - {"name", "model", "training", "data"}
    if unknown:
        raise ConfigError(f"{sorted(unknown)[0]}: unknown top-level field; use name, model, training, data")
    if "model" not in raw:
        raise ConfigError("model: missing section describing the architecture")
    cfg = RunConfig(name=str(raw.get("name") or default_name),
                    model=_build(ModelConfig, raw["model"], "model."),
                    training=_build(TrainingConfig, raw.get("training") or {}, "training."),
                    data=_build(DataConfig, raw.get("data") or {}, "data."))
    cfg.validate()
    return cfg


def load_run_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Load a YAML (or the JSON model layout of ``pretraining.json_config``) run config, apply overrides, validate.

    Raises :class:`FileNotFoundError` or :class:`ConfigError` (naming the bad field).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model config {path} not found; see pretraining/configs/models/ for examples")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    raw = apply_overrides(raw or {}, overrides or [])
    from pretraining.json_config import is_json_layout, run_config_from_layout

    if is_json_layout(raw):  # the JSON layout (model_type/mode/tokenizer/model_config)
        return run_config_from_layout(raw, default_name=path.stem)
    return run_config_from_dict(raw, default_name=path.stem)


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


# ----------------------------------------------------------------------------------------------------
# Analytic counts: parameters and FLOPs
# ----------------------------------------------------------------------------------------------------

def param_count(cfg: ModelConfig) -> int:
    """Total trainable parameters of the transformer family, from the decisions alone.

    Delegates to the family's own formula when a family registered one (see ``model_registry``).
    """
    from pretraining.model_registry import family_param_count

    return family_param_count(cfg)


def embedding_params(cfg: ModelConfig) -> int:
    """Parameters of lookup tables (token and learned position embeddings): they cost no matmul FLOPs."""
    n = cfg.vocab_size * cfg.dimension
    if cfg.positional_embeddings == "learned":
        n += cfg.sequence_length * cfg.dimension
    return n


def flops_per_token(cfg: ModelConfig, sequence_length: int | None = None, training: bool = True) -> float:
    """Model FLOPs per token, PaLM/torchtitan convention.

    ``6 * N_matmul + 12 * L * d * T`` for a training step (forward 2x, backward 4x), where ``N_matmul`` is the
    parameter count without lookup embeddings (the LM head counts, tied or not) and the attention term counts
    the full T x T score and value products (causal masking is not discounted). Forward only: a third of it.
    """
    t = sequence_length or cfg.sequence_length
    n_matmul = param_count(cfg) - embedding_params(cfg)
    if cfg.weight_tying:
        n_matmul += cfg.vocab_size * cfg.dimension  # the tied head still does a matmul
    # norms and biases are not matmuls; their share is negligible but excluded for an exact count
    n_matmul -= _non_matmul_params(cfg)
    fwd = 2 * n_matmul + 4 * cfg.num_layers * cfg.dimension * t
    return float(3 * fwd if training else fwd)


def _non_matmul_params(cfg: ModelConfig) -> int:
    from pretraining.model_registry import family_non_matmul_params

    return family_non_matmul_params(cfg)


def format_params(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"


def steps_for_budget(train_tokens: int, batch_sequences: int, sequence_length: int) -> int:
    """Optimizer steps to see ``train_tokens``: ceil(tokens / (global batch x sequence length))."""
    per_step = batch_sequences * sequence_length
    if train_tokens < per_step:
        raise ConfigError(f"training.train_tokens: {train_tokens} is less than one step's "
                          f"{per_step} tokens (global batch {batch_sequences} x sequence {sequence_length})")
    return math.ceil(train_tokens / per_step)


# ----------------------------------------------------------------------------------------------------
# The store's annotation row
# ----------------------------------------------------------------------------------------------------

_STORE_NORM = {"rmsnorm": "rmsnorm", "layernorm": "parametric"}


def annotation_from_model_config(cfg: ModelConfig | RunConfig, model_id: str) -> dict[str, Any]:
    """The ``model_annotations`` row (store columns and vocabulary) for a model trained from ``cfg``."""
    run = cfg if isinstance(cfg, RunConfig) else None
    m = run.model if run else cfg
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
    }
    if m.family in ("mamba", "hyena"):  # attention-free: num_heads is only a placeholder in the config
        row.update(num_heads=None, num_kv_heads=None, attention_variant=None)
    if run is not None:
        seqs = run.training.batch_sequences(m.sequence_length)
        row["batch_instances"] = seqs
        row["batch_tokens"] = seqs * m.sequence_length
    return row
