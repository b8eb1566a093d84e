"""Parameter counts of the size presets (:mod:`pretraining.models.presets`): total and non-embedding.

``python -m pretraining.models.preset_counts --vocab-size N`` prints them for a vocabulary.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from pretraining.models.architectures import build
from pretraining.models.json_layout import model_config_from_layout
from pretraining.models.presets import PRESETS, SIZES
from pretraining.models.registry import count_parameters


def non_embedding_params(model) -> int:
    """Unique parameters minus token/position/type embedding tables and an untied output matrix."""
    total = count_parameters(model)
    tables = {id(model.get_input_embeddings().weight): model.get_input_embeddings().weight}
    out = model.get_output_embeddings()
    if out is not None:
        tables[id(out.weight)] = out.weight
    for name, module in model.named_modules():  # learned position / token-type tables (BERT, GPT-2)
        if name.endswith(("position_embeddings", "token_type_embeddings", "wpe")) and hasattr(module, "weight"):
            tables[id(module.weight)] = module.weight
    return total - sum(p.numel() for p in tables.values())


def preset_counts(family: str, mode: str, size: str, vocab_size: int = 4101,
                  sequence_length: int = 2048) -> dict[str, Any]:
    """Instantiate the preset on the meta device (no memory) and count: total and non-embedding."""
    import torch

    layout = {"model_type": family, "mode": mode, "tokenizer": None,
              "model_config": {"preset": size, "max_position_embeddings": sequence_length}}
    cfg = model_config_from_layout(layout, vocab_size=vocab_size)
    with torch.device("meta"):
        model = build(cfg)
    return {"family": family, "mode": mode, "preset": size, "total": count_parameters(model),
            "non_embedding": non_embedding_params(model), "dimension": cfg.dimension,
            "num_layers": cfg.num_layers}


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Print the parameter counts of every preset."""
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    ap.add_argument("--vocab-size", type=int, default=4101, help="vocabulary for the totals (default: 6mer, 4101)")
    ap.add_argument("--sequence-length", type=int, default=2048)
    args = ap.parse_args(argv)
    print(f"{'family':<12}{'mode':<6}{'preset':<8}{'d':>6}{'layers':>8}{'non-embedding':>16}{'total':>14}")
    for family, mode in PRESETS:
        for size in SIZES:
            c = preset_counts(family, mode, size, args.vocab_size, args.sequence_length)
            print(f"{family:<12}{mode:<6}{size:<8}{c['dimension']:>6}{c['num_layers']:>8}"
                  f"{c['non_embedding'] / 1e6:>15.1f}M{c['total'] / 1e6:>13.1f}M")
    return 0


if __name__ == "__main__":
    sys.exit(main())
