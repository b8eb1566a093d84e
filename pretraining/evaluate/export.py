"""A checkpoint -> a Hugging Face folder (config, safetensors, tokenizer).

The folder loads with ``AutoModelForCausalLM.from_pretrained`` and lm-eval's ``hf`` model
(``--model_args pretrained=RUN_DIR/hf``). Default: the latest checkpoint into ``RUN_DIR/hf``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from pretraining.models.run_config import load_run_config


class ExportError(ValueError):
    """The run directory or checkpoint cannot be exported."""


def export_checkpoint(run_dir: str | Path, output: str | Path | None = None, step: int | None = None,
                      tokenizer: str | None = None) -> Path:
    """Write the HF folder for ``step`` (default latest) of ``run_dir``; returns its path."""
    import torch
    from transformers import AutoTokenizer

    from njsl.atomic import atomic_path
    from pretraining.models.registry import build_model
    from pretraining.train.checkpoint import latest_checkpoint, load_model_weights

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise FileNotFoundError(f"{run_dir}/config.yaml not found: not a trainer run directory")
    cfg = load_run_config(run_dir / "config.yaml")
    ckpt_dir = run_dir / "checkpoints"
    ckpt = ckpt_dir / f"step_{step}" if step is not None else latest_checkpoint(ckpt_dir)
    if ckpt is None or not ckpt.is_dir():
        raise ExportError(f"{ckpt_dir}: no {f'step_{step} ' if step is not None else ''}checkpoint to export; "
                          "train first (njsl train) or pick an existing --step")
    tok_spec = tokenizer or cfg.data.tokenizer
    if not tok_spec:
        raise ExportError("data.tokenizer: the run's config names no tokenizer; pass --tokenizer")
    from tokenization.kmer import build_kmer_tokenizer, is_kmer_name

    tok = build_kmer_tokenizer(tok_spec) if is_kmer_name(tok_spec) else AutoTokenizer.from_pretrained(tok_spec)
    if cfg.model.vocab_size is None:
        cfg.model.vocab_size = len(tok)
    torch.manual_seed(0)
    model: Any = build_model(cfg.model)  # an HF PreTrainedModel: config and save_pretrained below
    load_model_weights(ckpt, model)
    # generation needs the special ids; lm-eval reads eos from the tokenizer/config
    model.config.eos_token_id = tok.eos_token_id
    model.config.bos_token_id = tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id
    model.config.pad_token_id = tok.pad_token_id
    model.config.use_cache = True
    output = Path(output) if output else run_dir / "hf"
    with atomic_path(output) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / "njsl_run_config.yaml").write_text(cfg.to_yaml(), encoding="utf-8")
    return output
