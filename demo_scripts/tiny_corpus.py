"""Build the tiny pipeline's corpus from Python's standard library: code and natural language, train and held-out.

- code: stdlib ``.py`` files cut into chunks of about ``--chunk_chars`` characters at blank lines;
- natural language: the docstrings of those files (module, class and function docstrings), one document per file.

Files behind the local lm-eval tasks' items (pretraining/evaluate/tasks/njsl_local) are left out entirely, so the
evaluation never scores text the models trained on; every ``--heldout_every``-th remaining file goes to the
held-out split (for perplexity). Output: ``{code,nl}.jsonl`` and ``heldout_{code,nl}.jsonl`` in ``--output``.

    python demo_scripts/tiny_corpus.py --output OUT/corpus [--max_files 400]
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import json
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from njsl.atomic import atomic_open  # noqa: E402
from pretraining.evaluate.tasks.build_local_tasks import source_files, stdlib_files  # noqa: E402


def code_chunks(source: str, chunk_chars: int) -> list[str]:
    """Consecutive blocks of whole paragraphs (split at blank lines), each about ``chunk_chars`` long."""
    chunks, current = [], ""
    for para in source.split("\n\n"):
        current = f"{current}\n\n{para}" if current else para
        if len(current) >= chunk_chars:
            chunks.append(current)
            current = ""
    if current.strip():
        chunks.append(current)
    return chunks


def docstrings(source: str) -> str:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return ""
    nodes = [tree] + [n for n in ast.walk(tree)
                      if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    return "\n\n".join(d for n in nodes if (d := ast.get_docstring(n)) and len(d) > 40)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--output", required=True)
    ap.add_argument("--stdlib_dir", default=sysconfig.get_paths()["stdlib"])
    ap.add_argument("--max_files", type=int, default=None, help="use the first N eligible files (sorted)")
    ap.add_argument("--chunk_chars", type=int, default=3000)
    ap.add_argument("--heldout_every", type=int, default=10)
    args = ap.parse_args(argv)
    root, out = Path(args.stdlib_dir), Path(args.output)
    excluded = source_files()
    files = [p for p in stdlib_files(root) if str(p.relative_to(root)) not in excluded][:args.max_files]
    counts = dict.fromkeys(("code", "nl", "heldout_code", "heldout_nl"), 0)
    with contextlib.ExitStack() as stack:  # on error every atomic_open removes its temporary file
        sinks = {name: stack.enter_context(atomic_open(out / f"{name}.jsonl", "w", encoding="utf-8"))
                 for name in counts}
        for i, path in enumerate(files):
            rel = str(path.relative_to(root))
            source = path.read_text(encoding="utf-8", errors="replace")
            split = "heldout_" if i % args.heldout_every == args.heldout_every - 1 else ""
            docs = [("code", f"{rel}#{k}", c) for k, c in enumerate(code_chunks(source, args.chunk_chars))]
            if text := docstrings(source):
                docs.append(("nl", rel, text))
            for kind, doc_id, text in docs:
                sinks[split + kind].write(json.dumps({"id": doc_id, "text": text}, ensure_ascii=False) + "\n")
                counts[split + kind] += 1
    print(f"{len(files)} stdlib files ({len(excluded)} left out for the eval tasks) -> " +
          ", ".join(f"{n}: {c} docs" for n, c in counts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
