"""``njsl eval MODEL TASKS OUTPUT_DIR``: run lm-evaluation-harness on a model and (optionally) store the scores.

TASKS is a comma-separated list of named groups (see ``--list_groups``: leaderboard-v1, reasoning-mcq,
lambada, humaneval, njsl-local) and lm-eval task names with an optional few-shot count (``arc_easy:5``).
OUTPUT_DIR receives ``results.json`` (lm-eval 0.4 format) and, with ``--log_samples``, ``samples_<task>.jsonl``.
With ``--db`` the scores are imported into the store by its lm-eval importer under ``--model_id``.
"""
from __future__ import annotations

import argparse
import sys
from njsl.cli import guarded


def _limit(text: str) -> int | float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0 (a count, or a fraction below 1)")
    return int(value) if value >= 1 and value.is_integer() else value


def _batch(text: str) -> int | str:
    if text == "auto" or text.startswith("auto:"):
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("must be a positive integer or 'auto'")
    return int(text)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", help="Hugging Face model folder (e.g. RUN_DIR/hf) or hub name")
    p.add_argument("tasks", nargs="?", help="task groups and/or lm-eval tasks, comma-separated (task:N = N shots)")
    p.add_argument("output_dir", nargs="?", help="folder for results.json and samples")
    p.add_argument("--batch_size", type=_batch, default=8, help="per-device batch size, or 'auto' (default 8)")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:0... (default: cuda when available)")
    p.add_argument("--limit", type=_limit, default=None,
                   help="evaluate only the first N examples per task (or a fraction < 1); for tests only")
    p.add_argument("--log_samples", action="store_true", help="also write per-example samples_<task>.jsonl")
    p.add_argument("--tokenizer", default=None, help="tokenizer folder/name when the model folder has none")
    p.add_argument("--include_path", action="append", default=[],
                   help="extra folder of lm-eval task YAMLs (repeatable)")
    p.add_argument("--allow_code_execution", action="store_true",
                   help="confirm running model-written code (humaneval, mbpp)")
    p.add_argument("--max_length", type=int, default=None, help="context length (default: the model's)")
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--db", default=None, help="import the scores into this .duckdb store (created if missing)")
    p.add_argument("--model_id", default=None, help="id of the model in the store (required with --db)")
    p.add_argument("--list_groups", action="store_true", help="print the named task groups and exit")
    return p


@guarded
def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    from pretraining.evaluate.lm_eval import EvalError, EvalOptions, evaluate_model, import_results, load_task_groups
    from pretraining.evaluate.lm_eval import score_rows

    if args.list_groups:
        for name, group in load_task_groups().items():
            tasks = ", ".join(f"{s.task}:{s.num_fewshot}" if s.num_fewshot is not None else s.task
                              for s in group.tasks)
            print(f"{name:<16} {group.description}\n{'':<16} {tasks}")
        return 0
    if not (args.model and args.tasks and args.output_dir):
        parser.error("MODEL, TASKS and OUTPUT_DIR are required (or --list_groups)")
    if args.db and not args.model_id:
        raise EvalError("--db needs --model_id: the id under which the scores are stored "
                        "(the same id as the model's annotation, e.g. org/name)")
    opts = EvalOptions(batch_size=args.batch_size, dtype=args.dtype, device=args.device, limit=args.limit,
                       log_samples=args.log_samples, tokenizer=args.tokenizer, include_path=args.include_path,
                       allow_code_execution=args.allow_code_execution, seed=args.seed,
                       max_length=args.max_length)
    out = evaluate_model(args.model, args.tasks, args.output_dir, opts)
    for row in score_rows(out.results):
        stderr = "" if row["metric_stderr"] is None else f" ± {row['metric_stderr']:.4f}"
        print(f"{row['benchmark']:<32} {row['setting']:<8} {row['metric']:<12} {row['metric_value']:.4f}{stderr}")
    print(f"wrote {out.results_path}" + (f" and {len(out.sample_paths)} samples file(s)" if out.sample_paths
                                         else ""))
    if args.db:
        report = import_results(args.db, out.results_path, args.model_id)
        print(f"stored: {report.summary()}")
        for w in report.warnings:
            print(f"  note: {w}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
