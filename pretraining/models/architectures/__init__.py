"""Architecture families beyond the Llama-style transformer, and the masked-LM objective.

Importing this package registers, into the trainer's registries:

* families ``mamba`` (HF ``MambaForCausalLM`` / bidirectional ``BiMambaForMaskedLM``), ``hyena`` (our
  :mod:`~pretraining.models.architectures.hyena`), and ``transformer+mlm`` (a BERT encoder for masked LM);
* the objective ``mlm`` (:mod:`~pretraining.models.architectures.mlm`).

:func:`build` picks the builder for a :class:`ModelConfig` (family and objective).
"""
from __future__ import annotations

from torch import nn

from pretraining.config import ModelConfig
from pretraining.models.architectures import families as _families  # noqa: F401  (registers the families)
from pretraining.models.architectures import mlm as _mlm  # noqa: F401  (registers the mlm objective)
from pretraining.models.registry import build_model, count_parameters


def build(cfg: ModelConfig) -> nn.Module:
    """A randomly initialised model for ``cfg`` (``transformer`` + ``mlm`` → the BERT encoder).

    The trainer's :func:`~pretraining.models.registry.build_model`: its registry key picks the
    ``transformer+mlm`` builder registered here for a masked-LM transformer.
    """
    return build_model(cfg)


def total_params(cfg: ModelConfig) -> int:
    """Parameters of the model :func:`build` makes (instantiated on the meta device: no memory)."""
    import torch

    with torch.device("meta"):
        return count_parameters(build(cfg))
