"""A small real corpus split over several jsonl files: paragraphs of Python's standard library sources."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


def stdlib_paragraphs(stdlib_dir: Path, n: int) -> list[str]:
    out: list[str] = []
    for path in sorted(stdlib_dir.glob("*.py")):
        for para in path.read_text(encoding="utf-8", errors="replace").split("\n\n"):
            if len(para.strip()) >= 200:
                out.append(para)
                if len(out) >= n:
                    return out
    return out


def write_corpus(folder: Path, texts: list[str], n_files: int, with_ids: bool = True) -> Path:
    """``texts`` dealt into ``n_files`` jsonl files (plus one empty document and one malformed line in the first)."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(n_files):
        with open(folder / f"part{f:02d}.jsonl", "w", encoding="utf-8") as fh:
            for k in range(f, len(texts), n_files):
                rec = {"text": texts[k]}
                if with_ids:
                    rec["id"] = f"doc{k}"
                fh.write(json.dumps(rec) + "\n")
            if f == 0:
                fh.write(json.dumps({"id": "empty", "text": "   "}) + "\n")
                fh.write("{not json\n")
    return folder


@pytest.fixture(scope="session")
def paragraphs(stdlib_dir: Path) -> list[str]:
    return stdlib_paragraphs(stdlib_dir, 90)


@pytest.fixture
def corpus(tmp_path: Path, paragraphs: list[str]) -> Path:
    return write_corpus(tmp_path / "docs", paragraphs, 3)


@pytest.fixture(scope="session")
def corpus_writer():
    """``write_corpus(folder, texts, n_files)`` (test modules cannot import conftest under import-mode=importlib)."""
    return write_corpus
