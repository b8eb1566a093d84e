#!/usr/bin/env bash
# The closed loop, tiny, on CPU: every stage of the project on this machine in minutes.
#
#   bash demo_scripts/tiny_pipeline.sh [OUT_DIR]        (default: ./outputs/tiny_pipeline, git-ignored)
#
# stdlib corpus (code + docstrings) -> tokenizer -> Megatron .bin/.idx -> two tiny Llamas on an NL/code mix each
# (80/20 and 20/80) -> export -> held-out perplexity + the local lm-eval MC tasks -> free generations ->
# tagging + domain features -> everything registered in a store that also holds the paper's release ->
# the prediction report, whose page and unscored_models_predictions.csv list the two new models.
# A finished stage is skipped when the script is run again (each writes its outputs atomically).
# Knobs (environment): TRAIN_STEPS (40), EVAL_LIMIT (40 items per task), NUM_GENERATIONS (16),
# NJSL_SHARED_DIR (default ../shared beside the repo: the paper's release and the domain labels; required),
# FEATURES (tagger set for the generation features, default char_len,ttr,keyword_ratios),
# REPORT_TASKS (accuracy tasks of the stage-10 report, default "arc_challenge hellaswag mmlu_5-shot").
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-$( [ -x "$HERE/.venv/bin/python" ] && echo "$HERE/.venv/bin/python" || echo python )}
OUT=$(mkdir -p "${1:-outputs/tiny_pipeline}" && cd "${1:-outputs/tiny_pipeline}" && pwd)
TRAIN_STEPS=${TRAIN_STEPS:-40}
EVAL_LIMIT=${EVAL_LIMIT:-40}
NUM_GENERATIONS=${NUM_GENERATIONS:-16}
SHARED=${NJSL_SHARED_DIR:-$HERE/../shared}
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false WANDB_MODE=offline
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
# this checkout's packages first, whatever the working directory (and however the venv installed them)
export PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}"
njsl() { "$PY" -m njsl "$@"; }
RELEASE=$SHARED/data/paper_db_2025_03_03
LABELS=$SHARED/data/domain_labels/fineweb_sample_predicted_domains.csv
for need in "$RELEASE" "$LABELS"; do
  [ -e "$need" ] || { echo "error: $need not found; set NJSL_SHARED_DIR to the shared data folder" >&2; exit 2; }
done
STORE=$OUT/store.duckdb
MIXES=(nl80_code20 nl20_code80)
T0=$SECONDS
stage() { echo; echo "=== [$((SECONDS - T0))s] $*"; }

stage "1/10 corpus from the Python standard library"
[ -f "$OUT/corpus/heldout_nl.jsonl" ] || "$PY" "$HERE/demo_scripts/tiny_corpus.py" --output "$OUT/corpus"

stage "2/10 tokenizer (byte-level BPE, 4096)"
[ -f "$OUT/tokenizer/tokenizer.json" ] || njsl tokenizer train --input "$OUT/corpus/code.jsonl" "$OUT/corpus/nl.jsonl" \
  --output "$OUT/tokenizer" --vocab_size 4096

stage "3/10 preprocess to Megatron .bin/.idx"
for part in nl code; do
  [ -f "$OUT/bin/${part}_text_document.idx" ] || njsl preprocess --input "$OUT/corpus/$part.jsonl" \
    --output_dir "$OUT/bin" --tokenizer "$OUT/tokenizer" --workers 1
done
for mix in "${MIXES[@]}"; do
  nl=${mix#nl}; nl=${nl%%_*}; code=${mix##*code}
  cat > "$OUT/$mix.yaml" <<EOF
name: $mix
domains:
  - {name: docstrings, weight: $nl, path: bin/nl_text_document, category: reference}
  - {name: stdlib_code, weight: $code, path: bin/code_text_document, category: code}
EOF
done

stage "4/10 train two tiny models ($TRAIN_STEPS steps each)"
for mix in "${MIXES[@]}"; do
  RUN=$OUT/runs/$mix
  if ! grep -qs '"finished": true' "$RUN/run_info.json"; then
    njsl train --config "$HERE/pretraining/configs/models/tiny_cpu.yaml" --data "$OUT/$mix.yaml" \
      --tokenizer "$OUT/tokenizer" --output "$RUN" --train_tokens $((TRAIN_STEPS * 16 * 128)) --no_progress \
      --set model.dimension=128 --set model.num_layers=4 --set model.num_heads=4 --set model.num_kv_heads=2 \
      --set model.ffn_hidden_size=344 --set model.sequence_length=128 --set training.global_batch_size=16 \
      --set training.micro_batch_size=16 --set training.warmup_steps=5 --set training.eval_every=0 \
      --set "training.checkpoint_every=$TRAIN_STEPS"
  fi
  [ -f "$RUN/hf/config.json" ] || njsl export "$RUN"
done

stage "5/10 held-out perplexity (stdlib files no model trained on)"
for mix in "${MIXES[@]}"; do
  for part in code nl; do
    f=$OUT/runs/$mix/eval/perplexity_stdlib_$part.json
    [ -f "$f" ] || njsl perplexity "$OUT/runs/$mix/hf" "$OUT/corpus/heldout_$part.jsonl" --seq_len 128 \
      --device cpu --output "$f" > /dev/null
  done
done

stage "6/10 lm-eval: the local multiple-choice tasks ($EVAL_LIMIT items each)"
for mix in "${MIXES[@]}"; do
  d=$OUT/runs/$mix/eval/njsl-local
  [ -f "$d/results.json" ] || njsl eval "$OUT/runs/$mix/hf" njsl-local "$d" --limit "$EVAL_LIMIT" \
    --device cpu --batch_size 16
done

stage "7/10 free generations ($NUM_GENERATIONS per model)"
for mix in "${MIXES[@]}"; do
  g=$OUT/runs/$mix/freegens/generations.jsonl
  [ -f "$g" ] || njsl freegens generate --model "$OUT/runs/$mix/hf" --output "$g" \
    --num_samples "$NUM_GENERATIONS" --max_new_tokens 96 --temperature 1.0 --top_p 0.95 --seed 0 \
    --batch_size 8 --device cpu
done

stage "8/10 store: the paper's release + the two runs (annotation, data composition, evals)"
if [ ! -f "$STORE" ]; then
  rm -f "$STORE.tmp"
  njsl db import "$RELEASE" --db "$STORE.tmp" && mv "$STORE.tmp" "$STORE"
fi
for mix in "${MIXES[@]}"; do
  njsl register-run "$OUT/runs/$mix" --db "$STORE" --model_id "njsl-tiny/$mix"
done

stage "9/10 generation features: filter -> taggers -> domains (local classifier) -> store"
DOMAIN_MODEL=$OUT/domain_model
[ -d "$DOMAIN_MODEL" ] || njsl domains train "$LABELS" --output "$DOMAIN_MODEL"
for mix in "${MIXES[@]}"; do
  # tiny models write rough text: the filter thresholds are loosened so some generations survive
  njsl freegens features "njsl-tiny/$mix" --generations "$OUT/runs/$mix/freegens/generations.jsonl" \
    --store "$STORE" --workdir "$OUT/runs/$mix/freegens/features" --domain_backend local \
    --domain_model_path "$DOMAIN_MODEL" --features "${FEATURES:-char_len,ttr,keyword_ratios}" \
    --tagger_option "tokenizer=$OUT/tokenizer" \
    --min_words 3 --min_chars 10 --max_word_repeat 50 --max_dup_line_frac 0.9 --max_dup_para_frac 0.9 \
    --max_dup_ngram_frac 0.9
done

stage "10/10 predictor with the new models included: the report on the combined store"
# The new models have no scores on the paper's benchmarks (those need the hub's datasets), so the report's
# cross-validation runs on the release's models, and its section "Models in the store without scores on these
# tasks" predicts the paper's benchmarks for every annotated model lacking them (the two new ones included)
# from what the store knows: annotation, data composition, generation features. Fast settings: one seed, the
# paper's four predictors, three accuracy tasks (REPORT_TASKS).
njsl predict report --db_path "$STORE" --out "$OUT/prediction/report" --metrics accuracy --n_seeds 1 \
  --paper_only --grid fast --sel_tasks ${REPORT_TASKS:-arc_challenge hellaswag mmlu_5-shot} --n_jobs 2
grep -F "njsl-tiny/" "$OUT/prediction/report/index.md"
echo
echo "done in $((SECONDS - T0)) s: store $STORE, report $OUT/prediction/report/index.md" \
  "(new models: $OUT/prediction/report/unscored_models_predictions.csv)"
