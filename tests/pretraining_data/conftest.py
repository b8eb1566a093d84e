"""Fixtures for the pretraining-data tests: a small real corpus (stdlib code + docstrings) and a tiny tokenizer."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest


def stdlib_documents(stdlib_dir: Path, n_code: int = 30, n_doc: int = 30) -> list[str]:
    """Code files and docstrings (natural language) from Python's own standard library, in a stable order."""
    files = sorted(p for p in stdlib_dir.glob("*.py") if 2_000 < p.stat().st_size < 40_000)
    code, docs = [], []
    for p in files:
        text = p.read_text(encoding="utf-8", errors="replace")
        if len(code) < n_code:
            code.append(text)
        if len(docs) < n_doc:
            try:
                doc = ast.get_docstring(ast.parse(text))
            except SyntaxError:
                doc = None
            if doc and len(doc) > 200:
                docs.append(doc)
        if len(code) >= n_code and len(docs) >= n_doc:
            break
    return [d for pair in zip(code, docs, strict=False) for d in pair]


def write_jsonl(path: Path, texts, key: str = "text") -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for t in texts:
            fh.write(json.dumps({key: t}) + "\n")
    return path


@pytest.fixture(scope="session")
def corpus_texts(stdlib_dir) -> list[str]:
    return stdlib_documents(stdlib_dir)


@pytest.fixture(scope="session")
def corpus_jsonl(tmp_path_factory, corpus_texts) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("corpus") / "corpus.jsonl", corpus_texts)


@pytest.fixture(scope="session")
def tok_dir(tmp_path_factory, corpus_jsonl) -> Path:
    from tokenization.tokenizer import train_tokenizer

    return train_tokenizer([corpus_jsonl], tmp_path_factory.mktemp("tok") / "bpe", vocab_size=600)


@pytest.fixture(scope="session")
def jsonl_writer():
    """``write_jsonl(path, texts, key="text")`` for tests that build their own inputs."""
    return write_jsonl
