"""Rebuild the shipped default tokenizer (``whole_corpus_measures/default_tokenizer``).

A byte-level BPE with 16,384 ids trained on this Python's standard library: every 4th module's source
(code) and all module/class/function docstrings (English). It works offline on every machine; pass
``--tokenizer NAME`` to measure with another (e.g. the tokenizer of the model whose data you study).

    .venv/bin/python whole_corpus_measures/make_default_tokenizer.py [--output DIR]
"""
from __future__ import annotations

import argparse
import ast
import gzip
import shutil
import json
import sys
import sysconfig
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--output", default=str(HERE / "default_tokenizer"))
    p.add_argument("--vocab_size", type=int, default=16384)
    args = p.parse_args(argv)
    from tokenization.tokenizer import train_tokenizer

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(f for f in stdlib.rglob("*.py") if "site-packages" not in f.parts)
    with tempfile.TemporaryDirectory() as tmp:
        sample = Path(tmp) / "sample.jsonl"
        with open(sample, "w", encoding="utf-8") as fh:
            for i, f in enumerate(files):
                try:
                    text = f.read_text(encoding="utf-8")
                    tree = ast.parse(text)
                except (UnicodeDecodeError, SyntaxError, ValueError):
                    continue
                if i % 4 == 0:
                    fh.write(json.dumps({"text": text}) + "\n")
                for node in ast.walk(tree):
                    if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                        doc = ast.get_docstring(node)
                        if doc and len(doc) > 40:
                            fh.write(json.dumps({"text": doc}) + "\n")
        train_tokenizer([sample], args.output, vocab_size=args.vocab_size)
    # Shipped compressed (whole_corpus_measures.cli.default_tokenizer_dir unpacks it into the user's cache).
    raw = Path(args.output) / "tokenizer.json"
    with open(raw, "rb") as src, gzip.GzipFile(raw.with_suffix(".json.gz"), "wb", compresslevel=9, mtime=0) as dst:
        shutil.copyfileobj(src, dst)
    raw.unlink()
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
