"""``njsl db``: import, export, inspect and check the model metadata store.

    njsl db import SOURCE...      export folder | metadata_records folder | record / lm-eval / config JSON
    njsl db export FOLDER         EXPORT DATABASE layout (re-imports to identical tables)
    njsl db info                  rows per table, benchmarks, coverage
    njsl db check [--json]        data-quality findings (exit 1 with --strict when there are errors)
    njsl db add-eval RESULTS...   lm-eval 0.4 results JSON (model id from config.model_args or --model-id)
    njsl db add-model PATH        Hugging Face config.json (or model folder) or a model metadata record

The store is ``--db PATH``, else ``$NJSL_DB``, else ``metadata/njsl.duckdb`` in the repository.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from njsl.paths import REPO_ROOT

from .errors import StoreError
from .store import AnalysisStore
from njsl.cli import guarded

DB_ENV = "NJSL_DB"


def default_db() -> Path:
    env = os.environ.get(DB_ENV)
    return Path(env) if env else REPO_ROOT / "metadata" / "njsl.duckdb"


def _db_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, default=None,
                        help=f"store: a .duckdb file or an export folder (default: ${DB_ENV} or metadata/njsl.duckdb)")


def open_for_read(db: Path | None) -> AnalysisStore:
    path = db or default_db()
    if not Path(path).exists():
        raise StoreError(f"no store at {path}; create one with `njsl db import SOURCE --db {path}` "
                         "or pass --db / set NJSL_DB")
    return AnalysisStore.from_existing(path)


def open_for_write(db: Path | None) -> AnalysisStore:
    path = Path(db or default_db())
    if path.is_dir():
        raise StoreError(f"{path} is an export folder; writes need a .duckdb file (import the folder into one: "
                         f"`njsl db import {path} --db store.duckdb`)")
    return AnalysisStore.from_existing(path) if path.exists() else AnalysisStore.create(path)


def _print_report(report, verbose: bool = False) -> None:
    print(report.summary())
    for warning in report.warnings if verbose else report.warnings[:5]:
        print(f"  warning: {warning}")
    if not verbose and len(report.warnings) > 5:
        print(f"  ... {len(report.warnings) - 5} more warning(s) (--verbose shows all)")


def _source_kind(path: Path) -> str:
    if path.is_dir():
        if (path / "load.sql").is_file():
            return "export"
        if any((path / d).is_dir() for d in ("model_metadata", "dataset_metadata", "model_scores")):
            return "records"
        if (path / "config.json").is_file():
            return "hf-config"
        raise StoreError(f"{path}: not an export folder (load.sql), a metadata_records folder or a model folder")
    from .importers.common import read_json
    data = read_json(path)
    if isinstance(data, dict):
        if "results" in data and ("n-shot" in data or "configs" in data or "config" in data):
            return "lm-eval"
        if "model_type" in data and "id" not in data:
            return "hf-config"
        if "results" in data or "summary" in data or "sha" in data or "id" in data:
            return "record"
    raise StoreError(f"{path}: cannot tell what this JSON is (lm-eval results, metadata record or config.json); "
                     "use `njsl db add-eval` or `njsl db add-model`")


def cmd_import(args) -> int:
    from .importers import import_export_folder, import_lm_eval_results
    from .importers.metadata_records import import_metadata_record, import_metadata_records
    failed = 0
    with open_for_write(args.db) as store, store.session():
        for source in args.sources:
            kind = _source_kind(source)
            if kind == "export":
                _print_report(import_export_folder(store, source), args.verbose)
            elif kind == "records":
                result = import_metadata_records(store, source)
                for k, c in result.counts().items():
                    print(f"{k}: {c['imported']} imported, {c['failed']} failed")
                for f in result.failures():
                    print(f"  failed: {f['reason']}")
                failed += len(result.failures())
            elif kind == "lm-eval":
                _print_report(import_lm_eval_results(store, source, args.model_id), args.verbose)
            elif kind == "hf-config":
                _add_hf_config(store, source, args.model_id)
            else:
                _print_report(import_metadata_record(store, source), args.verbose)
        print(f"store {store.location}: " + ", ".join(f"{n} {t}" for t, n in store.counts().items()))
    return 1 if failed and args.strict else 0


def _add_hf_config(store, path: Path, model_id: str | None) -> None:
    from .importers import annotation_from_hf_config, read_hf_config
    if not model_id:
        raise StoreError(f"{path}: a config.json does not name its model; pass --model-id org/name")
    row = annotation_from_hf_config(read_hf_config(path), model_id)
    store.upsert_annotation(row)
    print(f"{model_id}: annotation written ({row['num_layers']} layers, d={row['dimension']}, "
          f"{row['total_params']:,} params, {row['attention_variant']}, {row['block_type']})")


def cmd_add_model(args) -> int:
    from .importers.metadata_records import import_metadata_record
    with open_for_write(args.db) as store:
        if _source_kind(args.path) == "hf-config":
            _add_hf_config(store, args.path, args.model_id)
        else:
            _print_report(import_metadata_record(store, args.path, "model"), args.verbose)
    return 0


def cmd_add_eval(args) -> int:
    from .importers import import_lm_eval_results
    with open_for_write(args.db) as store:
        for path in args.results:
            _print_report(import_lm_eval_results(store, path, args.model_id), args.verbose)
    return 0


def cmd_export(args) -> int:
    with open_for_read(args.db) as store:
        folder = store.export(args.folder, overwrite=args.overwrite)
        print(f"exported {store.location} to {folder}: " +
              ", ".join(f"{n} {t}" for t, n in store.counts().items()))
    return 0


def cmd_info(args) -> int:
    import pandas as pd
    with open_for_read(args.db) as store:
        counts = store.counts()
        print(f"store: {store.location}")
        for table, n in counts.items():
            print(f"  {table:<20} {n:>8,}")
        bench = store.benchmarks()
        print(f"\n{len(bench)} score series (benchmark × setting × metric) over "
              f"{bench['benchmark'].nunique()} benchmark names; top {args.top} by models:")
        with pd.option_context("display.width", 160, "display.max_columns", 20):
            print(store.coverage().head(args.top).to_string(index=False))
    return 0


def cmd_check(args) -> int:
    from .checks import check_store
    with open_for_read(args.db) as store:
        findings = check_store(store)
    if args.json:
        print(json.dumps([f.as_dict() for f in findings], indent=2, default=str))
    else:
        for f in findings:
            print(f"[{f.severity:<7}] {f.code}: {f.message}")
            for example in f.examples[:3]:
                print(f"            e.g. {example}")
    errors = sum(1 for f in findings if f.severity == "error" and f.count)
    return 1 if args.strict and errors else 0


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog or "njsl db", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("import", help="import export folders, metadata_records folders or JSON files")
    p.add_argument("sources", nargs="+", type=Path)
    p.add_argument("--model-id", help="model id for lm-eval results / config.json (default: from the file)")
    p.add_argument("--strict", action="store_true", help="exit 1 when any record file failed")
    p.add_argument("-v", "--verbose", action="store_true")
    _db_arg(p)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("export", help="write an EXPORT DATABASE folder")
    p.add_argument("folder", type=Path)
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty folder")
    _db_arg(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("info", help="rows per table, benchmarks and coverage")
    p.add_argument("--top", type=int, default=20)
    _db_arg(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("check", help="report data-quality problems")
    p.add_argument("--json", action="store_true", help="machine-readable findings")
    p.add_argument("--strict", action="store_true", help="exit 1 when an error-level finding is present")
    _db_arg(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("add-eval", help="import lm-eval 0.4 results JSON file(s)")
    p.add_argument("results", nargs="+", type=Path)
    p.add_argument("--model-id", help="model id (default: pretrained= of config.model_args)")
    p.add_argument("-v", "--verbose", action="store_true")
    _db_arg(p)
    p.set_defaults(func=cmd_add_eval)

    p = sub.add_parser("add-model", help="add a model from a HF config.json / model folder or a metadata record")
    p.add_argument("path", type=Path)
    p.add_argument("--model-id", help="model id (required for a config.json)")
    p.add_argument("-v", "--verbose", action="store_true")
    _db_arg(p)
    p.set_defaults(func=cmd_add_model)
    return parser


@guarded
def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
