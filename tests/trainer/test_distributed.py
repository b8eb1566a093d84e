"""torchrun with 2 CPU processes (gloo): DDP and FSDP2 give the losses of a single process (same global batch)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pretraining.models.run_config import load_run_config
from pretraining.train import train
from pretraining.train.metrics import read_metrics

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_ddp_and_fsdp_match_single_process(tiny_config, tiny_data, tiny_overrides, tmp_path):
    common = tiny_overrides + ["training.max_steps=4", "training.eval_every=4", "training.checkpoint_every=4"]
    cfg = load_run_config(tiny_config, common + [f"data.path={tiny_data['prefix']}",
                                                 f"data.tokenizer={tiny_data['tokenizer']}"])
    train(cfg, tmp_path / "single", progress=False)
    ref = [r["loss"] for r in read_metrics(tmp_path / "single" / "metrics.jsonl")]
    # FSDP2 in one process (what one GPU runs, there with bf16 mixed precision): same losses
    train(load_run_config(tiny_config, common + [f"data.path={tiny_data['prefix']}", "training.parallelism=fsdp",
                                                 f"data.tokenizer={tiny_data['tokenizer']}"]),
          tmp_path / "fsdp1", progress=False)
    assert [r["loss"] for r in read_metrics(tmp_path / "fsdp1" / "metrics.jsonl")] == pytest.approx(ref, abs=1e-5)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "WANDB_MODE": "disabled"}
    for mode in ("ddp", "fsdp"):
        cmd = [sys.executable, "-m", "pretraining.train.train_cli", "--config", str(tiny_config),
               "--output", str(tmp_path / mode), "--data", tiny_data["prefix"], "--tokenizer", tiny_data["tokenizer"],
               "--no_progress", "--nproc_per_node", "2", "--master_port", str(29600 + os.getpid() % 300),
               "--set", f"training.parallelism={mode}"] + sum((["--set", o] for o in common), [])
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=REPO, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        assert f"{mode} on 2 x cpu" in done.stderr
        losses = [r["loss"] for r in read_metrics(tmp_path / mode / "metrics.jsonl")]
        assert losses == pytest.approx(ref, abs=1e-4), mode
    # a sharded (FSDP) checkpoint exports from a single process
    from pretraining.evaluate.export import export_checkpoint

    hf = export_checkpoint(tmp_path / "fsdp", tmp_path / "hf")
    assert (hf / "config.json").is_file()
