"""LR schedule (warmup + cosine to min), batch plan, .env loading, wandb offline logging."""
from __future__ import annotations

import json
import os

import pytest

from pretraining.config import ConfigError
from pretraining.models.run_config import load_run_config
from pretraining.train import plan, train
from pretraining.train.env import load_env
from pretraining.train.schedule import lr_at


def test_warmup_then_cosine_to_min():
    kw = dict(lr=1.5e-4, min_lr=1e-5, warmup_steps=100, total_steps=1000)
    assert lr_at(0, **kw) == pytest.approx(1.5e-6)
    assert lr_at(99, **kw) == pytest.approx(1.5e-4)
    assert lr_at(100, **kw) == pytest.approx(1.5e-4)
    assert lr_at(550, **kw) == pytest.approx((1.5e-4 + 1e-5) / 2)
    assert lr_at(1000, **kw) == pytest.approx(1e-5) and lr_at(5000, **kw) == pytest.approx(1e-5)
    lrs = [lr_at(s, **kw) for s in range(100, 1001)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))


def test_plan_accumulation_and_budget(tiny_config):
    cfg = load_run_config(tiny_config, ["training.global_batch_tokens=8192", "training.global_batch_size=null",
                                        "training.micro_batch_size=4", "training.train_tokens=100000"])
    p = plan(cfg, world_size=2)  # 8192 / 256 = 32 sequences = 4 micro-batches x 4 x 2 ranks
    assert p == {"global_batch": 32, "accumulation": 4, "steps": 13, "stop_at": 13, "tokens_per_step": 8192}
    with pytest.raises(ConfigError, match="training.global_batch_size"):
        plan(load_run_config(tiny_config, ["training.micro_batch_size=5"]), world_size=1)
    with pytest.raises(ConfigError, match="training.train_tokens"):
        plan(load_run_config(tiny_config, ["training.train_tokens=null"]), world_size=1)


def test_env_file(tmp_path, monkeypatch):
    env = tmp_path / ".env"
    env.write_text("# comment\nNJSL_TEST_A=1\nexport NJSL_TEST_B='x y'  # trailing\n\nNJSL_TEST_C=\n")
    monkeypatch.setenv("NJSL_TEST_A", "kept")
    for k in ("NJSL_TEST_B", "NJSL_TEST_C"):
        monkeypatch.delenv(k, raising=False)
    assert load_env(env) == {"NJSL_TEST_A": "1", "NJSL_TEST_B": "x y", "NJSL_TEST_C": ""}
    assert os.environ["NJSL_TEST_A"] == "kept" and os.environ["NJSL_TEST_B"] == "x y"
    assert "NJSL_TEST_C" not in os.environ  # an empty value sets nothing
    env.write_text("NOT A VALID LINE\n")
    with pytest.raises(ValueError, match=".env:1"):
        load_env(env)


def test_env_precedence_same_in_bash_and_python(tmp_path):
    """The shell scripts' reading of .env (eval of env.py's exports) gives what njsl train's load_env gives."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    env = tmp_path / ".env"
    env.write_text("HF_HOME=\nNJSL_T_SET=from_file\nNJSL_T_NEW='a b$c'\nexport NJSL_T_EMPTY=\n")
    base = {"PATH": os.environ["PATH"], "NJSL_T_SET": "from_user", "HF_HOME": "/user/cache"}
    keys = ("HF_HOME", "NJSL_T_SET", "NJSL_T_NEW", "NJSL_T_EMPTY")
    show = "; ".join(f'echo "{k}=${{{k}-<unset>}}"' for k in keys)
    script = f'cd {repo} && eval "$({sys.executable} pretraining/train/env.py {env})" && {show}'
    bash = subprocess.run(["bash", "-c", script], env=base, capture_output=True, text=True, check=True).stdout
    py = f"import os; from pretraining.train.env import load_env; load_env({str(env)!r}); " + "; ".join(
        f"print('{k}=' + os.environ.get('{k}', '<unset>'))" for k in keys)
    python = subprocess.run([sys.executable, "-c", py], env={**base, "PYTHONPATH": str(repo)}, capture_output=True,
                            text=True, check=True).stdout
    assert bash == python == "HF_HOME=/user/cache\nNJSL_T_SET=from_user\nNJSL_T_NEW=a b$c\nNJSL_T_EMPTY=<unset>\n"


# Keys of .env.template read by libraries, not by our code.
LIBRARY_KEYS = {"WANDB_PROJECT": "wandb", "WANDB_ENTITY": "wandb", "WANDB_MODE": "wandb", "HF_HOME": "huggingface",
                "HF_HUB_OFFLINE": "huggingface"}


def test_env_template_loads_and_every_setting_is_used(monkeypatch):
    """The template parses with the trainer's own loader, and each key it offers is read somewhere."""
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    template = repo / ".env.template"
    # offered settings: the set ones and the commented-out examples (`# KEY=value`)
    keys = [m.group(1) for m in re.finditer(r"^(?:# )?([A-Z_]+)=", template.read_text(), re.M)]
    set_keys = [line.split("=")[0] for line in template.read_text().splitlines() if "=" in line and line[0] != "#"]
    for key in set_keys:
        monkeypatch.setenv(key, "from-the-environment")
    found = load_env(template)
    assert list(found) == set_keys and all(os.environ[k] == "from-the-environment" for k in set_keys)  # env wins
    assert all(v != "" for v in found.values())  # no empty value: it would override nothing, yet confuse
    code = "\n".join(p.read_text(encoding="utf-8", errors="replace")
                     for pattern in ("**/*.py", "**/*.sh", "**/*.sbatch")
                     for p in repo.glob(pattern) if ".venv" not in p.parts and "tests" not in p.parts)
    unused = [k for k in keys if k not in LIBRARY_KEYS and k not in code]
    assert unused == [], f".env.template offers settings nothing reads: {unused}"
    assert {"WANDB_PROJECT", "WANDB_MODE", "NJSL_SHARED_DIR", "NJSL_PEAK_FLOPS"} <= set(keys)


def test_scripts_read_env_with_the_python_reader():
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    for script in ("demo_scripts/train_model.sh", "pretraining/slurm/train_multinode.sbatch",
                   "pretraining/slurm/sweep_array.sbatch"):
        text = (repo / script).read_text()
        assert "pretraining/train/env.py .env" in text and ". ./.env" not in text, script


def test_wandb_offline(tiny_config, tiny_data, tiny_overrides, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_PROJECT", "njsl-tests")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = load_run_config(tiny_config, tiny_overrides + ["training.max_steps=2", "training.eval_every=0",
                                                         f"data.path={tiny_data['prefix']}",
                                                         f"data.tokenizer={tiny_data['tokenizer']}"])
    train(cfg, tmp_path / "run", progress=False)
    runs = list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in lines] == ["train", "train", "test"]
    assert json.loads((tmp_path / "run" / "run_info.json").read_text())["finished"]
