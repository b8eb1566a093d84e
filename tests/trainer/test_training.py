"""Training on real text (stdlib sources) on CPU: loss falls, export round-trips, NaN stops, CLI errors."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pretraining.models.run_config import load_run_config
from pretraining.models.objectives import OBJECTIVES, causal_lm, register_objective
from pretraining.train import TrainingDiverged, train
from pretraining.train.metrics import read_metrics
from pretraining.train.train_cli import main as train_main


def _cfg(tiny_config, tiny_data, overrides, *extra):
    return load_run_config(tiny_config, overrides + [f"data.path={tiny_data['prefix']}",
                                                          f"data.tokenizer={tiny_data['tokenizer']}", *extra])


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, tiny_data, tiny_overrides):
    """40 steps of the tiny model, evaluated every 20 steps."""
    cfg = _cfg(Path(__file__).resolve().parents[2] / "pretraining/configs/models/tiny_cpu.yaml", tiny_data,
               tiny_overrides,
               "training.max_steps=40", "training.eval_every=20", "training.checkpoint_every=20")
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    info = train(cfg, run_dir, progress=False)
    return run_dir, info


def test_loss_falls_on_real_text(trained_run):
    run_dir, info = trained_run
    losses = [r["loss"] for r in read_metrics(run_dir / "metrics.jsonl")]
    assert len(losses) == 40
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.5, losses
    evals = read_metrics(run_dir / "metrics.jsonl", "eval")
    assert [e["step"] for e in evals] == [20, 40] and evals[1]["val_loss"] < evals[0]["val_loss"]
    assert evals[1]["val_perplexity"] == pytest.approx(torch.tensor(evals[1]["val_loss"]).exp().item(), rel=1e-5)
    test, = read_metrics(run_dir / "metrics.jsonl", "test")
    assert test["step"] == 40 and test["test_tokens"] > 0 and test["test_perplexity"] < 512
    rec = read_metrics(run_dir / "metrics.jsonl")[-1]
    for key in ("loss", "lr", "grad_norm", "tokens_per_s", "mfu", "memory_gib"):
        assert key in rec
    # the LR logged is the one the step used: step 1 = the first warmup step, step 40 = the last cosine step
    from pretraining.train.schedule import lr_at

    kw = dict(lr=3e-3, min_lr=3e-4, warmup_steps=2, total_steps=40)
    assert read_metrics(run_dir / "metrics.jsonl")[0]["lr"] == lr_at(0, **kw) == pytest.approx(1.5e-3)
    assert rec["lr"] == lr_at(39, **kw) and 3e-4 < rec["lr"] < 3.1e-4
    from pretraining.models.counts import flops_per_token  # cumulative training FLOPs, 6N + attention convention

    assert rec["flops"] == flops_per_token(load_run_config(run_dir / "config.yaml").model) * 40 * 8 * 64


def test_run_directory_layout(trained_run):
    run_dir, info = trained_run
    assert (run_dir / "config.yaml").is_file() and (run_dir / "metrics.jsonl").is_file()
    assert (run_dir / "checkpoints" / "latest").resolve() == (run_dir / "checkpoints" / "step_40").resolve()
    saved = json.loads((run_dir / "run_info.json").read_text())
    assert saved["finished"] is True and saved["steps_done"] == 40 and saved["tokens_seen"] == 40 * 8 * 64
    assert saved["mix"].endswith("stdlib_text_document") and saved["model_id"] == "tiny"
    resolved = load_run_config(run_dir / "config.yaml")
    assert resolved.model.vocab_size == 512 and resolved.model.dimension == 64


def test_export_round_trip_and_perplexity(trained_run, tiny_data, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from pretraining.evaluate.export_cli import main as export_main
    from pretraining.models.registry import build_model
    from pretraining.evaluate.perplexity import perplexity
    from pretraining.train.checkpoint import load_model_weights

    run_dir, _ = trained_run
    assert export_main([str(run_dir), "--output", str(tmp_path / "hf")]) == 0
    hf = AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    tok = AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert tok.eos_token_id == hf.config.eos_token_id
    cfg = load_run_config(run_dir / "config.yaml")
    ref = build_model(cfg.model).eval()
    load_model_weights(run_dir / "checkpoints" / "step_40", ref)
    ids = torch.tensor([tok("def add(a, b):\n    return a + b")["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(hf(input_ids=ids).logits, ref(input_ids=ids).logits, atol=1e-5)
    # held-out perplexity on jsonl and on the .bin/.idx: same definition (token-weighted, no padding)
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"text": t}) + "\n" for t in tiny_data["docs"][:6]))
    r1 = perplexity(hf, tok, str(docs), seq_len=64, batch_size=4, progress=False)
    r2 = perplexity(hf, tok, str(docs), seq_len=64, batch_size=1, progress=False)
    assert r1["tokens"] == r2["tokens"] and r1["perplexity"] == pytest.approx(r2["perplexity"], rel=1e-4)
    r3 = perplexity(hf, tok, tiny_data["prefix"], seq_len=64, limit=6, progress=False)
    assert r3["tokens"] == r1["tokens"] and r3["perplexity"] == pytest.approx(r1["perplexity"], rel=1e-3)
    assert r1["perplexity"] < 400  # far below the uniform 512 of an untrained model


def test_lm_eval_reads_export(trained_run, tmp_path):
    pytest.importorskip("lm_eval")
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from pretraining.evaluate.export import export_checkpoint

    hf = export_checkpoint(trained_run[0], tmp_path / "hf")
    lm = HFLM(pretrained=str(hf), batch_size=1, device="cpu")
    req = Instance("loglikelihood", {}, ("def f(x):\n    return", " x"), 0)
    (ll, _), = lm.loglikelihood([req])
    assert ll < 0


def test_clm_objective_ignores_padding():
    torch.manual_seed(0)
    from pretraining.config import ModelConfig
    from pretraining.models.registry import build_model

    model = build_model(ModelConfig(dimension=32, num_layers=1, num_heads=2, ffn_hidden_size=64, vocab_size=50))
    a = torch.randint(0, 50, (1, 9))
    padded = torch.cat([a, torch.full((1, 5), -1)], dim=1)
    ls1, n1 = causal_lm(model, a)
    ls2, n2 = causal_lm(model, padded)
    assert int(n1) == int(n2) == 8 and torch.allclose(ls1, ls2, atol=1e-5)


def test_nan_loss_stops_naming_step_and_checkpoint(tiny_config, tiny_data, tiny_overrides, tmp_path):
    calls = {"n": 0}

    @register_objective("nan_after_3_steps")
    def _nan(model, tokens, pad_id, generator):
        calls["n"] += 1
        ls, n = causal_lm(model, tokens, pad_id, generator)
        return (ls * float("nan") if calls["n"] > 6 else ls), n  # 2 micro-batches per step

    try:
        cfg = _cfg(tiny_config, tiny_data, tiny_overrides, "model.objective=nan_after_3_steps", "training.max_steps=6",
                   "training.checkpoint_every=2", "training.eval_every=0")
        with pytest.raises(TrainingDiverged) as err:
            train(cfg, tmp_path / "run", progress=False)
    finally:
        OBJECTIVES.pop("nan_after_3_steps")
    assert "step 4" in str(err.value) and "step_2" in str(err.value)
    info = json.loads((tmp_path / "run" / "run_info.json").read_text())
    assert info["finished"] is False and info["steps_done"] == 2


def test_cli_errors_leave_nothing(tiny_config, tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--config", str(tiny_config), "--output", str(out), "--data", tiny_data["prefix"],
            "--tokenizer", tiny_data["tokenizer"], "--no_progress"]
    assert train_main(args + ["--set", "model.num_heads=3"]) == 2
    assert "error: model.num_heads" in capsys.readouterr().err
    assert train_main(args[:5] + [str(tmp_path / "missing"), *args[6:]]) == 2
    assert "error: data:" in capsys.readouterr().err
    assert train_main(args + ["--set", "model.vocab_size=100", "--max_steps", "1"]) == 2
    assert "error: model.vocab_size" in capsys.readouterr().err
    assert train_main(["--config", str(tmp_path / "nope.yaml"), "--output", str(out)]) == 2
    assert "not found" in capsys.readouterr().err
    assert not out.exists()


def test_cli_refuses_other_model_in_run_dir(trained_run, tiny_config, tiny_data, tiny_overrides, capsys):
    run_dir, _ = trained_run
    args = ["--config", str(tiny_config), "--output", str(run_dir), "--data", tiny_data["prefix"],
            "--tokenizer", tiny_data["tokenizer"], "--no_progress"] + sum((["--set", o] for o in tiny_overrides), [])
    before = (run_dir / "config.yaml").read_text()
    assert train_main(args + ["--max_steps", "40", "--set", "model.num_layers=3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: resume:") and "model.num_layers: 2 -> 3" in err
    assert (run_dir / "config.yaml").read_text() == before


def test_trains_on_a_mix_file(tiny_config, tiny_data, tiny_overrides, tmp_path):
    from pretraining.data.batches import load_data_mix

    mix = load_data_mix(tiny_data["mix"])
    assert [round(d.weight, 2) for d in mix.domains] == [0.7, 0.3]
    cfg = load_run_config(tiny_config, tiny_overrides + ["training.max_steps=3", "training.eval_every=3",
                                                         f"data.path={tiny_data['mix']}",
                                                         f"data.tokenizer={tiny_data['tokenizer']}"])
    info = train(cfg, tmp_path / "mixrun", progress=False)
    assert info["finished"] and info["mix"] == tiny_data["mix"]
    assert len(read_metrics(tmp_path / "mixrun" / "metrics.jsonl", "eval")) == 1


def test_export_and_perplexity_errors(tiny_config, tmp_path, capsys):
    from pretraining.evaluate.export_cli import main as export_main
    from pretraining.evaluate.perplexity_cli import main as ppl_main

    assert export_main([str(tmp_path / "nowhere")]) == 2
    assert "not a trainer run directory" in capsys.readouterr().err
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(tiny_config.read_text())
    assert export_main([str(run)]) == 2
    assert "no checkpoint to export" in capsys.readouterr().err
    assert not (run / "hf").exists()
    assert ppl_main([str(tmp_path / "missing_model"), str(tmp_path / "x.jsonl")]) == 2
    assert "error:" in capsys.readouterr().err
