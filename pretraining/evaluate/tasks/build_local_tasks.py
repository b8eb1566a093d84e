"""Build the small local multiple-choice tasks from Python's standard library sources.

Two tasks, one for code and one for natural language, each item = a context, the real continuation and three
distractors (real continuations taken from *other* functions, so every choice is well-formed text):

- ``njsl_stdlib_nextline`` (code): the preceding lines of a stdlib function → which line comes next?
- ``njsl_docstring_continuation`` (NL): the first sentence of a docstring → which sentence follows it?

Each item records its source file, so a pipeline that trains on stdlib sources can leave those files out
(no train/test overlap). The shipped jsonl files were built with the defaults below::

    python -m pretraining.evaluate.tasks.build_local_tasks --output pretraining/evaluate/tasks/njsl_local
"""
from __future__ import annotations

import argparse
import ast
import json
import random
import re
import sys
import sysconfig
from pathlib import Path
from collections.abc import Iterator

from njsl.atomic import write_text_atomic
from njsl.cli import guarded

NUM_CHOICES = 4
CONTEXT_LINES = 6
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`(])")


def stdlib_files(stdlib_dir: str | Path | None = None) -> list[Path]:
    """Top-level and package ``.py`` files of the standard library (no tests, no site-packages), sorted."""
    root = Path(stdlib_dir or sysconfig.get_paths()["stdlib"])
    skip = ("site-packages", "test", "tests", "idlelib", "lib2to3", "turtledemo", "__pycache__", "encodings")
    files = [p for p in root.rglob("*.py") if not any(part in skip for part in p.relative_to(root).parts)]
    return sorted(files)


def _functions(path: Path) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, list[str]]]:
    try:
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return
    lines = source.splitlines()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node, lines


def _code_candidates(path: Path, root: Path, rng: random.Random) -> Iterator[dict]:
    for node, lines in _functions(path):
        if isinstance(node, ast.ClassDef) or (node.end_lineno or node.lineno) - node.lineno < CONTEXT_LINES + 2:
            continue
        body = lines[node.lineno - 1:node.end_lineno]
        # a target line that is real code (not blank/comment/closing bracket) and long enough to be distinctive
        options = [i for i in range(CONTEXT_LINES, len(body))
                   if len(body[i].strip()) >= 16 and not body[i].strip().startswith(("#", '"', "'"))]
        if not options:
            continue
        i = rng.choice(options)
        yield {"context": "\n".join(body[i - CONTEXT_LINES:i]), "answer": body[i],
               "source": str(path.relative_to(root))}


def _nl_candidates(path: Path, root: Path) -> Iterator[dict]:
    for node, _ in _functions(path):
        doc = ast.get_docstring(node)
        if not doc:
            continue
        para = " ".join(doc.split("\n\n")[0].split())
        sentences = _SENTENCE_END.split(para)
        if len(sentences) < 2 or not 20 <= len(sentences[0]) <= 200 or not 20 <= len(sentences[1]) <= 200:
            continue
        yield {"context": sentences[0], "answer": sentences[1], "source": str(path.relative_to(root))}


def _make_items(candidates: list[dict], n: int, rng: random.Random) -> list[dict]:
    """Sample n items; distractors are answers of other items from other files."""
    rng.shuffle(candidates)
    seen: set[str] = set()
    unique = []
    for c in candidates:
        if c["answer"].strip() not in seen:
            seen.add(c["answer"].strip())
            unique.append(c)
    if len(unique) < n + NUM_CHOICES:
        raise ValueError(f"only {len(unique)} candidate items found; need at least {n + NUM_CHOICES}")
    chosen, pool = unique[:n], unique[n:]
    items = []
    for k, c in enumerate(chosen):
        distractors = [d["answer"] for d in rng.sample(pool, 3 * NUM_CHOICES) if d["source"] != c["source"]]
        choices = [c["answer"]] + distractors[:NUM_CHOICES - 1]
        rng.shuffle(choices)
        items.append({"id": k, "context": c["context"], "choices": choices,
                      "label": choices.index(c["answer"]), "source": c["source"]})
    return items


def build_items(kind: str, n: int = 120, seed: int = 0, stdlib_dir: str | Path | None = None,
                max_files: int | None = None) -> list[dict]:
    """``n`` multiple-choice items of ``kind`` ("code" or "nl") built deterministically from the stdlib
    (from its first ``max_files`` files in sorted order when given)."""
    if kind not in ("code", "nl"):
        raise ValueError(f"kind must be 'code' or 'nl', got {kind!r}")
    root = Path(stdlib_dir or sysconfig.get_paths()["stdlib"])
    rng = random.Random(seed)
    candidates: list[dict] = []
    for path in stdlib_files(root)[:max_files]:
        candidates += list(_code_candidates(path, root, rng) if kind == "code" else _nl_candidates(path, root))
    return _make_items(candidates, n, rng)


TASK_FILES = {"code": "stdlib_nextline.jsonl", "nl": "docstring_continuation.jsonl"}


def write_tasks(output: str | Path, n: int = 120, seed: int = 0, stdlib_dir: str | Path | None = None) -> list[Path]:
    """Write both tasks' jsonl files into ``output``; returns the paths."""
    out = Path(output)
    paths = []
    for kind, name in TASK_FILES.items():
        items = build_items(kind, n=n, seed=seed, stdlib_dir=stdlib_dir)
        write_text_atomic(out / name, "".join(json.dumps(it, ensure_ascii=False) + "\n" for it in items))
        paths.append(out / name)
    return paths


def source_files(folder: str | Path | None = None) -> set[str]:
    """Stdlib files (relative paths) the shipped items come from — leave them out of training corpora."""
    folder = Path(folder) if folder else Path(__file__).resolve().parent / "njsl_local"
    out: set[str] = set()
    for name in TASK_FILES.values():
        with open(folder / name, encoding="utf-8") as fh:
            out.update(json.loads(line)["source"] for line in fh if line.strip())
    return out


@guarded
def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, help="folder for the jsonl files")
    parser.add_argument("--num_items", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stdlib_dir", default=None, help="default: this Python's standard library")
    args = parser.parse_args(argv)
    for path in write_tasks(args.output, args.num_items, args.seed, args.stdlib_dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
