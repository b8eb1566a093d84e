"""Size presets around 20M / 50M / 100M parameters for each (family, objective), and their counts.

The nominal size counts *non-embedding* parameters (Kaplan et al. 2020): everything except the token
embedding table, an untied output matrix and learned position/type tables, so a preset means the same
model whatever the vocabulary (a 6-mer vocabulary has 4k tokens, a BPE one 32k+). Totals for a given
vocabulary are printed by ``python -m pretraining.architectures.presets --vocab-size N``.

Shapes: transformer and Hyena blocks both cost ~12·d² (mixer 4·d², MLP 8·d² with d_intermediate = 4·d);
a Mamba block ~6.25·d² (expand 2, state 16), and twice that for the bidirectional (masked-LM) Mamba, which
runs two mixers per block — so its masked-LM presets have half the layers.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

SIZES = ("20M", "50M", "100M")
NOMINAL = {"20M": 20e6, "50M": 50e6, "100M": 100e6}

_TRANSFORMER = {"20M": {"d_model": 512, "n_layer": 6, "d_intermediate": 2048},
                "50M": {"d_model": 640, "n_layer": 10, "d_intermediate": 2560},
                "100M": {"d_model": 768, "n_layer": 14, "d_intermediate": 3072}}
_MAMBA_CLM = {"20M": {"d_model": 512, "n_layer": 12}, "50M": {"d_model": 640, "n_layer": 20},
              "100M": {"d_model": 896, "n_layer": 20}}
_MAMBA_MLM = {"20M": {"d_model": 512, "n_layer": 6}, "50M": {"d_model": 640, "n_layer": 10},
              "100M": {"d_model": 896, "n_layer": 10}}

# (family, mode) -> size -> model_config keys of the JSON layout (pretraining.json_config)
PRESETS: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("transformer", "clm"): _TRANSFORMER,
    ("transformer", "mlm"): _TRANSFORMER,
    ("hyena", "clm"): _TRANSFORMER,
    ("hyena", "mlm"): _TRANSFORMER,
    ("mamba", "clm"): _MAMBA_CLM,
    ("mamba", "mlm"): _MAMBA_MLM,
}


class PresetError(ValueError):
    """Unknown preset name."""


def preset(family: str, mode: str, size: str) -> dict[str, Any]:
    """The ``model_config`` keys of preset ``size`` for ``family`` trained with ``mode``."""
    table = PRESETS.get((family, mode))
    if table is None:
        raise PresetError(f"model_type/mode: no presets for {family}/{mode}; known: {sorted(PRESETS)}")
    if size not in table:
        raise PresetError(f"model_config.preset: unknown size {size!r}; use one of {list(table)}")
    return dict(table[size])


def non_embedding_params(model) -> int:
    """Unique parameters minus token/position/type embedding tables and an untied output matrix."""
    from pretraining.model_registry import count_parameters

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

    from pretraining.json_config import model_config_from_layout
    from pretraining.model_registry import count_parameters

    layout = {"model_type": family, "mode": mode, "tokenizer": None,
              "model_config": {"preset": size, "max_position_embeddings": sequence_length}}
    cfg = model_config_from_layout(layout, vocab_size=vocab_size)
    from pretraining.architectures import build

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
