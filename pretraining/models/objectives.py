"""Training objectives: a registry from ``ModelConfig.objective`` to a loss function.

An objective is ``fn(model, tokens, pad_id, generator) -> (loss_sum, n_tokens)``:

- ``tokens``: LongTensor ``[batch, sequence_length + 1]``; positions holding ``pad_id`` are padding.
- returns the **sum** of per-token losses (a differentiable scalar) and the number of tokens it covers
  (a tensor), so losses and perplexities are token-weighted across micro-batches, ranks and documents,
  and padding never counts.
- ``generator`` is a ``torch.Generator`` for objectives that draw random numbers (masking); its state is
  checkpointed, so a resumed run draws the same masks.

New objectives (e.g. masked LM) register with ``@register_objective("mlm")``.

The per-token loss is a parameter: ``token_loss(logits, labels) -> summed loss`` (labels -100 where nothing is
scored), plain cross-entropy by default. :func:`objective_for` binds HELM's hierarchical cross-entropy when the
model config asks for it. Models that return a router ``aux_loss`` (mixture of experts) add it while training.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from njsl.registry import Registry
from pretraining.config import ConfigError

Objective = Callable[[nn.Module, torch.Tensor, int, "torch.Generator | None"], tuple[torch.Tensor, torch.Tensor]]
TokenLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (logits [..., V], labels, -100 = skip) -> sum
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


def cross_entropy_sum(logits: torch.Tensor, labels: torch.Tensor, chunk_tokens: int = 8192) -> torch.Tensor:
    """Summed cross-entropy in fp32 (labels -100 ignored), whatever the logits' precision.

    fp32 logits (CPU): one ``F.cross_entropy`` call. bf16/fp16 logits (GPU): kept in bf16 and upcast chunk by
    chunk of ``chunk_tokens`` positions, each chunk recomputed in backward (activation checkpointing), so
    neither a full fp32 copy of the ``[tokens, vocab]`` logits nor its fp32 gradient is ever held; bf16
    log-softmax over a 32k vocabulary would lose ~2 digits, fp32 per chunk does not.
    """
    flat, target = logits.reshape(-1, logits.size(-1)), labels.reshape(-1)
    if logits.dtype == torch.float32 or flat.size(0) <= chunk_tokens:
        return F.cross_entropy(flat.float(), target, ignore_index=-100, reduction="sum")
    from torch.utils.checkpoint import checkpoint

    def piece(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(x.float(), y, ignore_index=-100, reduction="sum")

    return sum(checkpoint(piece, flat[i:i + chunk_tokens], target[i:i + chunk_tokens], use_reentrant=False)
               for i in range(0, flat.size(0), chunk_tokens))


def with_router_aux_loss(model: nn.Module, output, loss_sum: torch.Tensor, n_tokens: torch.Tensor) -> torch.Tensor:
    """``loss_sum`` plus the MoE load-balancing term (weighted per token like the loss) in training forwards."""
    from pretraining.models.moe import router_aux_loss

    aux = router_aux_loss(model, output)
    return loss_sum if aux is None else loss_sum + aux.to(loss_sum.dtype) * n_tokens


def objective_for(model_cfg, tokenizer: str | None = None) -> Objective:
    """The objective of ``model_cfg``: its registered objective, with HELM's loss when ``helm`` is set."""
    base = get_objective(model_cfg.objective)
    if not getattr(model_cfg, "helm", False):
        return base
    from pretraining.models.helm import HelmLoss

    token_loss = HelmLoss.for_tokenizer(tokenizer, model_cfg.helm_alpha)
    fn: Any = functools.partial(cast(Any, base), token_loss=token_loss)
    fn.perplexity_name = "exp_helm_loss"  # exp(HELM loss) is no perplexity; codon metrics report the real one
    return fn


@register_objective("clm")
def causal_lm(model: nn.Module, tokens: torch.Tensor, pad_id: int = PAD_ID,
              generator: torch.Generator | None = None,
              token_loss: TokenLoss = cross_entropy_sum) -> tuple[torch.Tensor, torch.Tensor]:
    """Next-token prediction: inputs ``tokens[:, :-1]``, labels ``tokens[:, 1:]``, padded labels ignored.

    Right padding only: a causal model never attends from a real token to a later pad, so no attention
    mask is needed (and the fused SDPA kernels stay usable).
    """
    inputs, labels = tokens[:, :-1], tokens[:, 1:]
    # pad ids may be outside the vocabulary (-1): feed token 0 there; those positions are never scored
    inputs = inputs.masked_fill(inputs == pad_id, 0)
    keep = labels != pad_id
    output = model(input_ids=inputs)
    n_tokens = keep.sum()
    loss_sum = token_loss(output.logits, labels.masked_fill(~keep, -100))
    return with_router_aux_loss(model, output, loss_sum, n_tokens), n_tokens
