"""What users of HELM measure on held-out mRNA: perplexity, codon- and amino-acid-level accuracy.

Scored positions are those whose target is a codon: the next codon (``clm``) or the masked codons (``mlm``,
BERT masking from a fixed seed, so every model is scored on the same positions). Reported:

* ``codon_perplexity``: exp(mean cross-entropy of the target codon) — plain cross-entropy for every run, so
  HELM and cross-entropy runs compare on one scale (for mlm it is the masked-LM pseudo-perplexity);
* ``codon_accuracy``: the arg-max token is the target codon;
* ``amino_acid_accuracy``: the arg-max token encodes the target's amino acid (stop codons count as one class;
  ATG as methionine);
* ``synonymous_error_share``: of the codon errors, the share that still encodes the right amino acid.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from pretraining.models.helm import amino_acid_index, codon_prediction_counts
from pretraining.models.objectives import PAD_ID

COUNT_KEYS = ("n", "ce_sum", "codon_correct", "aa_correct")


@torch.no_grad()
def codon_metric_counts(model: nn.Module, batches: Iterable[torch.Tensor], objective: str, vocab: Sequence[str], *,
                        pad_id: int = PAD_ID, seed: int = 0) -> torch.Tensor:
    """Summed counts ``[n, ce_sum, codon_correct, aa_correct]`` over ``batches`` (``[B, T+1]`` token windows).

    A tensor on the model's device, so ranks can all-reduce it before :func:`codon_metrics_from_counts`.
    """
    from pretraining.models.architectures.mlm import mask_token_id, mask_tokens

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=device).manual_seed(seed)
    totals = torch.zeros(len(COUNT_KEYS), dtype=torch.float64)
    aa_index = None
    for tokens in batches:
        tokens = tokens.to(device)
        if objective == "mlm":
            window = tokens[:, :-1]
            inner: Any = getattr(model, "module", model)  # DDP keeps the model in .module
            vocab_size = inner.get_input_embeddings().num_embeddings
            inputs, labels, attention = mask_tokens(window, pad_id, mask_token_id(model), vocab_size, generator)
            logits = model(input_ids=inputs, attention_mask=attention).logits
        else:
            inputs, labels = tokens[:, :-1], tokens[:, 1:]
            logits = model(input_ids=inputs.masked_fill(inputs == pad_id, 0)).logits
            labels = labels.masked_fill(labels == pad_id, -100)
        if aa_index is None:
            aa_index = amino_acid_index(logits.size(-1), vocab).to(device)
        counts = codon_prediction_counts(logits, labels, aa_index)
        totals += torch.tensor([counts[k] for k in COUNT_KEYS], dtype=torch.float64)
    model.train(was_training)
    return totals.to(device)


def codon_metrics_from_counts(counts: torch.Tensor, prefix: str = "") -> dict[str, float]:
    """The metrics of the module docstring from (possibly all-reduced) counts."""
    n, ce, codon, aa = (float(x) for x in counts.tolist())
    if n == 0:
        return {f"{prefix}codon_positions": 0}
    errors = n - codon
    return {f"{prefix}codon_perplexity": math.exp(min(ce / n, 700)), f"{prefix}codon_accuracy": codon / n,
            f"{prefix}amino_acid_accuracy": aa / n,
            f"{prefix}synonymous_error_share": (aa - codon) / errors if errors else float("nan"),
            f"{prefix}codon_positions": int(n)}


def encode_sequences(sequences: Sequence[str], tokenizer: str, length: int, pad_id: int = PAD_ID) -> torch.Tensor:
    """Token windows ``[n, length + 1]``: each sequence's codon tokens then the end-of-document token, padded.

    Sequences longer than the window are cut (their end-of-document token is then dropped).
    """
    from tokenization.kmer import build_kmer_tokenizer

    tok = build_kmer_tokenizer(tokenizer)
    rows = torch.full((len(sequences), length + 1), pad_id, dtype=torch.long)
    for i, seq in enumerate(sequences):
        ids = tok(seq, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        ids = ids[:length + 1]
        rows[i, :len(ids)] = torch.tensor(ids)
    return rows
