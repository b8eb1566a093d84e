"""HELM, mixture of experts, initialisation schemes and norm records through the real trainer.

A tiny run per feature on synthetic coding sequences (3-mer RNA tokens): the loss falls, a resumed run repeats
the interrupted run's losses exactly, the export reloads with identical logits, and the store row carries the
new fields.
"""
from __future__ import annotations

import json
import math
import shutil

import pytest
import torch

from pretraining.evaluate.register_run import collect_run, register
from pretraining.models.json_layout import run_config_from_layout

STEPS = 10


@pytest.fixture(scope="module")
def codon_data(tmp_path_factory) -> dict:
    from pretraining.data.preprocess import preprocess
    from pretraining.data.synthetic_mrna import synthetic_coding_sequences
    from tokenization.kmer import save_kmer_tokenizer

    root = tmp_path_factory.mktemp("codon_data")
    tok_dir = save_kmer_tokenizer("3mer-rna", root / "tokenizer_3mer_rna")
    docs = synthetic_coding_sequences(240, seed=3, rna=True, min_codons=20, max_codons=40)
    src = root / "docs.jsonl"
    src.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs), encoding="utf-8")
    result = preprocess(src, root / "bin", str(tok_dir), workers=1, progress=False)
    return {"prefix": str(result.prefix), "tokenizer": str(tok_dir), "docs": docs}


def layout(data: dict, *, mode: str = "clm", model: str = "gpt2", helm: bool = False, extra: dict | None = None,
           norms_every: int = 0) -> dict:
    raw = {"name": "tiny", "model_type": "transformer", "mode": mode, "tokenizer": data["tokenizer"],
           "model_config": {"model": model, "d_model": 32, "n_layer": 2, "n_head": 2, "max_position_embeddings": 64,
                            **(extra or {})},
           "training": {"global_batch_size": 8, "micro_batch_size": 4, "warmup_steps": 2, "lr": 3e-3,
                        "min_lr": 3e-4, "max_steps": STEPS, "eval_every": 5, "eval_samples": 8,
                        "checkpoint_every": 5, "keep_last": 3, "split": "90,5,5", "norms_every": norms_every,
                        "data_workers": 0},
           "data": {"path": data["prefix"]}}
    if helm:
        raw.update(helm=True, alpha=0.4)
    return raw


def records(run_dir, kind: str) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r.get("kind") == kind]


def train_and_resume(raw: dict, run_dir) -> dict[int, float]:
    """Train STEPS steps, check the loss falls; drop the final checkpoint, rerun, check identical losses."""
    from pretraining.train import train
    from pretraining.train.checkpoint import latest_checkpoint

    info = train(run_config_from_layout(raw), run_dir, progress=False)
    assert info["finished"] and info["steps_done"] == STEPS
    first = {r["step"]: r["loss"] for r in records(run_dir, "train")}
    head, tail = [first[s] for s in (1, 2, 3)], [first[s] for s in (STEPS - 2, STEPS - 1, STEPS)]
    assert sum(tail) / 3 < sum(head) / 3 - 0.05, first
    ckpt_dir = run_dir / "checkpoints"
    shutil.rmtree(ckpt_dir / f"step_{STEPS}")
    (ckpt_dir / "latest").unlink()
    assert latest_checkpoint(ckpt_dir).name == "step_5"
    train(run_config_from_layout(raw), run_dir, progress=False)
    resumed = {r["step"]: r["loss"] for r in records(run_dir, "train")}
    assert all(resumed[s] == first[s] for s in range(6, STEPS + 1)), (first, resumed)  # bit-identical
    return first


def export_matches(run_dir, cfg, docs):
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    from pretraining.evaluate.export import export_checkpoint
    from pretraining.models.registry import build_model
    from pretraining.train.checkpoint import latest_checkpoint, load_model_weights

    hf_dir = export_checkpoint(run_dir)
    model = build_model(cfg.model)
    load_model_weights(latest_checkpoint(run_dir / "checkpoints"), model)
    auto = AutoModelForMaskedLM if cfg.model.objective == "mlm" else AutoModelForCausalLM
    back = auto.from_pretrained(hf_dir).eval()
    ids = torch.tensor([AutoTokenizer.from_pretrained(hf_dir)(docs[0][:90], add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        assert torch.equal(back(input_ids=ids).logits, model.eval()(input_ids=ids).logits)
    return hf_dir


def store_row(run_dir) -> dict:
    from model_metadata_db import AnalysisStore

    with AnalysisStore.create(":memory:") as store:
        register(store, collect_run(run_dir, model_id=run_dir.name))
        return store.annotations().set_index("id").loc[run_dir.name].to_dict()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["clm", "mlm"])
def test_helm_run(mode, codon_data, tmp_path):
    raw = layout(codon_data, mode=mode, helm=True)
    run_dir = tmp_path / f"helm_{mode}"
    train_and_resume(raw, run_dir)
    cfg = run_config_from_layout(raw)
    assert cfg.model.helm and cfg.model.helm_alpha == 0.4
    saved = (run_dir / "config.yaml").read_text()
    assert "helm: true" in saved and "helm_alpha: 0.4" in saved
    assert json.loads((run_dir / "run_info.json").read_text())["helm"] is True
    evals = records(run_dir, "eval")
    assert evals and all(0 <= e["val_amino_acid_accuracy"] <= 1 and e["val_codon_accuracy"] <= e[
        "val_amino_acid_accuracy"] and e["val_codon_perplexity"] > 1 for e in evals)
    assert "val_exp_helm_loss" in evals[0]  # exp(HELM loss) is not called a perplexity
    export_matches(run_dir, cfg, codon_data["docs"])
    row = store_row(run_dir)
    assert row["training_loss"] == "helm" and row["helm_alpha"] == pytest.approx(0.4)
    assert row["training_objective"] == mode


@pytest.mark.slow
def test_moe_run_with_mitchell_init_and_norms(codon_data, tmp_path):
    from njsl.cli import main

    raw = layout(codon_data, model="llama", extra={"num_experts": 4, "moe_top_k": 2, "init": "mitchell"},
                 norms_every=5)
    run_dir = tmp_path / "moe"
    train_and_resume(raw, run_dir)
    cfg = run_config_from_layout(raw)
    info = json.loads((run_dir / "run_info.json").read_text())
    d, f, layers = 32, 128, 2
    assert info["params"] - info["active_params"] == layers * (4 - 2) * 3 * d * f
    hf_dir = export_matches(run_dir, cfg, codon_data["docs"])
    pytest.importorskip("lm_eval")
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    lm = HFLM(pretrained=str(hf_dir), batch_size=1, device="cpu")  # lm-eval reads the Mixtral export
    (ll, _), = lm.loglikelihood([Instance("loglikelihood", {}, ("AUGGCUGCA", "GCC"), 0)])
    assert ll < 0
    row = store_row(run_dir)
    assert row["num_experts"] == 4 and row["moe_top_k"] == 2
    assert row["active_params"] == info["active_params"] and row["total_params"] == info["params"]
    assert row["training_loss"] == "cross_entropy"
    assert row["helm_alpha"] is None or math.isnan(row["helm_alpha"])  # NULL reads back as None or NaN

    norms = records(run_dir, "norms")
    assert [r["step"] for r in norms] == [5, 10]
    trains = {r["step"]: r for r in records(run_dir, "train")}
    for r in norms:
        assert {"weight_norm/global", "weight_norm/layer_0", "weight_norm/layer_1", "weight_norm/embedding",
                "grad_norm/layer_0", "act_rms/layer_0", "act_rms/layer_1"} <= set(r)
        assert r["grad_norm/global"] == pytest.approx(trains[r["step"]]["grad_norm"], rel=1e-3)  # before clipping
    assert main(["runs", "plot", str(run_dir)]) == 0 and (run_dir / "metrics.png").stat().st_size > 0


def test_helm_needs_a_codon_tokenizer(codon_data, tmp_path):
    from pretraining.models.helm import HelmError
    from pretraining.train.train_cli import main

    raw = layout(codon_data, helm=True)
    raw["tokenizer"] = "6mer"
    path = tmp_path / "helm_6mer.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(HelmError, match="model.helm: true needs a codon tokenizer"):
        run_config_from_layout(raw)
    assert main(["--config", str(path), "--output", str(tmp_path / "run")]) == 2
    assert not (tmp_path / "run").exists()  # nothing written


def test_moe_and_alpha_config_errors(codon_data):
    from pretraining.config import ConfigError

    with pytest.raises(ConfigError, match="moe_top_k: 3 is more than num_experts 2"):
        run_config_from_layout(layout(codon_data, model="llama", extra={"num_experts": 2, "moe_top_k": 3}))
    with pytest.raises(ConfigError, match="mixtral: num_experts > 1.*needs layer_norm_type rmsnorm"):
        run_config_from_layout(layout(codon_data, model="gpt2", extra={"num_experts": 4}))
    with pytest.raises(ConfigError, match="model.num_experts: mixture of experts is implemented for the Llama"):
        run_config_from_layout(layout(codon_data, mode="mlm", extra={"num_experts": 4}))
    raw = layout(codon_data)
    raw["alpha"] = 0.3
    with pytest.raises(ConfigError, match="alpha: HELM's alpha is given but helm is false"):
        run_config_from_layout(raw)
    with pytest.raises(ConfigError, match="init: unknown value 'xavier'"):
        run_config_from_layout(layout(codon_data, extra={"init": "xavier"}))


def test_active_params_drive_flops():
    from pretraining.config import ModelConfig
    from pretraining.models.counts import active_param_count, flops_per_token, param_count

    dense = ModelConfig(dimension=64, num_layers=2, num_heads=4, ffn_hidden_size=96, vocab_size=73,
                        sequence_length=32)
    moe = dense.model_copy(update={"num_experts": 8, "moe_top_k": 1})
    with torch.device("meta"):
        from pretraining.models.registry import build_model

        built = build_model(moe)
    assert param_count(moe) == sum(p.numel() for p in built.parameters())
    assert active_param_count(moe) == param_count(moe) - 2 * 7 * 3 * 64 * 96
    # top-1 routing costs a dense MLP plus the router's d x E matmul per layer
    assert flops_per_token(moe) - flops_per_token(dense) == pytest.approx(6 * 2 * 64 * 8)


def test_layout_round_trip_keeps_helm_moe_and_init(codon_data):
    from pretraining.models.json_layout import layout_from_model_config

    raw = layout(codon_data, model="llama", helm=True, extra={"num_experts": 4, "moe_top_k": 1, "init": "small"})
    cfg = run_config_from_layout(raw)
    back = layout_from_model_config(cfg.model, tokenizer=codon_data["tokenizer"])
    assert back["helm"] is True and back["alpha"] == 0.4
    again = run_config_from_layout({**back, "training": raw["training"], "data": raw["data"]})
    assert again.model == cfg.model


def test_dry_run_prints_total_and_active_parameters(tmp_path, capsys):
    from pathlib import Path

    from pretraining.train.train_cli import main

    example = Path(__file__).resolve().parents[2] / "pretraining/configs/json_examples/llama_moe_clm_6mer.json"
    assert main(["--config", str(example), "--output", str(tmp_path / "run"), "--dry_run"]) == 0
    out = capsys.readouterr().out
    assert "# parameters: 113.3M (113,296,896); active per token: 37.8M (37,799,424)" in out
    assert "num_experts: 8" in out and not (tmp_path / "run").exists()
