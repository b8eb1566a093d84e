"""List the project's functions longer than a limit.

    python benchmarks/long_functions.py [--limit 60] [--top 20] [--with-docstrings]

Length: lines from ``def`` to the last line of the body, without the docstring (``--with-docstrings``: with
it). Prints one line per function (lines, path:line, qualified name), longest first, then the count. Nested
functions count inside their parent too; decorators are not counted.
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("njsl", "tokenization", "metadata", "model_metadata_db", "data_tagging", "whole_corpus_measures",
            "freegens", "pretraining", "performance_prediction")


def _length(fn: ast.FunctionDef | ast.AsyncFunctionDef, docstrings: bool) -> int:
    lines = (fn.end_lineno or fn.lineno) - fn.lineno + 1
    first = fn.body[0]
    if not docstrings and isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
            and isinstance(first.value.value, str):
        lines -= (first.end_lineno or first.lineno) - first.lineno + 1
    return lines


def function_lengths(root: Path = REPO, packages: tuple[str, ...] = PACKAGES,
                     docstrings: bool = False) -> list[tuple[int, str, str]]:
    """(lines, ``path:line``, qualified name) of every function and method under ``packages``, longest first."""
    out: list[tuple[int, str, str]] = []

    def visit(node: ast.AST, where: Path, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                out.append((_length(child, docstrings), f"{where}:{child.lineno}", name))
                visit(child, where, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, where, prefix + child.name + ".")
            else:
                visit(child, where, prefix)

    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            visit(ast.parse(path.read_text(encoding="utf-8")), path.relative_to(root), "")
    return sorted(out, key=lambda row: (-row[0], row[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--top", type=int, default=0, help="print at most this many (0: all over the limit)")
    parser.add_argument("--with-docstrings", action="store_true", help="count docstring lines too")
    args = parser.parse_args(argv)
    rows = [r for r in function_lengths(docstrings=args.with_docstrings) if r[0] > args.limit]
    for lines, where, name in rows[: args.top or None]:
        print(f"{lines:4d}  {where}  {name}")
    print(f"{len(rows)} functions over {args.limit} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
