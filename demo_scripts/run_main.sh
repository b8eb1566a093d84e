#!/usr/bin/env bash
# The README's main job: installs the environment (idempotent), then writes the performance-prediction report
# on the paper's database release (../shared, or $NJSL_SHARED_DIR) into reports/paper/ (index.md links every
# table and figure). Extra arguments go to `njsl predict report` (e.g. --out DIR, --n_seeds 3, --selection).
set -euo pipefail
cd "$(dirname "$0")/.."
bash setup/install.sh
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
.venv/bin/njsl summary
exec .venv/bin/njsl predict report "$@"
