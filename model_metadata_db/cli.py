"""``njsl db``: import, export, inspect and check the model metadata store.

    njsl db import SOURCE...      export folder | metadata_records folder | record / lm-eval / config JSON | CSV
    njsl db create PATH           a new, empty store (writes never create one silently)
    njsl db export FOLDER         EXPORT DATABASE layout (re-imports to identical tables)
    njsl db info                  rows per table, benchmarks, coverage
    njsl db check [--json]        data-quality findings (exit 1 with --strict when there are errors)
    njsl db add-eval RESULTS...   lm-eval 0.4 results JSON (model id from config.model_args or --model-id)
    njsl db add-model PATH        Hugging Face config.json (or model folder) or a model metadata record
    njsl db import-features CSV   a wide feature CSV (e.g. the paper's generation features) -> features table

The store is ``--db PATH``, else ``$NJSL_DB``, else ``metadata/njsl.duckdb`` in the repository.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from njsl.paths import REPO_ROOT

from .conflicts import POLICIES
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
        raise StoreError(f"no store at {path}; create one with `njsl db create {path}` (or `njsl db import SOURCE "
                         f"--db {path} --create`), or pass --db / set NJSL_DB")
    return AnalysisStore.from_existing(path)


def open_for_write(db: Path | None, create: bool = False) -> AnalysisStore:
    """The store to write: it must exist unless ``create`` (a mistyped --db must not start an empty store)."""
    path = Path(db or default_db())
    if path.is_dir():
        raise StoreError(f"{path} is an export folder; writes need a .duckdb file (import the folder into one: "
                         f"`njsl db import {path} --db store.duckdb --create`)")
    if path.exists():
        return AnalysisStore.from_existing(path)
    if not create:
        raise StoreError(f"no store at {path}; nothing was written. Check --db, or create it: `njsl db create "
                         f"{path}` or add --create")
    return AnalysisStore.create(path)


def _print_report(report, verbose: bool = False) -> None:
    print(report.summary())
    diff = report.conflict_frame()
    for r in diff.itertuples() if verbose else diff.head(10).itertuples():
        key = f" {r.key}" if r.key else ""
        print(f"  {r.resolution}: {r.table} {r.id}{key} {r.column}: {r.old!r} -> {r.new!r} (from {r.source})")
    if not verbose and len(diff) > 10:
        print(f"  ... {len(diff) - 10} more conflict(s) (--verbose shows all)")
    for warning in report.warnings if verbose else report.warnings[:5]:
        print(f"  warning: {warning}")
    if not verbose and len(report.warnings) > 5:
        print(f"  ... {len(report.warnings) - 5} more warning(s) (--verbose shows all)")


def _assume_shots(text: str | None):
    if text is None or text == "standard":
        return text
    if not text.isdigit():
        raise StoreError(f"--assume-shots must be a whole number >= 0 or 'standard', got {text!r}")
    return int(text)


def _run_import(args, sources: list[Path], only: str | None = None) -> int:
    """Parse every source (no lock held), then write them all in one transaction."""
    from .batch_import import parse_sources, write_sources
    from .importers.metadata_records import failure_message
    parsed, failed = parse_sources(sources, model_id=args.model_id, assume_shots=_assume_shots(args.assume_shots),
                                   only=only)
    n = len(parsed) + len(failed)
    if failed and not args.continue_on_error:
        raise StoreError(failure_message(failed, n))
    if not parsed:
        raise StoreError("nothing to import: " + (failure_message(failed, n) if failed else "no sources"))
    with open_for_write(args.db, create=getattr(args, "create", False)) as store:
        report = write_sources(store, parsed, on_conflict=args.on_conflict,
                               source=f"{len(parsed)} source file(s)")
        _print_report(report, args.verbose)
        for f in failed:
            print(f"  failed: {f['reason']}")
        print(f"store {store.location}: " + ", ".join(f"{n} {t}" for t, n in store.counts().items()))
    if failed:
        print(f"{len(failed)} file(s) failed and were not imported (listed above)", file=sys.stderr)
        return 1
    return 0


def cmd_import(args) -> int:
    return _run_import(args, args.sources)


def cmd_add_model(args) -> int:
    args.continue_on_error = False
    return _run_import(args, [args.path])


def cmd_add_eval(args) -> int:
    return _run_import(args, args.results, only="lm-eval")


def cmd_create(args) -> int:
    store = AnalysisStore.create(args.path)
    store.close()
    print(f"created empty store {args.path}")
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


def cmd_import_features(args) -> int:
    from .import_features import import_feature_csv

    with open_for_write(args.db, create=args.create) as store:
        ids, values, kept = import_feature_csv(store, args.csv, kind=args.kind, id_column=args.id_column,
                                               source=args.source, overwrite=args.overwrite)
    kept_note = f"; kept {kept} value(s) the store already had (--overwrite to replace)" if kept else ""
    print(f"imported {values} feature value(s) of {ids} {args.kind}(s) from {args.csv}{kept_note}")
    return 0


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog or "njsl db", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("import", help="import export folders, metadata_records folders, JSON or CSV files")
    p.add_argument("sources", nargs="+", type=Path)
    p.add_argument("--model-id", help="model id for lm-eval results / config.json (default: from the file)")
    p.add_argument("--create", action="store_true", help="create the store when it does not exist")
    _import_args(p, multi=True)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("create", help="create a new, empty store")
    p.add_argument("path", type=Path)
    p.set_defaults(func=cmd_create)

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

    p = sub.add_parser("add-eval", help="import lm-eval 0.4 / Open LLM Leaderboard results file(s)")
    p.add_argument("results", nargs="+", type=Path)
    p.add_argument("--model-id", help="model id (default: pretrained= of config.model_args)")
    _import_args(p, multi=True)
    p.set_defaults(func=cmd_add_eval)

    p = sub.add_parser("add-model", help="add a model from a HF config.json / model folder or a metadata record")
    p.add_argument("path", type=Path)
    p.add_argument("--model-id", help="model id (required for a config.json)")
    _import_args(p, multi=False)
    p.set_defaults(func=cmd_add_model)

    p = sub.add_parser("import-features", help="a wide feature CSV (id + one column per feature) -> features")
    p.add_argument("csv", type=Path)
    p.add_argument("--kind", choices=("model", "dataset"), default="model")
    p.add_argument("--id-column", default="id")
    p.add_argument("--source", default=None, help="provenance stored with each value (default: csv:FILE NAME)")
    p.add_argument("--overwrite", action="store_true", help="replace values the store already has")
    p.add_argument("--create", action="store_true", help="create the store when it does not exist")
    _db_arg(p)
    p.set_defaults(func=cmd_import_features)
    return parser


def _import_args(p: argparse.ArgumentParser, multi: bool) -> None:
    p.add_argument("--on-conflict", choices=POLICIES, default="error",
                   help="a stored value would change beyond rounding: error (default: stop, print the diff, write "
                        "nothing), keep the stored value, replace it, or newest (latest last_updated among the "
                        "files of this import)")
    p.add_argument("--assume-shots", metavar="N|standard",
                   help="shot count for scores recorded without one (default: such records are refused)")
    if multi:
        p.add_argument("--continue-on-error", action="store_true",
                       help="import the good files and list the bad ones (default: all or nothing)")
    p.add_argument("-v", "--verbose", action="store_true")
    _db_arg(p)


@guarded
def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
