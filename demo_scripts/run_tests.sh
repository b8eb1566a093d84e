#!/usr/bin/env bash
# The README's test command: installs the environment (idempotent), lints (ruff, mypy: configured in
# pyproject.toml), then runs the whole test suite, slow end-to-end tests included.
# Extra arguments go to pytest (e.g. -m "not slow").
set -euo pipefail
cd "$(dirname "$0")/.."
bash setup/install.sh
echo "lint: ruff" && .venv/bin/ruff check .
echo "lint: mypy" && .venv/bin/mypy
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 WANDB_MODE=offline
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
