"""``njsl tokenizer train``: train a byte-level BPE or unigram tokenizer and save it in Hugging Face format."""
from __future__ import annotations

import argparse
import sys
from njsl.cli import guarded


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a tokenizer on jsonl/parquet/Arrow documents")
    train.add_argument("--input", nargs="+", required=True, help="files or folders of documents")
    train.add_argument("--output", required=True, help="folder to write (loadable by AutoTokenizer.from_pretrained)")
    train.add_argument("--vocab_size", type=int, required=True)
    train.add_argument("--type", choices=["bpe", "unigram"], default="bpe",
                       help="bpe: byte-level BPE (default; keeps newlines/indentation); unigram")
    train.add_argument("--backend", choices=["tokenizers", "sentencepiece"], default="tokenizers",
                       help="library to train with (sentencepiece: unigram only)")
    train.add_argument("--text_column", default="text")
    train.add_argument("--limit", type=int, default=None, help="train on the first N documents only")
    train.add_argument("--min_frequency", type=int, default=2, help="BPE: minimum pair frequency to merge")
    return parser


@guarded
def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    from tokenization.tokenizer import load_tokenizer, train_tokenizer

    out = train_tokenizer(args.input, args.output, vocab_size=args.vocab_size, type=args.type,
                          backend=args.backend, text_column=args.text_column, limit=args.limit,
                          min_frequency=args.min_frequency, show_progress=sys.stderr.isatty())
    tok = load_tokenizer(out)
    print(f"wrote {out} ({args.type}, vocab {tok.vocab_size}, eos id {tok.eod_id})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
