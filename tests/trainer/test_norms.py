"""Weight/gradient/activation norms for the metrics log, and `njsl runs plot`."""
from __future__ import annotations

import json

import pytest
import torch

from pretraining.train.norms import ActivationRMS, grad_norms, param_groups, weight_norms


def _model():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                                        num_attention_heads=2, tie_word_embeddings=False))


def test_weight_and_grad_norms_match_direct_computation():
    model = _model()
    blocks = list(model.model.layers)
    groups = param_groups(model, blocks)
    assert list(groups) == ["embedding", "layer_0", "layer_1", "layer_2", "head", "other"]
    assert sum(len(v) for v in groups.values()) == len(list(model.parameters()))
    w = weight_norms(model, blocks)
    everything = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert w["weight_norm/global"] == pytest.approx(everything.norm().item(), rel=1e-5)
    layer1 = torch.cat([p.detach().flatten() for p in blocks[1].parameters()])
    assert w["weight_norm/layer_1"] == pytest.approx(layer1.norm().item(), rel=1e-5)
    assert w["weight_norm/head"] == pytest.approx(model.lm_head.weight.norm().item(), rel=1e-5)

    ids = torch.randint(0, 50, (2, 8))
    model(input_ids=ids, labels=ids).loss.backward()
    g = grad_norms(model, blocks)
    total = torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf"))
    assert g["grad_norm/global"] == pytest.approx(total.item(), rel=1e-5)
    assert g["grad_norm/embedding"] == pytest.approx(model.model.embed_tokens.weight.grad.norm().item(), rel=1e-5)


def test_activation_rms_hooks_are_exact_and_removed():
    model = _model()
    blocks = list(model.model.layers)
    a, b = torch.randint(0, 50, (2, 8)), torch.randint(0, 50, (3, 8))
    with torch.no_grad(), ActivationRMS(blocks) as acts:
        ha = model(input_ids=a, output_hidden_states=True).hidden_states
        hb = model(input_ids=b, output_hidden_states=True).hidden_states
    # nothing of ours left between logging steps (transformers installs its own output-capturing hooks)
    assert not any("ActivationRMS" in h.__qualname__ for blk in blocks for h in blk._forward_hooks.values())
    got = acts.result()
    for i in range(2):  # the last hidden state is after the final norm in Llama: compare the inner layers
        both = torch.cat([ha[i + 1].flatten(), hb[i + 1].flatten()])
        assert got[f"act_rms/layer_{i}"] == pytest.approx(both.pow(2).mean().sqrt().item(), rel=1e-5)
    assert set(got) == {f"act_rms/layer_{i}" for i in range(3)}
    with torch.no_grad():
        model(input_ids=a)
    assert acts.result() == got  # forwards after the context are not recorded


def _metrics(run_dir, norms=True):
    run_dir.mkdir()
    lines = []
    for step in range(1, 11):
        lines.append({"kind": "train", "step": step, "loss": 5 - 0.3 * step, "lr": 1e-3 * step / 10,
                      "grad_norm": 1.0 / step})
        if norms and step % 5 == 0:
            lines.append({"kind": "norms", "step": step, "weight_norm/global": 10 + step, "weight_norm/layer_0": 3,
                          "weight_norm/layer_1": 4, "weight_norm/embedding": 5, "grad_norm/layer_0": 0.1,
                          "act_rms/layer_0": 1.0, "act_rms/layer_1": 1.5})
    lines.append({"kind": "eval", "step": 10, "val_loss": 2.5})
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"kind": "tr',
                                           encoding="utf-8")  # a line cut by kill -9 at the end


@pytest.mark.parametrize("norms", [True, False])
def test_runs_plot_writes_a_png(tmp_path, norms):
    from njsl.cli import main

    run = tmp_path / "run"
    _metrics(run, norms)
    assert main(["runs", "plot", str(run)]) == 0
    assert (run / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = tmp_path / "fig.png"
    assert main(["runs", "plot", str(run), "--output", str(out)]) == 0 and out.is_file()


def test_runs_plot_bad_input(tmp_path, capsys):
    from njsl.cli import main

    assert main(["runs", "plot", str(tmp_path / "missing")]) == 2
    assert "not a run directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["runs", "plot", str(tmp_path / "empty")]) == 2
    assert "no metrics log" in capsys.readouterr().err
    assert list((tmp_path / "empty").iterdir()) == []  # nothing half-written
