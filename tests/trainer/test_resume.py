"""kill -9 mid-run, resume: the same losses step for step as an uninterrupted run; SIGTERM checkpoints and exits."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _cmd(tiny_config, tiny_data, overrides, run_dir, steps=12):
    cmd = [sys.executable, "-m", "pretraining.train.train_cli", "--config", str(tiny_config), "--output", str(run_dir),
           "--data", tiny_data["prefix"], "--tokenizer", tiny_data["tokenizer"], "--no_progress",
           "--max_steps", str(steps), "--set", "training.checkpoint_every=3", "--set", "training.eval_every=6"]
    for o in overrides:
        cmd += ["--set", o]
    return cmd


def _env():
    # same thread count in every process: float reductions must happen in the same order
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(REPO),
            "WANDB_MODE": "disabled"}


def _records(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(json.JSONDecodeError):  # a line cut by the kill
            out.append(json.loads(line))
    return out


def _wait_for_step(proc, run_dir: Path, step: int, timeout: float = 240) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if any(r.get("kind") == "train" and r["step"] >= step for r in _records(run_dir)):
            return
        assert proc.poll() is None, f"training exited early: {proc.stderr.read()}"
        time.sleep(0.05)
    raise TimeoutError(f"step {step} not reached")


def test_kill9_resume_matches_uninterrupted(tiny_config, tiny_data, tiny_overrides, tmp_path):
    ref_dir, run_dir = tmp_path / "ref", tmp_path / "killed"
    subprocess.run(_cmd(tiny_config, tiny_data, tiny_overrides, ref_dir), env=_env(), check=True,
                   capture_output=True, cwd=REPO)
    proc = subprocess.Popen(_cmd(tiny_config, tiny_data, tiny_overrides, run_dir), env=_env(), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_step(proc, run_dir, 7)  # after the step-6 checkpoint, before step 9's
    t0 = time.time()  # checkpoints are written in the background: wait until step 6's is the latest
    while json.loads((run_dir / "run_info.json").read_text())["steps_done"] < 6 and time.time() - t0 < 120:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    info = json.loads((run_dir / "run_info.json").read_text())
    assert info["finished"] is False and info["steps_done"] in (6, 9)
    done = subprocess.run(_cmd(tiny_config, tiny_data, tiny_overrides, run_dir), env=_env(), capture_output=True,
                          text=True, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert "resuming after step" in done.stderr
    ref, res = _records(ref_dir), _records(run_dir)
    ref_train = [(r["step"], r["loss"], r["grad_norm"], r["lr"]) for r in ref if r["kind"] == "train"]
    res_train = [(r["step"], r["loss"], r["grad_norm"], r["lr"]) for r in res if r["kind"] == "train"]
    assert [s for s, *_ in res_train] == list(range(1, 13))  # no step logged twice or lost
    assert res_train == ref_train  # bit-identical losses, grad norms and LRs
    assert [r["val_loss"] for r in res if r["kind"] == "eval"] == [r["val_loss"] for r in ref if r["kind"] == "eval"]
    assert json.loads((run_dir / "run_info.json").read_text())["finished"] is True
    assert not list((run_dir / "checkpoints").glob("*.partial"))


def test_sigterm_checkpoints_and_resumes(tiny_config, tiny_data, tiny_overrides, tmp_path):
    run_dir = tmp_path / "preempted"
    cmd = _cmd(tiny_config, tiny_data, tiny_overrides, run_dir, steps=200)
    proc = subprocess.Popen(cmd, env=_env(), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_step(proc, run_dir, 4)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    info = json.loads((run_dir / "run_info.json").read_text())
    step = info["steps_done"]
    assert info["finished"] is False and step >= 4 and info["last_checkpoint"].endswith(f"step_{step}")
    assert f"checkpointed step {step}" in err
    # the kept checkpoints: keep_last (2 in tiny_cpu.yaml) complete ones
    assert len([p for p in (run_dir / "checkpoints").iterdir() if p.name.startswith("step_")]) <= 2
