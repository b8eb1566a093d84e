"""Reading run config files: YAML or the JSON layout, ``--set`` overrides, and the check that a family builds it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pretraining.config import ConfigError, RunConfig, apply_overrides, parse_run_config
from pretraining.models.helm import check_helm
from pretraining.models.json_layout import is_json_layout, run_config_from_layout
from pretraining.models.registry import check_buildable


def run_config_from_dict(raw: Any, default_name: str = "model") -> RunConfig:
    """Build and validate a :class:`RunConfig` from a parsed YAML mapping (every field, and the architecture)."""
    cfg = parse_run_config(raw, default_name)
    check_buildable(cfg.model)  # a combination no HF backend implements fails on load, not at build time
    check_helm(cfg.model, cfg.data.tokenizer)
    return cfg


def load_run_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Load a YAML (or the JSON model layout of :mod:`pretraining.models.json_layout`) run config, apply
    overrides, validate.

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
    if is_json_layout(raw):  # the JSON layout (model_type/mode/tokenizer/model_config)
        return run_config_from_layout(raw, default_name=path.stem)
    return run_config_from_dict(raw, default_name=path.stem)
