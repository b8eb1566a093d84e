#!/usr/bin/env bash
# Create the project's virtual environment from the lock, requirements.txt (generated from pyproject.toml by
# `python setup/lock.py`; every distribution pinned).
#   bash setup/install.sh            # CPU (default)
#   NJSL_GPU=1 bash setup/install.sh # GPU machines
# The machine-dependent choices are made here and only here:
#   torch    the lock's version; the build comes from pip's configured index (the CPU wheel on CPU machines).
#            On GPU machines NJSL_TORCH_INDEX may name a CUDA wheel index used for torch alone.
#   xgboost  CPU: xgboost-cpu (no CUDA/NCCL libraries); GPU: xgboost. Same version as the lock.
# Idempotent: a venv whose lock, pyproject and this script did not change is left as it is (stamp file).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${NJSL_VENV:-.venv}
PY=${PYTHON:-python3}
LOCK=requirements.txt
stamp="$VENV/.njsl-installed"
want=$(cat "$LOCK" pyproject.toml setup/install.sh | sha256sum | cut -d' ' -f1)-gpu${NJSL_GPU:-0}
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "setup: $VENV is up to date"
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
# The machine's pip config lists local index folders that may not exist; hide pip's per-package noise about them.
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }
pin() { grep -iE "^$1==" "$LOCK" | head -1 | cut -d= -f3; }
torch_version=$(pin torch)
xgb_version=$(pin xgboost)
torch_index=()
if [ "${NJSL_GPU:-0}" = "1" ]; then
  xgb=xgboost
  [ -z "${NJSL_TORCH_INDEX:-}" ] || torch_index=(--index-url "$NJSL_TORCH_INDEX")
else
  xgb=xgboost-cpu
fi
# torch first: anything depending on torch would otherwise pull the multi-GB CUDA build on CPU machines.
pip install "${torch_index[@]}" "torch==$torch_version"
rest="$VENV/.njsl-lock-rest.txt"
grep -viE '^(torch|xgboost)==' "$LOCK" > "$rest"
pip install -r "$rest" "$xgb==$xgb_version"
pip install --no-deps -e .
echo "$want" > "$stamp"
echo "setup: installed into $VENV ($("$VENV/bin/python" -c 'import torch, xgboost; print("torch", torch.__version__, "xgboost", xgboost.__version__)'))"
