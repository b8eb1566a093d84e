"""Tiny real data for the architecture tests: nucleotide sequences derived from Python's own sources.

Each byte of a standard-library docstring/source becomes 4 nucleotides (2 bits each, ACGT), so the
sequences carry real, learnable structure (ASCII text) while using only the k-mer alphabet.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

# One thread: the tiny models are latency-bound, and with 2+ threads on a loaded 2-core machine
# thread contention makes a Mamba step 20-50x slower.
torch.set_num_threads(1)


def text_to_dna(text: str) -> str:
    """Each byte → 4 bases, most significant bits first (reversible, alphabet ACGT)."""
    return "".join("ACGT"[(b >> s) & 3] for b in text.encode("utf-8") for s in (6, 4, 2, 0))


def stdlib_texts(stdlib_dir: Path, n_docs: int = 160, max_chars: int = 300) -> list[str]:
    docs: list[str] = []
    for path in sorted(stdlib_dir.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 60:
                    docs.append(doc[:max_chars])
                    if len(docs) >= n_docs:
                        return docs
    return docs


@pytest.fixture(scope="session")
def dna_data(tmp_path_factory, stdlib_dir) -> dict:
    """A saved 3-mer tokenizer folder and a .bin/.idx dataset of nucleotide documents (via njsl preprocess)."""
    import json

    from tokenization.kmer import save_kmer_tokenizer
    from pretraining.data.preprocess import preprocess

    root = tmp_path_factory.mktemp("dna_data")
    tok_dir = save_kmer_tokenizer("3mer", root / "tokenizer_3mer")
    docs = [text_to_dna(t) for t in stdlib_texts(stdlib_dir)]
    src = root / "docs.jsonl"
    src.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs), encoding="utf-8")
    result = preprocess(src, root / "bin", str(tok_dir), workers=1, progress=False)
    return {"prefix": str(result.prefix), "tokenizer": str(tok_dir), "docs": docs, "root": root}
