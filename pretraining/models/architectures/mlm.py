"""The masked-LM objective (``mlm``) and masked-LM pseudo-perplexity.

Masking (BERT, Devlin et al. 2019): 15% of the *real* (non-padding) positions are selected; of those 80%
become the mask token, 10% a uniformly random token, 10% stay unchanged. The loss is the cross-entropy of
the original token at the selected positions only, summed; the token count is the number of selected
positions, so padding never counts and losses are token-weighted like the causal objective.

The model sees the whole sequence with an ``attention_mask`` excluding padding (bidirectional attention).
The mask token id is ``model.config.mask_token_id`` (the family builders set it: the tokenizer's mask token,
or an extra id appended to the vocabulary when the tokenizer has none).

``exp(mean masked loss)`` is *not* a perplexity of the text: the trainer reports it as
``pseudo_perplexity`` (objective attribute ``perplexity_name``). :func:`pseudo_perplexity` computes the
exact pseudo-perplexity of Salazar et al. (2020): every real token masked in turn, one forward each.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pretraining.models.objectives import PAD_ID, TokenLoss, cross_entropy_sum, register_objective

MASK_PROB = 0.15
REPLACE_MASK, REPLACE_RANDOM = 0.8, 0.1  # the remaining 0.1 keeps the original token


class MaskedLMError(ValueError):
    """The model cannot be trained with the masked-LM objective (e.g. no mask token id)."""


def _unwrap(model: nn.Module) -> Any:
    # DDP wraps the model in ``.module`` (FSDP2 keeps the class): config and embeddings live on the inner one
    return getattr(model, "module", model)


def mask_token_id(model: nn.Module) -> int:
    """The model's mask token id (``config.mask_token_id``), or an error naming the fix."""
    config = getattr(_unwrap(model), "config", None)
    mid = getattr(config, "mask_token_id", None)
    if mid is None:
        raise MaskedLMError("model.objective mlm: the model config has no mask_token_id; build mlm models "
                            "through pretraining.models.architectures (family transformer/mamba/hyena with "
                            "objective mlm), which reserve one")
    return int(mid)


def mask_tokens(tokens: torch.Tensor, pad_id: int, mask_id: int, vocab_size: int,
                generator: torch.Generator | None = None, mask_prob: float = MASK_PROB
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """BERT 80/10/10 masking of ``tokens`` (B, T). Returns ``(inputs, labels, attention_mask)``.

    ``labels`` is -100 except at selected positions; padding is never selected and is fed as id 0 (the
    attention mask hides it). At least one real token per batch is selected, so the loss is always defined.
    Random numbers come from ``generator`` (CPU or the tokens' device), so masks are reproducible on resume.
    """
    real = tokens != pad_id
    gen_device = generator.device if generator is not None else tokens.device

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(shape, generator=generator, device=gen_device).to(tokens.device)

    selected = (rand(*tokens.shape) < mask_prob) & real
    if not selected.any() and real.any():  # tiny batches: guarantee a defined loss
        scores = rand(*tokens.shape).masked_fill(~real, -1.0)
        selected.view(-1)[scores.view(-1).argmax()] = True
    action = rand(*tokens.shape)
    to_mask = selected & (action < REPLACE_MASK)
    to_random = selected & (action >= REPLACE_MASK) & (action < REPLACE_MASK + REPLACE_RANDOM)
    random_ids = (rand(*tokens.shape) * vocab_size).long().clamp_(max=vocab_size - 1)

    inputs = tokens.masked_fill(~real, 0)
    inputs = torch.where(to_mask, torch.full_like(inputs, mask_id), inputs)
    inputs = torch.where(to_random, random_ids, inputs)
    labels = tokens.masked_fill(~selected, -100)
    return inputs, labels, real.long()


@register_objective("mlm")
def masked_lm(model: nn.Module, tokens: torch.Tensor, pad_id: int = PAD_ID,
              generator: torch.Generator | None = None,
              token_loss: TokenLoss = cross_entropy_sum) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked-LM loss: (sum of cross-entropies at masked positions, number of masked positions).

    ``tokens`` is the trainer's ``[batch, sequence_length + 1]`` window; the last column only exists for
    next-token shifting, so the first ``sequence_length`` tokens are used (positions fit the model).
    """
    tokens = tokens[:, :-1]
    vocab_size = _unwrap(model).get_input_embeddings().num_embeddings
    inputs, labels, attention_mask = mask_tokens(tokens, pad_id, mask_token_id(model), vocab_size, generator)
    logits = model(input_ids=inputs, attention_mask=attention_mask).logits
    return token_loss(logits, labels), (labels != -100).sum()


masked_lm.perplexity_name = "pseudo_perplexity"  # exp(masked loss) is reported under this name


@torch.no_grad()
def pseudo_perplexity(model: nn.Module, tokens: torch.Tensor, pad_id: int = PAD_ID,
                      batch_size: int = 64) -> tuple[float, int]:
    """Exact pseudo-perplexity (Salazar et al., 2020) of ``tokens`` (B, T): each real token is masked
    alone and scored from both sides; returns ``(exp(mean -log p), number of tokens scored)``.

    Costs one forward per token (batched ``batch_size`` masked copies at a time): an evaluation metric.
    """
    mask_id = mask_token_id(model)
    total, count = 0.0, 0
    for row in tokens:
        real = row != pad_id
        positions = real.nonzero().flatten()
        base = row.masked_fill(~real, 0)
        attn = real.long()
        for start in range(0, len(positions), batch_size):
            pos = positions[start:start + batch_size]
            batch = base.repeat(len(pos), 1)
            batch[torch.arange(len(pos)), pos] = mask_id
            logits = model(input_ids=batch, attention_mask=attn.repeat(len(pos), 1)).logits
            logp = F.log_softmax(logits[torch.arange(len(pos)), pos].float(), dim=-1)
            total -= logp.gather(1, row[pos][:, None]).sum().item()
            count += len(pos)
    return (math.exp(total / count) if count else float("nan")), count
