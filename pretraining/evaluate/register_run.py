"""``njsl register-run RUN_DIR``: put a finished training run into the store, in ONE transaction.

Written, all or nothing:

- ``model_annotations``: from the run's ``config.yaml`` through the trainer's
  :func:`~pretraining.config.annotation_from_model_config` (the config is the one source of truth);
- ``dataset_info``: tokens seen (``run_info.json``) and the % web/code/books/reference/academic of the run's
  data mix (:meth:`pretraining.data.mixes.DataMix.dataset_info_row`); a run on a single ``.bin/.idx`` prefix has no
  composition (only the token count is stored, and a note says so);
- ``evaluation_results``: every lm-eval results JSON under ``RUN_DIR/eval/`` (``njsl eval RUN_DIR/hf TASKS
  RUN_DIR/eval/NAME`` puts them there) or given with ``--eval_results``, through the store's lm-eval importer;
  and held-out perplexities written by ``njsl perplexity ... --output RUN_DIR/eval/perplexity_NAME.json`` as
  benchmark ``heldout_NAME``, setting ``0-shot``, metric ``perplexity``.

Everything is read and checked before the store is opened for writing, and the writes share one
``store.transaction()``, so a bad file leaves the store exactly as it was.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from njsl.cli import guarded

EVAL_DIR = "eval"
_MIX_SUFFIXES = (".yaml", ".yml", ".txt", ".mix")
_PERPLEXITY_FILE = re.compile(r"^perplexity_(?P<name>[A-Za-z0-9_.-]+)\.json$")


class RunDirError(ValueError):
    """The run directory cannot be registered (missing files, unfinished training, bad eval files)."""


@dataclass
class RunRecord:
    """Everything register-run writes for one run, read and validated, not yet in the store."""

    model_id: str
    annotation: dict[str, Any]
    dataset_info: dict[str, Any]
    eval_files: list[Path] = field(default_factory=list)
    eval_rows: list[dict[str, Any]] = field(default_factory=list)  # held-out perplexities
    notes: list[str] = field(default_factory=list)


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"{path} not found: {what}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunDirError(f"{path}: not valid JSON ({exc}); {what}") from None


def check_finished(run_dir: Path) -> dict[str, Any]:
    """``run_info.json`` of a run whose training finished and whose final checkpoint exists."""
    if not run_dir.is_dir():
        raise RunDirError(f"run directory not found: {run_dir}")
    info = _read_json(run_dir / "run_info.json", "not a training run directory (`njsl train --output` writes it)")
    if not isinstance(info, dict):
        raise RunDirError(f"{run_dir}/run_info.json: expected a JSON object")
    ckpt = info.get("last_checkpoint")
    if not info.get("finished"):
        raise RunDirError(f"{run_dir} has no finished checkpoint: run_info.json says finished=false "
                          f"(step {info.get('steps_done')} of {info.get('total_steps')}); resume the run with the "
                          "same `njsl train ... --output` command, then register it")
    if not ckpt or not Path(ckpt).is_dir():
        ckpt_dir = run_dir / "checkpoints" / "latest"
        if not ckpt_dir.is_dir():
            raise RunDirError(f"{run_dir} has no finished checkpoint: {ckpt or 'checkpoints/latest'} does not exist "
                              "(deleted or moved?); register the run where its checkpoints are")
    return info


def _annotation(run_dir: Path, model_id: str) -> dict[str, Any]:
    from pretraining.evaluate.annotation import annotation_from_model_config
    from pretraining.models.run_config import load_run_config

    path = run_dir / "config.yaml"
    if not path.is_file():
        raise RunDirError(f"{path} not found: the run's resolved config is needed for the model annotation")
    cfg = load_run_config(path)  # ConfigError (a ValueError) names the bad field
    return annotation_from_model_config(cfg, model_id)


def _dataset_info(run_dir: Path, info: dict[str, Any], model_id: str, notes: list[str],
                  mix_path: str | Path | None = None) -> dict[str, Any]:
    from pretraining.data.mixes import load_mix

    tokens = info.get("tokens_seen")
    if isinstance(tokens, bool) or not isinstance(tokens, (int, float)) or tokens <= 0:
        raise RunDirError(f"{run_dir}/run_info.json: tokens_seen must be a positive number, got {tokens!r}")
    data = str(mix_path) if mix_path is not None else info.get("mix")
    if data and not Path(data).exists() and Path(data).suffix.lower() in _MIX_SUFFIXES:
        raise RunDirError(f"mix file {data} (named by {run_dir}/run_info.json) not found; run register-run from "
                          "the directory training ran in, or give the mix with --mix PATH")
    if data and Path(data).is_file():
        # The categories and weights are what matter here; the .bin/.idx may have moved since training.
        mix = load_mix(data, check_paths=False)
        row = mix.dataset_info_row(model_id, float(tokens))
        guessed = [d.name for d in mix.domains if d.category_guessed]
        if guessed:
            notes.append(f"categories of domain(s) {', '.join(guessed)} were guessed from their paths "
                         "(give a YAML mix with categories to fix them)")
        return row
    notes.append(f"data {data!r} is not a mix file: composition unknown, only the token count is stored")
    return {"id": model_id, "pretraining_summary_total_tokens_billions": float(tokens) / 1e9,
            "metadata": json.dumps({"data": data})}


def _perplexity_rows(path: Path, model_id: str, name: str) -> list[dict[str, Any]]:
    data = _read_json(path, "expected the JSON `njsl perplexity --output` writes")
    value = data.get("perplexity") if isinstance(data, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise RunDirError(f"{path}: 'perplexity' must be a positive number, got {value!r} "
                          "(expected the JSON `njsl perplexity --output` writes)")
    return [{"id": model_id, "benchmark": f"heldout_{name}", "setting": "0-shot", "metric": "perplexity",
             "metric_value": float(value), "metric_stderr": None}]


def collect_run(run_dir: str | Path, *, model_id: str | None = None,
                eval_results: list[str | Path] | None = None, mix: str | Path | None = None) -> RunRecord:
    """Read and check everything to register for ``run_dir`` (nothing is written)."""
    from model_metadata_db.importers.lm_eval import rows_from_lm_eval
    from model_metadata_db.importers.common import check_model_id, read_json

    run_dir = Path(run_dir)
    info = check_finished(run_dir)
    # the store's own rule: a stable name like org/name, not a filesystem path
    model_id = check_model_id(model_id or info.get("model_id") or run_dir.name, f"{run_dir} (--model_id)")
    notes: list[str] = []
    record = RunRecord(model_id, _annotation(run_dir, model_id), _dataset_info(run_dir, info, model_id, notes, mix),
                       notes=notes)
    eval_dir = run_dir / EVAL_DIR
    files = [Path(p) for p in eval_results] if eval_results is not None else sorted(eval_dir.glob("**/results*.json"))
    for path in files:
        # parsed with the importer's own reader now, so a bad file fails before anything is written
        rows_from_lm_eval(read_json(path), model_id, source=str(path))
        record.eval_files.append(path)
    if eval_results is None and eval_dir.is_dir():
        for path in sorted(eval_dir.glob("perplexity_*.json")):
            m = _PERPLEXITY_FILE.match(path.name)
            if m:
                record.eval_rows += _perplexity_rows(path, model_id, m.group("name"))
    if not record.eval_files and not record.eval_rows:
        notes.append(f"no evaluation results found (looked for {eval_dir}/**/results*.json and "
                     f"{eval_dir}/perplexity_*.json)")
    return record


def register(store, record: RunRecord) -> dict[str, int]:
    """Write ``record`` into ``store`` in one transaction; returns rows written per table."""
    from model_metadata_db.importers import import_lm_eval_results

    counts = {"model_annotations": 1, "dataset_info": 1, "evaluation_results": 0}
    with store.transaction():
        store.upsert_annotation(record.annotation)
        store.upsert_dataset_info(record.dataset_info)
        for path in record.eval_files:
            report = import_lm_eval_results(store, path, model_id=record.model_id)
            counts["evaluation_results"] += report.rows.get("evaluation_results", 0)
        if record.eval_rows:
            store.add_eval_results(record.eval_rows, source="njsl register-run")
            counts["evaluation_results"] += len(record.eval_rows)
    return counts


def register_run(run_dir: str | Path, db: str | Path, *, model_id: str | None = None,
                 eval_results: list[str | Path] | None = None, mix: str | Path | None = None
                 ) -> tuple[RunRecord, dict[str, int]]:
    """Collect ``run_dir`` and write it into the ``.duckdb`` store ``db`` (created when missing)."""
    from pretraining.evaluate.lm_eval import open_or_create_store

    record = collect_run(run_dir, model_id=model_id, eval_results=eval_results, mix=mix)
    store = open_or_create_store(db)
    try:
        return record, register(store, record)
    finally:
        store.close()


@guarded
def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", help="a finished `njsl train` run directory")
    ap.add_argument("--db", default=os.environ.get("NJSL_DB"),
                    help="the .duckdb store to write (created when missing; default $NJSL_DB)")
    ap.add_argument("--model_id", default=None, help="id in the store (default: run_info.json's model_id)")
    ap.add_argument("--eval_results", nargs="+", default=None,
                    help="lm-eval results JSON files (default: RUN_DIR/eval/**/results*.json)")
    ap.add_argument("--mix", default=None, help="the run's mix file, when it moved since training "
                                                 "(default: run_info.json's)")
    args = ap.parse_args(argv)
    if not args.db:
        print("error: give the store with --db PATH (or set NJSL_DB)", file=sys.stderr)
        return 2
    record, counts = register_run(args.run_dir, args.db, model_id=args.model_id, eval_results=args.eval_results,
                                  mix=args.mix)
    print(f"registered {record.model_id} in {args.db}: " + ", ".join(f"{n} {t}" for t, n in counts.items()))
    for note in record.notes:
        print(f"  note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
