"""Training objectives: a registry from ``ModelConfig.objective`` to a loss function.

An objective is ``fn(model, tokens, pad_id, generator) -> (loss_sum, n_tokens)``:

- ``tokens``: LongTensor ``[batch, sequence_length + 1]``; positions holding ``pad_id`` are padding.
- returns the **sum** of per-token losses (a differentiable scalar) and the number of tokens it covers
  (a tensor), so losses and perplexities are token-weighted across micro-batches, ranks and documents,
  and padding never counts.
- ``generator`` is a ``torch.Generator`` for objectives that draw random numbers (masking); its state is
  checkpointed, so a resumed run draws the same masks.

New objectives (e.g. masked LM) register with ``@register_objective("mlm")``.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from njsl.registry import Registry
from pretraining.config import ConfigError

Objective = Callable[[nn.Module, torch.Tensor, int, "torch.Generator | None"], tuple[torch.Tensor, torch.Tensor]]
# mlm registers itself when the architectures package is imported (on the first lookup).
OBJECTIVES: Registry[Objective] = Registry("objective", where="model.objective: ", error=ConfigError,
                                           plugins=("pretraining.models.architectures",))

# Padding id used by megatron-core's GPTDataset when the tokenizer has no pad token; never a real token id.
PAD_ID = -1


def register_objective(name: str):
    """Decorator registering an objective under ``name`` (a name registered twice is refused)."""
    return OBJECTIVES.register(name)


def get_objective(name: str) -> Objective:
    """The loss function registered as ``name``."""
    return OBJECTIVES.get(name)


@register_objective("clm")
def causal_lm(model: nn.Module, tokens: torch.Tensor, pad_id: int = PAD_ID,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-token prediction: inputs ``tokens[:, :-1]``, labels ``tokens[:, 1:]``, padded labels ignored.

    Right padding only: a causal model never attends from a real token to a later pad, so no attention
    mask is needed (and the fused SDPA kernels stay usable).
    """
    inputs, labels = tokens[:, :-1], tokens[:, 1:]
    # pad ids may be outside the vocabulary (-1): feed token 0 there; those positions are never scored
    inputs = inputs.masked_fill(inputs == pad_id, 0)
    keep = labels != pad_id
    logits = model(input_ids=inputs).logits
    # fp32 log-softmax: bf16 cross-entropy over a 32k vocabulary loses ~2 digits
    loss_sum = F.cross_entropy(logits.float().reshape(-1, logits.size(-1)),
                               labels.masked_fill(~keep, -100).reshape(-1), ignore_index=-100, reduction="sum")
    return loss_sum, keep.sum()
