#!/usr/bin/env bash
# Evaluate a model with lm-evaluation-harness in the paper's settings (the paper's interface).
#
#   bash demo_scripts/eval_model.sh <model dir or hub name> <task group or tasks> <output dir> [njsl eval flags]
#
# Task groups: leaderboard-v1, reasoning-mcq, lambada, humaneval, njsl-local (offline); or lm-eval task names,
# comma-separated, task:N for N shots.  e.g.
#   bash demo_scripts/eval_model.sh runs/llama220m/hf leaderboard-v1 runs/llama220m/eval/leaderboard --batch_size 16
#   bash demo_scripts/eval_model.sh runs/tiny/hf njsl-local runs/tiny/eval/local --limit 50 --db store.duckdb --model_id me/tiny
# Writes <output dir>/results.json (lm-eval 0.4 format) and, with --log_samples, samples_<task>.jsonl.
# Extra flags (--batch_size, --dtype, --device, --limit, --log_samples, --db, --model_id, ...) go to `njsl eval`.
set -euo pipefail
if [ "$#" -lt 3 ]; then
  sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
MODEL=$1; TASKS=$2; OUT=$3; shift 3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-$( [ -x "$HERE/.venv/bin/python" ] && echo "$HERE/.venv/bin/python" || echo python )}
export PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's packages, from any working directory
exec "$PY" -m pretraining.evaluate.eval_cli "$MODEL" "$TASKS" "$OUT" "$@"
