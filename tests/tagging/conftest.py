"""Tiny real data for the tagging tests: English docstrings and source files from Python's stdlib."""
from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


def stdlib_docstrings(stdlib_dir: Path, n: int, min_chars: int = 300) -> list[str]:
    """The first ``n`` long docstrings of stdlib modules/classes/functions, in a stable order."""
    out: list[str] = []
    for path in sorted(stdlib_dir.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) >= min_chars:
                    out.append(doc)
                    if len(out) >= n:
                        return out
    return out


@pytest.fixture(scope="session")
def docstrings(stdlib_dir: Path) -> list[str]:
    return stdlib_docstrings(stdlib_dir, 60)


def write_jsonl(path: Path, records: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")
    return path


@pytest.fixture(scope="session")
def jsonl():
    """``jsonl(path, records) -> path``: write records as JSON lines."""
    return write_jsonl


@pytest.fixture
def docs_jsonl(tmp_path: Path, docstrings: list[str]) -> Path:
    return write_jsonl(tmp_path / "docs.jsonl", [{"id": f"doc{i}", "text": t} for i, t in enumerate(docstrings[:24])])
