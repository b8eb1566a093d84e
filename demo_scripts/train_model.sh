#!/usr/bin/env bash
# Pretrain a model (the paper's interface):
#   bash demo_scripts/train_model.sh <path to output checkpoints> <model config yaml> <bin dataset location or mix file> <tokenizer> [njsl train options]
# Runs torchrun with one process per visible GPU (one process on CPU). Multi-node: set NNODES, NODE_RANK,
# MASTER_ADDR (and MASTER_PORT) on every node, or use pretraining/slurm/train_multinode.sbatch.
# Settings (WANDB_PROJECT, paths...) come from ./.env (copy .env.template).
set -euo pipefail
if [ $# -lt 4 ]; then
  echo "usage: $0 <output run dir> <model config yaml> <bin prefix or mix file> <tokenizer> [njsl train options]" >&2
  exit 2
fi
OUT=$1; CONFIG=$2; DATA=$3; TOKENIZER=$4; shift 4
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# .env: the environment wins over the file, empty values set nothing (the same reader as njsl train)
if [ -f .env ]; then eval "$(${PYTHON:-python3} pretraining/train/env.py .env)"; fi
PY=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}
NGPU=${NPROC_PER_NODE:-$($PY -c 'import torch; print(torch.cuda.device_count())')}
[ "$NGPU" -ge 1 ] || NGPU=1
NNODES=${NNODES:-1}
if [ "$NNODES" -gt 1 ]; then
  LAUNCH=(--nnodes="$NNODES" --node_rank="${NODE_RANK:?set NODE_RANK}" --master_addr="${MASTER_ADDR:?set MASTER_ADDR}" --master_port="${MASTER_PORT:-29500}")
else
  LAUNCH=(--standalone --nnodes=1)
fi
exec "$PY" -m torch.distributed.run "${LAUNCH[@]}" --nproc_per_node="$NGPU" \
  -m pretraining.train.train_cli --config "$CONFIG" --output "$OUT" --data "$DATA" --tokenizer "$TOKENIZER" "$@"
