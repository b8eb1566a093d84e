#!/usr/bin/env bash
# The README's main job: installs the environment (idempotent), then runs the performance-prediction
# report on the paper's database release (../shared, or $NJSL_SHARED_DIR). Extra arguments go to `njsl predict`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash setup/install.sh
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
exec .venv/bin/njsl summary "$@"
