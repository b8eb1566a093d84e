"""``njsl preprocess``: tokenize documents into a Megatron indexed dataset (.bin/.idx + manifest).

Same arguments as ``demo_scripts/preprocess_data.sh <input> <bin dir> <json dir> <tokenizer> <workers>``.
"""
from __future__ import annotations

import argparse
import sys
from njsl.cli import guarded


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", required=True, help="Arrow file/dir, HF save_to_disk folder, parquet, jsonl(.gz/.zst)")
    p.add_argument("--output_dir", required=True, help="folder for <name>.bin/.idx/.manifest.json")
    p.add_argument("--json_dir", default=None,
                   help="folder for intermediate files: per-shard resume state and, with --keep_jsonl, the jsonl "
                        "(default: --output_dir)")
    p.add_argument("--tokenizer", required=True,
                   help="HF tokenizer name or folder, tokenizer.json, or sentencepiece .model")
    p.add_argument("--workers", type=int, default=1, help="tokenizer worker processes (default 1)")
    p.add_argument("--text_column", default="text")
    p.add_argument("--append_eod", dest="append_eod", action="store_true", default=True,
                   help="append the tokenizer's EOS id after every document (default)")
    p.add_argument("--no_append_eod", dest="append_eod", action="store_false", help="do not append it")
    p.add_argument("--limit", type=int, default=None, help="stop after N non-empty documents")
    p.add_argument("--keep_jsonl", action="store_true",
                   help="also write <json_dir>/<name>.jsonl of the documents written")
    p.add_argument("--output_prefix", default=None,
                   help="output name inside --output_dir (default: <input stem>_<text column>_document)")
    p.add_argument("--batch_docs", type=int, default=256, help="documents per tokenizer call (default 256)")
    p.add_argument("--overwrite", action="store_true",
                   help="write even where --output_dir holds another tokenizer's output (default: refuse)")
    p.add_argument("--allow_unk", action="store_true",
                   help="k-mer tokenizers: keep input with more unknown tokens than --max_unk_rate (default: refuse)")
    p.add_argument("--max_unk_rate", type=float, default=None,
                   help="k-mer tokenizers: the largest share of unknown tokens accepted (default 0.10)")
    return p


@guarded
def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    from pretraining.data.preprocess import preprocess

    result = preprocess(args.input, args.output_dir, args.tokenizer, workers=args.workers, json_dir=args.json_dir,
                        text_column=args.text_column, append_eod=args.append_eod, limit=args.limit,
                        keep_jsonl=args.keep_jsonl, output_prefix=args.output_prefix, batch_docs=args.batch_docs,
                        overwrite=args.overwrite, allow_unk=args.allow_unk,
                        **({} if args.max_unk_rate is None else {"max_unk_rate": args.max_unk_rate}))
    m = result.manifest
    sk = m["skipped"]
    print(f"wrote {result.prefix}.bin/.idx ({m['dtype']}): {m['documents']} documents, {m['tokens']} tokens "
          f"in {m['seconds']:.1f} s; skipped {sk['empty_documents']} empty, {sk['malformed_lines']} malformed line(s), "
          f"{sk['decode_replacements']} line(s) with invalid UTF-8 replaced"
          + (f"; resumed {result.resumed_shards} shard(s)" if result.resumed_shards else ""))
    if m["unknown_rate"]:
        print(f"unknown tokens: {m['unknown_tokens']} ({m['unknown_rate']:.2%} of the text tokens)")
    for src in m["sources"]:
        for line in src["malformed"]:
            print(f"  malformed: {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
