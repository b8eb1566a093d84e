#!/usr/bin/env bash
# Tokenize documents into a Megatron indexed dataset (the paper's interface).
#
#   bash demo_scripts/preprocess_data.sh <arrow file or dir> <output dir for bin dataset> \
#        <output dir for dataset json (intermediate)> <tokenizer> <num cpu workers> [extra njsl preprocess flags]
#
# e.g.  bash demo_scripts/preprocess_data.sh data/web.arrow out/bin out/json EleutherAI/gpt-neox-20b 4 --keep_jsonl
# Writes <bin dir>/<input stem>_text_document.{bin,idx,manifest.json}. Extra flags (--text_column, --limit,
# --no_append_eod, --keep_jsonl, --output_prefix) are passed to `njsl preprocess`.
set -euo pipefail
if [ "$#" -lt 5 ]; then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
INPUT=$1; BIN_DIR=$2; JSON_DIR=$3; TOKENIZER=$4; WORKERS=$5; shift 5
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-$( [ -x "$HERE/.venv/bin/python" ] && echo "$HERE/.venv/bin/python" || echo python )}
exec "$PY" -m pretraining.data.preprocess_cli --input "$INPUT" --output_dir "$BIN_DIR" --json_dir "$JSON_DIR" \
  --tokenizer "$TOKENIZER" --workers "$WORKERS" "$@"
