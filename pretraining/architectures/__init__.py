"""Architecture families beyond the Llama-style transformer, and the masked-LM objective.

Importing this package registers, into the trainer's registries:

* families ``mamba`` (HF ``MambaForCausalLM`` / bidirectional ``BiMambaForMaskedLM``), ``hyena`` (our
  :mod:`~pretraining.architectures.hyena`), and ``transformer+mlm`` (a BERT encoder for masked LM);
* the objective ``mlm`` (:mod:`~pretraining.architectures.mlm`).

:func:`build` picks the builder for a :class:`ModelConfig` (family and objective); :func:`annotation_row`
is the store row of a model trained from it (family, objective, block type recorded).
"""
from __future__ import annotations

from typing import Any

from torch import nn

from pretraining.architectures import families as _families  # noqa: F401  (registers the families)
from pretraining.architectures import mlm as _mlm  # noqa: F401  (registers the mlm objective)
from pretraining.model_config import ModelConfig, RunConfig
from pretraining.model_registry import build_model, count_parameters

ATTENTION_FREE = ("mamba", "hyena")


def build(cfg: ModelConfig) -> nn.Module:
    """A randomly initialised model for ``cfg`` (``transformer`` + ``mlm`` → the BERT encoder).

    The trainer's :func:`~pretraining.model_registry.build_model`: its registry key picks the
    ``transformer+mlm`` builder registered here for a masked-LM transformer.
    """
    return build_model(cfg)


def total_params(cfg: ModelConfig) -> int:
    """Parameters of the model :func:`build` makes (instantiated on the meta device: no memory)."""
    import torch

    with torch.device("meta"):
        return count_parameters(build(cfg))


def annotation_row(cfg: ModelConfig | RunConfig, model_id: str) -> dict[str, Any]:
    """The store's ``model_annotations`` row for a model trained from ``cfg``.

    Starts from the trainer's :func:`~pretraining.model_config.annotation_from_model_config` (one source of
    truth) and corrects what differs for these families: attention-free models have no heads or attention
    variant, and the parameter count is the one of the model actually built (e.g. the BERT encoder).
    """
    from pretraining.model_config import annotation_from_model_config

    m = cfg.model if isinstance(cfg, RunConfig) else cfg
    row = annotation_from_model_config(cfg, model_id)
    if m.family in ATTENTION_FREE:
        row.update(num_heads=None, num_kv_heads=None, attention_variant=None)
    row["total_params"] = total_params(m) if m.vocab_size else None
    row["architecture_family"] = m.family
    row["training_objective"] = m.objective
    row["block_type"] = m.block_type
    return row


def register_in_store(store, cfg: ModelConfig | RunConfig, model_id: str) -> dict[str, Any]:
    """Upsert the annotation row of ``model_id`` into an ``AnalysisStore``; returns the row written."""
    row = annotation_row(cfg, model_id)
    store.upsert_annotation(row)
    return row
