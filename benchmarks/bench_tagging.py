"""Throughput of the spaCy parse features on ~1.6 KB English documents built from Python's stdlib docstrings.

    python benchmarks/bench_tagging.py [--docs 600] [--n_process 1 2] [--anchor]

Prints one line per configuration: documents/s in steady state (after the first batch, i.e. without model
loading) and end to end, documents per CPU-second (user+system time of the process and its workers, which
other work on a shared machine barely changes), and the load average before and after.
``--anchor`` also times spaCy's own ``nlp.pipe`` with every pipe of the model, single process, for reference.
"""
from __future__ import annotations

import argparse
import ast
import os
import resource
import sys
import sysconfig
import time
from pathlib import Path


def english_docs(n: int, size: int = 1600) -> list[str]:
    """``n`` documents of ~``size`` characters: consecutive long stdlib docstrings packed together."""
    docs, current = [], ""
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 200:
                    current += doc + "\n\n"
                    if len(current) >= size:
                        docs.append(current[: size + 100])
                        current = ""
                        if len(docs) >= n:
                            return docs
    return docs


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "n/a"


def cpu_seconds() -> float:
    """User+system CPU time of this process and of its finished children (the pool workers)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


def bench_ours(texts: list[str], n_process: int, batch_size: int) -> tuple[float, float, float]:
    from njsl.documents import Document

    from data_tagging.runner import iter_tagged

    docs = [Document(str(i), t) for i, t in enumerate(texts)]
    cpu0 = cpu_seconds()
    start = time.perf_counter()
    first_at, first_n, n = None, 0, 0
    for rows in iter_tagged(docs, "parse", {}, n_process=n_process, batch_size=batch_size):
        n += len(rows)
        if first_at is None:
            first_at, first_n = time.perf_counter(), n
    end = time.perf_counter()
    assert n == len(docs)
    steady = (n - first_n) / (end - first_at) if end > first_at else float("nan")
    return steady, n / (end - start), n / (cpu_seconds() - cpu0)


def bench_anchor(texts: list[str]) -> float:
    from data_tagging.language import import_spacy
    from data_tagging.parse import SPACY_MODELS

    spacy = import_spacy()
    for name in SPACY_MODELS:
        try:
            nlp = spacy.load(name)
            break
        except OSError:
            continue
    list(nlp.pipe(texts[:20]))  # warm up
    cpu0 = cpu_seconds()
    start = time.perf_counter()
    for _ in nlp.pipe(texts, batch_size=64):
        pass
    return len(texts) / (time.perf_counter() - start), len(texts) / (cpu_seconds() - cpu0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--docs", type=int, default=600)
    p.add_argument("--n_process", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--anchor", action="store_true", help="also time spaCy's nlp.pipe with all pipes")
    args = p.parse_args(argv)
    texts = english_docs(args.docs)
    mean_len = sum(map(len, texts)) / len(texts)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{len(texts)} docs, mean {mean_len:.0f} chars; {cpus} CPUs usable; python {sys.version.split()[0]}")
    if args.anchor:
        before = loadavg()
        rate, per_cpu = bench_anchor(texts)
        print(f"anchor spaCy nlp.pipe, all pipes, 1 process: {rate:.1f} docs/s, {per_cpu:.1f} docs per CPU-second "
              f"(load {before} -> {loadavg()})")
    for n_process in args.n_process:
        before = loadavg()
        steady, total, per_cpu = bench_ours(texts, n_process, args.batch_size)
        print(f"parse tagger, n_process={n_process}, batch_size={args.batch_size}: {steady:.1f} docs/s steady, "
              f"{total:.1f} docs/s end to end incl. model loading, {per_cpu:.1f} docs per CPU-second incl. "
              f"loading (load {before} -> {loadavg()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
