"""Packaging: the lock matches pyproject.toml, and the built wheel alone gives every njsl subcommand."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "setup"))
import lock  # noqa: E402  (setup/lock.py: the lock generator under test)


def test_lock_pins_every_requirement_of_pyproject():
    pins = lock.read_lock(REPO / "requirements.txt")
    for req in lock.project_requirements(REPO / "pyproject.toml"):
        name = canonicalize_name(req.name)
        assert name in pins, f"{req} (pyproject.toml) is not in requirements.txt: run python setup/lock.py"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} violates {req}"


def test_environment_is_the_lock():
    """What setup/install.sh installed is exactly the lock: its closure resolves to the same pins, none missing."""
    pins, missing = lock.resolve(lock.project_requirements(REPO / "pyproject.toml"))
    assert not missing, f"not installed: {missing}"
    assert pins == lock.read_lock(REPO / "requirements.txt"), "run python setup/lock.py --check"


_IMPORT_EVERY_COMMAND = r"""
import importlib, importlib.metadata as md, json, sys
from njsl.cli import COMMANDS
missing_main = [m for m, _ in COMMANDS.values() if not callable(getattr(importlib.import_module(m), "main", None))]
from pretraining.data.mixes import shipped_mixes
from pretraining.evaluate.tasks import TASKS_DIR
from pretraining.train.sweep import __file__ as sweep_file
import njsl
owners = md.packages_distributions()
dists = sorted({d for name in list(sys.modules) for d in owners.get(name.split(".")[0], [])})
print(json.dumps({"njsl": njsl.__file__, "missing_main": missing_main, "mixes": len(shipped_mixes()),
                  "groups": (TASKS_DIR / "groups.yml").is_file(), "dists": dists}))
"""


@pytest.mark.slow
def test_wheel_gives_every_subcommand(tmp_path):
    # built from a copy: setuptools writes build/ and *.egg-info beside the sources
    src = tmp_path / "src"
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".mypy_cache", ".ruff_cache", "tests",
        "benchmarks", "runs", "outputs", "reports", "wandb"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("not_just_scaling_laws-*.whl"))
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
        meta = zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))).decode()
        entry = zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "njsl = njsl.cli:main" in entry
    for extra in ("predict", "train", "tag", "freegens", "scale", "dev", "all"):
        assert f"Provides-Extra: {extra}" in meta
    assert not (site / "tests").exists()

    shutil.rmtree(src)
    # Run from the unpacked wheel only: outside the repo, the wheel's folder first on the path.
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "-c", _IMPORT_EVERY_COMMAND], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["njsl"].startswith(str(site)) and out["missing_main"] == []
    assert out["mixes"] > 0 and out["groups"]  # the package data travelled with the wheel
    # every third-party distribution the subcommands import is one that pyproject.toml declares (or requires)
    declared, _ = lock.resolve(lock.project_requirements(REPO / "pyproject.toml"))
    undeclared = [d for d in out["dists"] if canonicalize_name(d) not in declared
                  and canonicalize_name(d) not in ("xgboost-cpu", "not-just-scaling-laws")]
    assert undeclared == [], f"imported but not declared in pyproject.toml: {undeclared}"
    helped = subprocess.run([sys.executable, "-m", "njsl", "--help"], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert helped.returncode == 0 and "register-run" in helped.stdout
