"""``njsl entropy`` / ``python whole_corpus_measures/entropy.py``: exact whole-corpus next-token entropy.

    njsl entropy --input IN.jsonl --output OUT.json --text_column text [--ngram 1] [--num_docs N]

Tokenizes every document (HF tokenizer; default: the offline byte-level BPE shipped in
whole_corpus_measures/default_tokenizer), counts (previous n tokens, next token) pairs pooled over the
whole corpus, and writes H(next | previous n tokens) in bits: the count-weighted conditional entropy, the
paper's unweighted mean over contexts, median and percentiles, contexts and tokens. ``--ngram`` takes one
or more orders (0 = unigram entropy). A Megatron dataset from ``njsl preprocess`` is read as is (its
tokenizer, EOD removed), so one tokenization serves many measurements. ``--max_memory_mb`` bounds the counts
held in memory; beyond it, sorted runs are spilled to ``--tmp_dir`` and merged, so corpora larger than RAM work.
"""
from __future__ import annotations

import argparse
import itertools
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
from njsl.cli import guarded

DEFAULT_TOKENIZER = "njsl-default-bpe16k"
_SHIPPED_TOKENIZER = Path(__file__).resolve().parent / "default_tokenizer"


def default_tokenizer_dir() -> str:
    """The shipped offline tokenizer as an HF folder.

    It is shipped gzip-compressed (1.1 MB -> 0.2 MB in the repository) and unpacked once into the user's cache,
    under a name that carries the archive's hash so an updated tokenizer never meets a stale copy.
    """
    import gzip
    import hashlib
    import os
    import shutil

    from njsl.atomic import atomic_path

    archive = _SHIPPED_TOKENIZER / "tokenizer.json.gz"
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "njsl" / f"default_tokenizer-{digest}"
    if not (cache / "tokenizer.json").exists():
        with atomic_path(cache) as tmp:
            tmp.mkdir(parents=True)
            with gzip.open(archive, "rb") as src, open(tmp / "tokenizer.json", "wb") as dst:
                shutil.copyfileobj(src, dst)
            shutil.copy(_SHIPPED_TOKENIZER / "tokenizer_config.json", tmp / "tokenizer_config.json")
    return str(cache)


def resolve_tokenizer(spec: str) -> str:
    """``spec`` itself, or the unpacked shipped tokenizer for the default name."""
    return default_tokenizer_dir() if spec == DEFAULT_TOKENIZER else spec


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input", required=True,
                   help="jsonl(.gz/.zst), parquet, Arrow file, HF save_to_disk folder, a folder of them, or a Megatron "
                        "PREFIX(.bin/.idx) written by njsl preprocess (counted without re-tokenizing)")
    p.add_argument("--output", required=True, help="JSON file to write")
    p.add_argument("--text_column", default="text")
    p.add_argument("--resps_format", action="store_true", help="text is resps[0][0] (lm-eval --log_samples files)")
    p.add_argument("--ngram", type=int, nargs="+", default=[1],
                   help="context length(s) n: H(next | previous n tokens); default 1")
    p.add_argument("--num_docs", type=int, default=None, help="use only the first N documents")
    p.add_argument("--tokenizer", default=DEFAULT_TOKENIZER,
                   help="HF tokenizer name or folder, tokenizer.json, or sentencepiece .model "
                        f"(default: {DEFAULT_TOKENIZER}, a byte-level BPE shipped for offline use)")
    p.add_argument("--max_memory_mb", type=float, default=2048, help="bound on counts kept in memory (default 2048)")
    p.add_argument("--tmp_dir", default=None, help="folder for spilled runs (default: system temp)")
    p.add_argument("--batch_chars", type=int, default=None,
                   help="characters tokenized per batch (default: from --max_memory_mb, at most 4M)")
    p.add_argument("--strict", action="store_true",
                   help="a malformed jsonl line is fatal (default: skipped and reported)")
    return p


def token_batches(docs, tok, batch_chars: int):
    """Yield ``(flat ids, lengths)`` per batch of documents (empty documents give length 0, never dropped)."""
    while True:
        batch, chars = [], 0
        for doc in docs:
            batch.append(doc.text)
            chars += len(doc.text)
            if chars >= batch_chars:
                break
        if not batch:
            return
        ids = tok.encode_batch(batch)
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter(itertools.chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
        yield flat, lengths


def megatron_prefix(path: str) -> str | None:
    """The Megatron prefix if ``path`` names a tokenized dataset (``PREFIX``, ``PREFIX.bin`` or ``PREFIX.idx``)."""
    prefix = path[:-4] if path.endswith((".bin", ".idx")) else path
    return prefix if Path(prefix + ".idx").is_file() and Path(prefix + ".bin").is_file() else None


# megatron-core's DType codes (indexed_dataset.DType); the index layout is its _IndexWriter's.
_MEGATRON_DTYPES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64, 7: np.float32,
                    8: np.uint16}


def read_megatron_index(idx_path: str) -> tuple[type, np.ndarray]:
    """(token dtype, sequence lengths) of a Megatron ``.idx``.

    Read directly (the header, then the int32 lengths) because importing megatron-core costs seconds, more
    than counting a million tokens; a test checks it against megatron-core's own ``_IndexReader``.
    """
    with open(idx_path, "rb") as fh:
        if fh.read(9) != b"MMIDIDX\x00\x00":
            raise ValueError(f"{idx_path}: not a Megatron index file (bad header)")
        version, code, n_seq, _n_doc = np.frombuffer(fh.read(8 + 1 + 8 + 8), dtype=np.dtype("<u8,u1,<u8,<u8"))[0]
        if int(version) != 1 or int(code) not in _MEGATRON_DTYPES:
            raise ValueError(f"{idx_path}: unsupported Megatron index (version {version}, dtype code {code})")
        lengths = np.frombuffer(fh.read(4 * int(n_seq)), dtype="<i4")
    return _MEGATRON_DTYPES[int(code)], lengths


def megatron_token_batches(prefix: str, num_docs: int | None, strip_eod: bool, batch_tokens: int = 1 << 22):
    """Yield ``(flat ids, lengths)`` straight from a ``.bin/.idx`` pair (no tokenization), in document order."""
    dtype, seq_lengths = read_megatron_index(prefix + ".idx")
    lengths_all = seq_lengths.astype(np.int64)[:num_docs]
    itemsize = np.dtype(dtype).itemsize
    ends = np.cumsum(lengths_all)
    start_doc, start_tok = 0, 0
    while start_doc < len(lengths_all):
        stop_doc = max(int(np.searchsorted(ends, start_tok + batch_tokens, side="right")), start_doc + 1)
        lengths = lengths_all[start_doc:stop_doc].copy()
        # explicit reads rather than a memory map: only the current batch is ever resident
        flat = np.fromfile(prefix + ".bin", dtype=dtype, count=int(ends[stop_doc - 1]) - start_tok,
                           offset=start_tok * itemsize).astype(np.int64)
        if strip_eod:  # the EOD that preprocessing appended is not text: drop the last id of each document
            keep = np.ones(len(flat), dtype=bool)
            keep[np.cumsum(lengths)[lengths > 0] - 1] = False
            flat, lengths = flat[keep], np.maximum(lengths - 1, 0)
        yield flat, lengths
        start_doc, start_tok = stop_doc, int(ends[stop_doc - 1])


def _batch_size(max_memory_mb: float, bytes_per_item: int, cap: int) -> int:
    """Items per input batch so that a batch takes about a quarter of the memory budget."""
    return int(min(max(max_memory_mb * 1e6 / 4 / bytes_per_item, 1 << 12), cap))


def run(args) -> dict:
    from njsl.documents import ReadReport, iter_documents
    from tokenization.tokenizer import load_tokenizer
    from whole_corpus_measures.ngram_entropy import corpus_entropy

    t0 = time.time()
    if args.num_docs is not None and args.num_docs < 1:
        raise ValueError(f"--num_docs must be >= 1, got {args.num_docs}")
    if any(n < 0 for n in args.ngram):
        raise ValueError(f"--ngram must be >= 0, got {args.ngram}")
    if args.max_memory_mb <= 0:
        raise ValueError(f"--max_memory_mb must be > 0, got {args.max_memory_mb}")
    from tqdm import tqdm

    report = ReadReport()
    prefix = megatron_prefix(str(args.input))
    if prefix is not None:  # already tokenized by njsl preprocess: count straight from the .bin
        manifest_path = Path(prefix + ".manifest.json")
        manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
        if "tokenizer" not in manifest:
            raise ValueError(f"{prefix}: no manifest with the tokenizer's vocab size beside the .bin/.idx; "
                             "create it with njsl preprocess")
        tok_name, vocab = manifest["tokenizer"]["name"], int(manifest["tokenizer"]["vocab_size"])
        batches = megatron_token_batches(prefix, args.num_docs, bool(manifest.get("append_eod")),
                                         batch_tokens=_batch_size(args.max_memory_mb, 16, 1 << 22))
        t_setup = time.time() - t0
    else:
        tok = load_tokenizer(resolve_tokenizer(args.tokenizer))
        tok_name = tok.spec if args.tokenizer != DEFAULT_TOKENIZER else DEFAULT_TOKENIZER
        vocab = tok.vocab_size
        docs = iter_documents(args.input, text_column=args.text_column, resps_format=args.resps_format,
                              strict=args.strict, skip_empty=False, limit=args.num_docs, report=report)
        # ~100 bytes of Python objects per character while a batch is tokenized (ids lists, Encodings)
        batch_chars = args.batch_chars or _batch_size(args.max_memory_mb, 100, 4_000_000)
        batches = token_batches(docs, tok, batch_chars)
    t_setup = time.time() - t0  # loading the tokenizer (transformers import) is reported apart from the work

    bar = tqdm(desc="entropy", unit=" tok", unit_scale=True, disable=None)

    def counted(batches):
        for flat, lengths in batches:
            bar.update(len(flat))
            yield flat, lengths

    res = corpus_entropy(counted(batches), args.ngram, vocab,
                         max_memory_mb=args.max_memory_mb, tmp_dir=args.tmp_dir)
    bar.close()
    seconds = time.time() - t0 - t_setup
    return {
        "input": str(args.input),
        "text_column": None if args.resps_format else args.text_column,
        "resps_format": bool(args.resps_format),
        "tokenizer": tok_name,
        "vocab_size": vocab,
        "pretokenized": prefix is not None,
        "num_docs": args.num_docs,
        "documents": res.documents,
        "empty_documents": res.empty_documents,
        "tokens": res.tokens,
        "malformed_lines": [{"file": f, "line": n, "reason": why} for f, n, why in report.malformed_lines],
        "decode_replacements": report.decode_replacements,
        "log_base": 2,
        "entropy": {str(o["n"]): o for o in res.orders},
        "setup_seconds": round(t_setup, 3),
        "seconds": round(seconds, 3),
        "tokens_per_second": res.tokens / seconds if seconds else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "max_memory_mb": args.max_memory_mb,
    }


@guarded
def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    from njsl.atomic import write_text_atomic

    out = run(args)
    write_text_atomic(args.output, json.dumps(out, indent=1) + "\n")
    if out["malformed_lines"]:
        shown = ", ".join(f"{Path(m['file']).name}:{m['line']}" for m in out["malformed_lines"][:10])
        print(f"warning: skipped {len(out['malformed_lines'])} malformed line(s): {shown}", file=sys.stderr)
    for n, o in out["entropy"].items():
        print(f"n={n}: H(next|ctx) = {o['conditional_entropy_bits']:.4f} bits (weighted), "
              f"mean over {o['contexts']:,} contexts = {o['mean_context_entropy_bits']:.4f}, "
              f"median {o['median_context_entropy_bits']:.4f}")
    print(f"{out['documents']:,} documents, {out['tokens']:,} tokens in {out['seconds']:.1f} s "
          f"(+{out['setup_seconds']:.1f} s loading the tokenizer) -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
