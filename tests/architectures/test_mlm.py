"""The masked-LM objective: masking statistics, padding never counted, determinism, pseudo-perplexity;
and the causal objective on the new families with padded batches."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pretraining.models.architectures import build
from pretraining.models.architectures.mlm import MaskedLMError, mask_tokens, masked_lm, pseudo_perplexity
from pretraining.config import ModelConfig
from pretraining.models.objectives import OBJECTIVES, PAD_ID, causal_lm

V = 30


def tiny_cfg(family: str, objective: str) -> ModelConfig:
    extra = {"filter_order": 16} if family == "hyena" else {}
    return ModelConfig(dimension=32, num_layers=2, num_heads=1 if family != "transformer" else 2,
                       ffn_hidden_size=64, sequence_length=32, vocab_size=V, family=family, objective=objective,
                       activation="gelu", layer_norm_type="layernorm", positional_embeddings="learned",
                       biases="all", weight_tying=True, extra=extra)


def tiny_model(family: str, objective: str):
    torch.manual_seed(0)
    return build(tiny_cfg(family, objective)).eval()


def padded_batch(lengths=(33, 20, 9), total=33) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    rows = [torch.cat([torch.randint(0, V, (n,), generator=g), torch.full((total - n,), PAD_ID)]) for n in lengths]
    return torch.stack(rows)


def test_mlm_is_registered():
    assert OBJECTIVES["mlm"] is masked_lm
    assert masked_lm.perplexity_name == "pseudo_perplexity"


def test_masking_statistics_and_padding():
    tokens = torch.randint(5, 1000, (64, 512))
    tokens[:, 400:] = PAD_ID
    g = torch.Generator().manual_seed(0)
    inputs, labels, attn = mask_tokens(tokens, PAD_ID, mask_id=1, vocab_size=1000, generator=g)
    selected = labels != -100
    real = tokens != PAD_ID
    assert not (selected & ~real).any()  # padding is never a target
    assert (attn.bool() == real).all() and (inputs[~real] == 0).all()  # pads hidden, fed as a valid id
    rate = selected.sum().item() / real.sum().item()
    assert abs(rate - 0.15) < 0.01
    masked = (inputs == 1) & selected
    unchanged = (inputs == tokens) & selected
    assert abs(masked.sum().item() / selected.sum().item() - 0.8) < 0.02
    assert abs(unchanged.sum().item() / selected.sum().item() - 0.1) < 0.02  # (+ rare random == original)
    assert (labels[selected] == tokens[selected]).all()


def test_masking_is_reproducible_from_the_generator():
    tokens = torch.randint(0, V, (4, 50))
    a = mask_tokens(tokens, PAD_ID, 1, V, torch.Generator().manual_seed(7))
    b = mask_tokens(tokens, PAD_ID, 1, V, torch.Generator().manual_seed(7))
    c = mask_tokens(tokens, PAD_ID, 1, V, torch.Generator().manual_seed(8))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=False))
    assert not torch.equal(a[1], c[1])


def test_at_least_one_target_in_tiny_batches():
    tokens = torch.tensor([[4, 5, PAD_ID, PAD_ID]])
    for seed in range(20):
        _, labels, _ = mask_tokens(tokens, PAD_ID, 1, V, torch.Generator().manual_seed(seed))
        n = (labels != -100).sum().item()
        assert n >= 1 and (labels[0, 2:] == -100).all()


@pytest.mark.parametrize("family", ["hyena", "mamba", "transformer"])
def test_mlm_loss_counts_only_masked_real_tokens_and_ignores_padding(family):
    """Loss sum and count from a padded batch equal those recomputed without any padding columns."""
    model = tiny_model(family, "mlm")
    tokens = padded_batch()
    loss_sum, n = masked_lm(model, tokens, PAD_ID, torch.Generator().manual_seed(0))
    # Same draws, recomputed row by row on the unpadded sequences (no padding anywhere).
    inputs, labels, attn = mask_tokens(tokens[:, :-1], PAD_ID, model.config.mask_token_id,
                                       model.get_input_embeddings().num_embeddings, torch.Generator().manual_seed(0))
    assert n.item() == (labels != -100).sum().item() > 0
    total = 0.0
    for row in range(tokens.shape[0]):
        keep = attn[row].bool()
        logits = model(input_ids=inputs[row][keep][None]).logits[0]
        total += F.cross_entropy(logits, labels[row][keep], ignore_index=-100, reduction="sum").item()
    assert math.isclose(loss_sum.item(), total, rel_tol=1e-4)


@pytest.mark.parametrize("family", ["hyena", "mamba"])
def test_causal_loss_ignores_padding(family):
    """clm on a right-padded batch = the per-row sums over the real tokens only."""
    model = tiny_model(family, "clm")
    tokens = padded_batch()
    loss_sum, n = causal_lm(model, tokens, PAD_ID)
    total, count = 0.0, 0
    for row in tokens:
        real = row[row != PAD_ID][None]
        ls, c = causal_lm(model, real, PAD_ID)
        total, count = total + ls.item(), count + c.item()
    assert n.item() == count == sum(n - 1 for n in (33, 20, 9))
    assert math.isclose(loss_sum.item(), total, rel_tol=1e-4)


def test_pseudo_perplexity_scores_each_real_token_once():
    model = tiny_model("hyena", "mlm")
    tokens = padded_batch(lengths=(12, 5), total=12)
    ppl, n = pseudo_perplexity(model, tokens, PAD_ID, batch_size=4)
    assert n == 17 and math.isfinite(ppl) and ppl > 1


def test_mlm_needs_a_mask_token():
    model = tiny_model("hyena", "clm")  # a causal model has no mask id
    with pytest.raises(MaskedLMError, match="mask_token_id"):
        masked_lm(model, padded_batch(), PAD_ID)


def test_trainer_reports_masked_lm_perplexity_as_pseudo_perplexity():
    """The trainer's validation names exp(masked loss) ``val_pseudo_perplexity`` (never a plain perplexity)."""
    import contextlib

    from pretraining.train.distributed import DistInfo
    from pretraining.train.loop import evaluate

    tokens = padded_batch()
    # a megatron-like dataset: sample i -> tokens[i, :-1] / labels tokens[i, 1:] with loss_mask 0 on padding
    dataset = [{"tokens": row[:-1].clamp(min=0), "labels": row[1:].clamp(min=0),
                "loss_mask": (row[1:] != PAD_ID).float()} for row in tokens]
    out = evaluate(tiny_model("hyena", "mlm").train(), dataset, masked_lm, samples=3, micro_batch=2,
                   info=DistInfo(0, 1, 0, torch.device("cpu")), amp=contextlib.nullcontext(), seed=0)
    assert "val_perplexity" not in out
    assert out["val_pseudo_perplexity"] == pytest.approx(math.exp(out["val_loss"]))
    assert 0 < out["val_tokens"] <= sum(n for n in (33, 20, 9))


def test_mlm_objective_works_through_a_ddp_style_wrapper():
    """DDP hides config/embeddings behind ``.module``; the objective reads them from the wrapped model."""

    class Wrapper(torch.nn.Module):  # what DistributedDataParallel looks like to the objective
        def __init__(self, module):
            super().__init__()
            self.module = module

        def forward(self, **kw):
            return self.module(**kw)

    model = tiny_model("hyena", "mlm")
    direct = masked_lm(model, padded_batch(), PAD_ID, torch.Generator().manual_seed(0))
    wrapped = masked_lm(Wrapper(model), padded_batch(), PAD_ID, torch.Generator().manual_seed(0))
    assert torch.equal(direct[1], wrapped[1]) and torch.allclose(direct[0], wrapped[0])
