#!/usr/bin/env bash
# Create the project's virtual environment with pinned versions.
#   bash setup/install.sh            # CPU (default): CPU torch, xgboost-cpu
#   NJSL_GPU=1 bash setup/install.sh # GPU machines: CUDA torch from the registry, xgboost with NCCL
# Idempotent: a venv whose requirements did not change is left as it is (stamp file).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${NJSL_VENV:-.venv}
PY=${PYTHON:-python3}
TORCH_VERSION=2.13.0
stamp="$VENV/.njsl-installed"
want=$(cat requirements.txt pyproject.toml setup/install.sh | sha256sum | cut -d' ' -f1)-gpu${NJSL_GPU:-0}
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "setup: $VENV is up to date"
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
# The machine's pip config lists local index folders that may not exist; hide pip's per-package noise about them.
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }
# torch first: anything depending on torch would otherwise pull the multi-GB CUDA build on CPU machines.
pip install "torch==$TORCH_VERSION"
if [ "${NJSL_GPU:-0}" = "1" ]; then xgb=xgboost; else xgb=xgboost-cpu; fi
xgb_version=$(grep -E '^# xgboost-version:' setup/versions.txt | awk '{print $3}')
pip install -r requirements.txt "$xgb==$xgb_version"
pip install --no-deps -e .
echo "$want" > "$stamp"
echo "setup: installed into $VENV ($("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
