"""Pieces shared by ``njsl entropy`` and its datatrove pipelines: the shipped tokenizer, token batches, the
output record."""
from __future__ import annotations

import itertools
import resource
from pathlib import Path

import numpy as np

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


def entropy_record(args, res, report, tokenizer: str, vocab: int, pretokenized: bool, setup_seconds: float,
                   seconds: float) -> dict:
    """The JSON written by ``njsl entropy`` (same fields whichever executor counted)."""
    return {
        "input": str(args.input),
        "text_column": None if args.resps_format else args.text_column,
        "resps_format": bool(args.resps_format),
        "tokenizer": tokenizer,
        "vocab_size": vocab,
        "pretokenized": pretokenized,
        "num_docs": args.num_docs,
        "documents": res.documents,
        "empty_documents": res.empty_documents,
        "tokens": res.tokens,
        "malformed_lines": [{"file": f, "line": n, "reason": why} for f, n, why in report.malformed_lines],
        "decode_replacements": report.decode_replacements,
        "log_base": 2,
        "entropy": {str(o["n"]): o for o in res.orders},
        "setup_seconds": round(setup_seconds, 3),
        "seconds": round(seconds, 3),
        "tokens_per_second": res.tokens / seconds if seconds else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "max_memory_mb": args.max_memory_mb,
    }
