"""Each (family × mode) trains with the real trainer on nucleotide data (3-mer tokenizer): the loss falls,
a resumed run repeats the interrupted run's losses, the checkpoint exports to a Hugging Face folder that
loads back, and the run is registered in the store with its family and objective."""
from __future__ import annotations

import json
import shutil

import pytest
import torch

from pretraining.evaluate.register_run import collect_run, register
from pretraining.models.architectures import build
from pretraining.models.json_layout import run_config_from_layout

FAMILIES = ("transformer", "mamba", "hyena")
MODES = ("clm", "mlm")
STEPS = 10


def layout(family: str, mode: str, data: dict) -> dict:
    mc = {"d_model": 32, "n_layer": 2, "max_position_embeddings": 64}
    if family == "transformer":
        mc["n_head"] = 2
    if family == "hyena":
        mc["filter_order"] = 16
    return {"name": f"tiny_{family}_{mode}", "model_type": family, "mode": mode, "tokenizer": data["tokenizer"],
            "model_config": mc,
            "training": {"global_batch_size": 8, "micro_batch_size": 4, "warmup_steps": 2, "lr": 3e-3,
                         "min_lr": 3e-4, "max_steps": STEPS, "eval_every": 5, "eval_samples": 8,
                         "checkpoint_every": 5, "keep_last": 3, "split": "90,5,5"},
            "data": {"path": data["prefix"]}}


def losses(run_dir) -> dict[int, float]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return {r["step"]: r["loss"] for r in rows if r.get("kind") == "train"}


def needs_objective_dispatch(cfg) -> None:
    """transformer + mlm needs the trainer's build_model to pick the "transformer+mlm" builder."""
    from pretraining.models.registry import build_model

    if cfg.model.family == "transformer" and cfg.model.objective == "mlm":
        with torch.device("meta"):
            model = build_model(cfg.model)
        assert type(model).__name__ == "BertForMaskedLM"


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("mode", MODES)
def test_train_resume_export_register(family, mode, dna_data, tmp_path):
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    from model_metadata_db import AnalysisStore
    from pretraining.train import train
    from pretraining.train.checkpoint import latest_checkpoint, load_model_weights

    cfg = run_config_from_layout(layout(family, mode, dna_data))
    needs_objective_dispatch(cfg)
    run_dir = tmp_path / f"run_{family}_{mode}"
    info = train(cfg, run_dir, progress=False)
    assert info["finished"] and info["steps_done"] == STEPS
    first = losses(run_dir)
    assert len(first) == STEPS
    head, tail = [first[s] for s in (1, 2, 3)], [first[s] for s in (STEPS - 2, STEPS - 1, STEPS)]
    assert sum(tail) / 3 < sum(head) / 3 - 0.05, first  # the loss falls

    evals = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if '"eval"' in x]
    assert evals and all(e["val_tokens"] > 0 for e in evals)

    # Interrupt after step 5: drop the final checkpoint; the rerun resumes from step 5 and repeats the losses.
    ckpt_dir = run_dir / "checkpoints"
    shutil.rmtree(ckpt_dir / f"step_{STEPS}")
    (ckpt_dir / "latest").unlink()
    assert latest_checkpoint(ckpt_dir).name == "step_5"
    train(run_config_from_layout(layout(family, mode, dna_data)), run_dir, progress=False)
    resumed = losses(run_dir)
    for step in range(6, STEPS + 1):
        assert resumed[step] == pytest.approx(first[step], rel=1e-5, abs=1e-6), (step, resumed, first)

    # Export the final checkpoint with the trainer's exporter (HF folder + tokenizer); it loads back identically.
    from pretraining.evaluate.export import export_checkpoint

    hf_dir = export_checkpoint(run_dir)
    model = build(cfg.model)
    load_model_weights(latest_checkpoint(ckpt_dir), model)
    auto = AutoModelForMaskedLM if mode == "mlm" else AutoModelForCausalLM
    back = auto.from_pretrained(hf_dir).eval()
    tok = AutoTokenizer.from_pretrained(hf_dir)
    ids = torch.tensor([tok(dna_data["docs"][0][:90], add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(back(input_ids=ids).logits, model.eval()(input_ids=ids).logits, atol=1e-5)

    # Register the run in the store through register-run's own path: family, objective and block type recorded.
    with AnalysisStore.create(":memory:") as store:
        record = collect_run(run_dir, model_id=run_dir.name)
        register(store, record)
        row = record.annotation
        ann = store.annotations().set_index("id").loc[run_dir.name]
    assert ann["architecture_family"] == family and ann["training_objective"] == mode
    assert ann["block_type"] == "sequential"
    assert int(ann["total_params"]) == sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    assert row["vocab_size"] == 73
    if family != "transformer":
        assert row["num_heads"] is None and row["attention_variant"] is None


def _write_json(tmp_path, family, mode, data, tokenizer, steps=2):
    raw = layout(family, mode, data)
    raw["tokenizer"] = tokenizer
    raw["training"]["max_steps"] = steps
    path = tmp_path / f"{family}_{mode}.json"
    path.write_text(json.dumps(raw))
    return path


def test_njsl_train_accepts_the_json_layout(dna_data, tmp_path, capsys):
    """`njsl train --config model.json` (dry run): the JSON layout goes through the trainer's config loader."""
    from pretraining.train.train_cli import main

    path = _write_json(tmp_path, "hyena", "mlm", dna_data, "3mer")
    rc = main(["--config", str(path), "--output", str(tmp_path / "run"), "--dry_run"])
    err = capsys.readouterr()
    assert rc == 0, err.err
    assert "family: hyena" in err.out and "objective: mlm" in err.out and "# parameters:" in err.out
    assert not (tmp_path / "run").exists()  # a dry run writes nothing


@pytest.mark.slow
def test_njsl_train_with_a_kmer_tokenizer_name(dna_data, tmp_path, capsys):
    """A k-mer name as tokenizer ("3mer") works end to end: the .bin was made with the saved 3mer folder,
    whose ids are identical."""
    from tokenization.tokenizer import load_tokenizer
    from pretraining.train.train_cli import main

    assert load_tokenizer("3mer").vocab_size > 64
    path = _write_json(tmp_path, "mamba", "clm", dna_data, "3mer")
    rc = main(["--config", str(path), "--output", str(tmp_path / "run"), "--no_progress"])
    assert rc == 0, capsys.readouterr().err
    info = json.loads((tmp_path / "run" / "run_info.json").read_text())
    assert info["finished"] and info["tokenizer"] == "3mer"
    from transformers import AutoTokenizer

    from pretraining.evaluate.export import export_checkpoint

    hf_dir = export_checkpoint(tmp_path / "run")  # the k-mer vocabulary is saved as an ordinary HF tokenizer
    exported = AutoTokenizer.from_pretrained(hf_dir)
    assert exported.convert_ids_to_tokens(exported("ACGTAC", add_special_tokens=False)["input_ids"]) == ["ACG", "TAC"]
