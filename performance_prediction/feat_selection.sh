#!/usr/bin/env bash
# Forward feature selection for all 13 tasks of the paper (9 accuracy + 4 brier score), nested and
# family-grouped; writes selected_feats/forward_selection_{metric}_family.csv in the paper's layout
# (+ out-of-sample gains). Extra arguments are passed on, e.g. --pseudo_feats_csv CSV or --validation random.
# Usage: bash performance_prediction/feat_selection.sh [--db_path DB] [more flags]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python}"   # e.g. PYTHON=.venv/bin/python
out="${OUT_DIR:-$here/selected_feats}"
for metric in accuracy brier_score; do
  "$python" "$here/performance_predict_from_db_gradual.py" --metric "$metric" --merge_mmlu \
    --validation family --output_dir "$out" "$@"
done
