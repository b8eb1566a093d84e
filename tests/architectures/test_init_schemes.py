"""Initialisation schemes: the standard deviation of the weights each one produces."""
from __future__ import annotations

import math

import pytest
import torch

from pretraining.models.init_schemes import INIT_SCHEMES, apply_init, init_roles

D, L, F, STD = 128, 4, 256, 0.02
TRUNC3 = math.sqrt(1 - 2 * 3 * math.exp(-4.5) / math.sqrt(2 * math.pi) / math.erf(3 / math.sqrt(2)))  # ≈ 0.9866


def _llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=512, hidden_size=D, intermediate_size=F, num_hidden_layers=L,
                                        num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=False))


def _gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=512, n_embd=D, n_inner=F, n_layer=L, n_head=4, n_positions=64))


def _expected(scheme: str, role: str, fan_in: int, layer: int) -> float:
    if scheme == "normal":
        return STD
    if scheme == "scaled_output":
        return STD / math.sqrt(2 * L) if role == "output" else STD
    if scheme == "small":
        return math.sqrt(2 / (5 * D))
    # OLMo mitchell, truncated at 3 sigma
    sigma = 1 / math.sqrt(2 * fan_in * (layer + 1)) if role == "output" else 1 / math.sqrt(fan_in)
    return sigma * TRUNC3


@pytest.mark.parametrize("scheme", [s for s in INIT_SCHEMES if s != "default"])
@pytest.mark.parametrize("build", [_llama, _gpt2], ids=["llama", "gpt2"])
def test_scheme_produces_its_std(scheme, build):
    model = build()
    apply_init(model, scheme, std=STD, num_layers=L, dimension=D)
    roles = init_roles(model)
    params = dict(model.named_parameters())
    outputs = [n for n, (role, _, _) in roles.items() if role == "output"]
    assert len(outputs) == 2 * L  # attention output + MLP down projection of every layer
    for name, (role, fan_in, layer) in roles.items():
        w = params[name + ".weight"] if name + ".weight" in params else params[name]
        assert w.std().item() == pytest.approx(_expected(scheme, role, fan_in, layer), rel=0.06), name
        assert abs(w.mean().item()) < 0.1 * _expected(scheme, role, fan_in, layer) + 1e-3
        if scheme == "mitchell":
            sigma = _expected(scheme, role, fan_in, layer) / TRUNC3
            assert w.abs().max().item() <= 3 * sigma + 1e-7
    for name, p in model.named_parameters():
        if name.endswith(".bias") and "ln" not in name:
            assert torch.all(p == 0), name


def test_default_keeps_the_family_initialisation():
    model = _llama()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    apply_init(model, "default", std=STD, num_layers=L, dimension=D)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_unknown_scheme_is_named():
    with pytest.raises(ValueError, match="model.init: unknown scheme 'xavier'"):
        apply_init(_llama(), "xavier", std=STD, num_layers=L, dimension=D)
