"""Weight initialisation schemes selectable in the model config (``init``), applied after the model is built.

=================  =============================================================================================
scheme             standard deviation of each weight matrix / embedding
=================  =============================================================================================
``default``        the family's own initialisation (HF ``_init_weights`` with ``init_std``; GPT-2 already scales
                   its ``c_proj`` by 1/sqrt(2·layers)) — what runs did before this option existed
``normal``         N(0, init_std) for every matrix and embedding
``scaled_output``  GPT-2 style: N(0, init_std) but residual output projections (attention output, MLP down)
                   N(0, init_std / sqrt(2·layers)) (Radford et al. 2019)
``mitchell``       OLMo's ``mitchell``: truncated normal at ±3σ with σ = 1/sqrt(fan_in) for input projections,
                   embeddings and the LM head, and σ = 1/sqrt(2·fan_in·(layer+1)) for the residual output
                   projections of layer ``layer`` (0-based) (Groeneveld et al. 2024, ``olmo/initialization.py``)
``small``          "small init" N(0, sqrt(2/(5·d))) for every matrix and embedding (Nguyen & Salazar 2019,
                   GPT-NeoX ``small_init``)
=================  =============================================================================================

Biases of re-initialised layers are zeroed; norms, convolutions, SSM parameters and Hyena's implicit filter MLP
(modules marked ``_keep_default_init``) keep their family initialisation. Mixture-of-experts weights stored as
3-D tensors (``[experts, out, in]``, transformers' ``*Experts`` modules) count ``in`` as the fan-in; the expert
down projection is a residual output projection, the router an input projection. Tied output embeddings are
initialised once, as embeddings.
"""
from __future__ import annotations

import math
import re

import torch
from torch import nn

from pretraining.config import INIT_SCHEMES

# residual-branch output projections across the HF families we build (Llama/Mixtral, GPT-2, NeoX/Falcon, BERT,
# Mamba and Hyena) — names relative to the module
_OUTPUT = re.compile(r"(?:^|\.)(?:o_proj|down_proj|c_proj|dense_4h_to_h|out_proj|attention\.dense|"
                     r"self_attention\.dense|attention\.output\.dense|\d+\.output\.dense|mlp\.2)$")
_LAYER = re.compile(r"(?:^|\.)(?:layers|h|layer|blocks)\.(\d+)(?:\.|$)")


def _layer_index(name: str) -> int:
    match = _LAYER.search(name)
    return int(match.group(1)) if match else 0


def _targets(model: nn.Module):
    """``(name, parameter, role, fan_in)`` for every weight a scheme initialises; role input|output|embedding."""
    seen: set[int] = set()
    get_head = getattr(model, "get_output_embeddings", None)
    head = get_head() if callable(get_head) else None
    for name, module in model.named_modules():
        if getattr(module, "_keep_default_init", False) or name.endswith("dt_proj"):
            continue  # Hyena's filter MLP; Mamba's dt projection has its own (softplus-inverse) initialisation
        found: list[tuple[str, torch.Tensor, str, int]] = []
        if isinstance(module, nn.Embedding):
            found.append((name, module.weight, "embedding", module.embedding_dim))
        elif isinstance(module, nn.Linear):
            role = "output" if _OUTPUT.search(name) and module is not head else "input"
            found.append((name, module.weight, role, module.in_features))
        elif type(module).__name__ == "Conv1D":  # transformers' GPT-2 linear layer, weight [in, out]
            role = "output" if _OUTPUT.search(name) else "input"
            found.append((name, module.weight, role, module.weight.shape[0]))
        elif type(module).__name__.endswith("Experts"):
            for pname, p in module.named_parameters(recurse=False):
                if p.ndim == 3:
                    found.append((f"{name}.{pname}", p, "output" if "down" in pname else "input", p.shape[-1]))
        elif type(module).__name__.endswith("Router") and getattr(module, "weight", None) is not None:
            found.append((name, module.weight, "input", module.weight.shape[-1]))
        for full, p, role, fan_in in found:
            if id(p) not in seen:
                seen.add(id(p))
                yield full, p, role, fan_in


def scheme_std(scheme: str, role: str, *, fan_in: int, layer: int, std: float, num_layers: int,
               dimension: int) -> float:
    """The standard deviation ``scheme`` gives a weight of ``role`` (see the module table)."""
    if scheme == "normal":
        return std
    if scheme == "scaled_output":
        return std / math.sqrt(2 * num_layers) if role == "output" else std
    if scheme == "mitchell":
        return 1 / math.sqrt(2 * fan_in * (layer + 1)) if role == "output" else 1 / math.sqrt(fan_in)
    if scheme == "small":
        return math.sqrt(2 / (5 * dimension))
    raise ValueError(f"model.init: unknown scheme {scheme!r}; use one of {list(INIT_SCHEMES)}")


@torch.no_grad()
def apply_init(model: nn.Module, scheme: str, *, std: float, num_layers: int, dimension: int) -> None:
    """Re-initialise ``model``'s weights with ``scheme`` (``default`` leaves them); uses the global torch RNG."""
    if scheme == "default":
        return
    if scheme not in INIT_SCHEMES:
        raise ValueError(f"model.init: unknown scheme {scheme!r}; use one of {list(INIT_SCHEMES)}")
    if any(p.is_meta for p in model.parameters()):  # a meta-device model (parameter counting) holds no values
        return
    for name, p, role, fan_in in _targets(model):
        s = scheme_std(scheme, role, fan_in=fan_in, layer=_layer_index(name), std=std, num_layers=num_layers,
                       dimension=dimension)
        if scheme == "mitchell":
            nn.init.trunc_normal_(p, mean=0.0, std=s, a=-3 * s, b=3 * s)
        else:
            nn.init.normal_(p, mean=0.0, std=s)
    for name, module in model.named_modules():
        if (isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D") and module.bias is not None \
                and not getattr(module, "_keep_default_init", False) and not name.endswith("dt_proj"):
            module.bias.zero_()


def init_roles(model: nn.Module) -> dict[str, tuple[str, int, int]]:
    """Parameter name → (role, fan-in, layer index) of every weight a scheme touches (for tests and docs)."""
    return {name: (role, fan_in, _layer_index(name)) for name, _, role, fan_in in _targets(model)}
