"""Size presets around 20M / 50M / 100M parameters for each (family, objective), and their counts.

The nominal size counts *non-embedding* parameters (Kaplan et al. 2020): everything except the token
embedding table, an untied output matrix and learned position/type tables, so a preset means the same
model whatever the vocabulary (a 6-mer vocabulary has 4k tokens, a BPE one 32k+). Totals for a given
vocabulary are printed by ``python -m pretraining.models.preset_counts --vocab-size N``.

Shapes: transformer and Hyena blocks both cost ~12·d² (mixer 4·d², MLP 8·d² with d_intermediate = 4·d);
a Mamba block ~6.25·d² (expand 2, state 16), and twice that for the bidirectional (masked-LM) Mamba, which
runs two mixers per block — so its masked-LM presets have half the layers.
"""
from __future__ import annotations

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

# (family, mode) -> size -> model_config keys of the JSON layout (pretraining.models.json_layout)
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
