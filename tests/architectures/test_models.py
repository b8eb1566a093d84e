"""Hyena and (Bi)Mamba models: shapes, causality, bidirectionality, padding invariance, save/load."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from pretraining.models.architectures.hyena import (HyenaConfig, HyenaForCausalLM, HyenaForMaskedLM, ImplicitFilter,
                                             fft_long_conv)
from pretraining.models.architectures.mamba import BiMambaConfig, BiMambaForMaskedLM

V = 20


def hyena(bidirectional: bool, **kw):
    torch.manual_seed(0)
    cfg = HyenaConfig(vocab_size=V, d_model=32, n_layer=2, d_intermediate=64, max_position_embeddings=64,
                      filter_order=16, bidirectional=bidirectional, **kw)
    return (HyenaForMaskedLM if bidirectional else HyenaForCausalLM)(cfg).eval()


def bimamba():
    torch.manual_seed(0)
    cfg = BiMambaConfig(vocab_size=V, hidden_size=32, num_hidden_layers=2, state_size=8, use_cache=False,
                        pad_token_id=None, bos_token_id=None, eos_token_id=None)
    return BiMambaForMaskedLM(cfg).eval()


def causal_mamba():
    from transformers import MambaConfig, MambaForCausalLM

    torch.manual_seed(0)
    return MambaForCausalLM(MambaConfig(vocab_size=V, hidden_size=32, num_hidden_layers=2, state_size=8,
                                        use_cache=False)).eval()


def test_fft_long_conv_equals_direct_causal_convolution():
    torch.manual_seed(0)
    u, h = torch.randn(2, 3, 17), torch.randn(3, 17)
    direct = torch.zeros_like(u)
    for t in range(17):
        for s in range(t + 1):
            direct[..., t] += h[:, s] * u[..., t - s]
    assert torch.allclose(fft_long_conv(u, h), direct, atol=1e-5)


def test_implicit_filter_shape_and_length_limit():
    f = ImplicitFilter(channels=8, n_filters=2, emb_dim=5, width=16, max_len=32)
    assert f(20).shape == (2, 8, 20)
    with pytest.raises(ValueError, match="max_position_embeddings"):
        f(33)


@pytest.mark.parametrize("make", [lambda: hyena(False), lambda: hyena(True), bimamba, causal_mamba],
                         ids=["hyena-clm", "hyena-mlm", "bimamba-mlm", "mamba-clm"])
def test_shapes(make):
    model = make()
    x = torch.randint(0, V, (3, 24))
    assert model(input_ids=x).logits.shape == (3, 24, V)


@pytest.mark.parametrize("make", [lambda: hyena(False), causal_mamba], ids=["hyena", "mamba"])
def test_causal_models_never_look_ahead(make):
    """Changing tokens from position p on leaves every output before p unchanged (and changes later ones)."""
    model = make()
    torch.manual_seed(1)
    x = torch.randint(0, V, (2, 40))
    ref = model(input_ids=x).logits
    for p in (1, 13, 39):
        y = x.clone()
        y[:, p:] = (y[:, p:] + 1 + torch.randint(0, V - 1, y[:, p:].shape)) % V  # every later token differs
        out = model(input_ids=y).logits
        assert torch.allclose(out[:, :p], ref[:, :p], atol=1e-5), f"position < {p} saw a later token"
        assert not torch.allclose(out[:, p:], ref[:, p:], atol=1e-3)


@pytest.mark.parametrize("make", [lambda: hyena(True), bimamba], ids=["hyena", "bimamba"])
def test_bidirectional_models_see_both_sides(make):
    model = make()
    x = torch.randint(0, V, (2, 30))
    y = x.clone()
    y[:, 20:] = (y[:, 20:] + 1) % V
    assert not torch.allclose(model(input_ids=x).logits[:, :20], model(input_ids=y).logits[:, :20], atol=1e-4)


@pytest.mark.parametrize("make", [lambda: hyena(True), bimamba, lambda: hyena(False)],
                         ids=["hyena-mlm", "bimamba-mlm", "hyena-clm"])
def test_padding_never_reaches_real_positions(make):
    """Right padding (any ids, masked by attention_mask) leaves the real positions' outputs unchanged."""
    model = make()
    x = torch.randint(0, V, (2, 16))
    ref = model(input_ids=x, attention_mask=torch.ones_like(x)).logits
    padded = torch.cat([x, torch.randint(0, V, (2, 7))], dim=1)
    mask = torch.cat([torch.ones(2, 16), torch.zeros(2, 7)], dim=1).long()
    out = model(input_ids=padded, attention_mask=mask).logits
    assert torch.allclose(out[:, :16], ref, atol=1e-5)


def test_tied_embeddings_and_save_load(tmp_path):
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    model = hyena(False)
    assert model.lm_head.weight is model.backbone.embeddings.weight
    model.save_pretrained(tmp_path / "h")
    assert (tmp_path / "h" / "hyena.py").is_file()  # the model code travels with the weights
    assert json.loads((tmp_path / "h" / "config.json").read_text())["auto_map"]["AutoModelForCausalLM"] \
        == "hyena.HyenaForCausalLM"
    x = torch.randint(0, V, (1, 12))
    back = AutoModelForCausalLM.from_pretrained(tmp_path / "h").eval()
    assert torch.allclose(back(input_ids=x).logits, model(input_ids=x).logits)
    bi = bimamba()
    bi.save_pretrained(tmp_path / "m")
    back = AutoModelForMaskedLM.from_pretrained(tmp_path / "m").eval()
    assert torch.allclose(back(input_ids=x).logits, bi(input_ids=x).logits, atol=1e-6)


def test_exported_hyena_loads_in_a_fresh_process_with_remote_code(tmp_path):
    """A process that never imported our package loads the folder with trust_remote_code (as lm-eval does)."""
    model = hyena(False)
    model.save_pretrained(tmp_path / "h")
    x = torch.randint(0, V, (1, 10))
    expected = model(input_ids=x).logits[0, -1].tolist()
    code = ("import sys, json, torch; from transformers import AutoModelForCausalLM;"
            f"m = AutoModelForCausalLM.from_pretrained({str(tmp_path / 'h')!r}, trust_remote_code=True).eval();"
            f"print(json.dumps(m(input_ids=torch.tensor({x.tolist()})).logits[0, -1].tolist()));"
            "assert 'pretraining' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1",
                              "HF_HOME": str(tmp_path / "hf_home")}, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert torch.allclose(torch.tensor(got), torch.tensor(expected), atol=1e-5)


def test_hyena_generates():
    model = hyena(False)
    out = model.generate(torch.randint(0, V, (1, 4)), max_new_tokens=3, do_sample=False)
    assert out.shape == (1, 7)
