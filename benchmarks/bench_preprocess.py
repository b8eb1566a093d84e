"""Benchmark ``njsl preprocess``: tokens/s and docs/s per worker, and peak memory against input size.

Corpus: Python's standard library on this machine — every ``.py`` file as one code document, and each
module's docstrings (module, class, function) joined as one natural-language document — written as jsonl
and cut (or repeated, said in the output) to the sizes asked. Tokenizer: a 32k byte-level BPE trained once
on the first 5 MB (cached in the work folder). Each measurement runs in a fresh process; time is the
preprocessing itself (from the manifest: reading, tokenizing, writing .bin/.idx, incl. starting the worker
processes), not Python start-up nor the one-off megatron-core import.

    .venv/bin/python benchmarks/bench_preprocess.py --work /tmp/bench_pre --sizes_mb 10 50 --workers 1 2
"""
from __future__ import annotations

import contextlib
import argparse
import ast
import json
import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def stdlib_documents():
    """Yield (kind, text): each stdlib module's source (code) and its docstrings (NL)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.rglob("*.py")):
        if "site-packages" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        yield "code", text
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            continue
        docs = [ast.get_docstring(n) for n in ast.walk(tree)
                if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))]
        nl = "\n\n".join(d for d in docs if d)
        if len(nl) > 200:
            yield "nl", nl


def build_corpus(path: Path, size_mb: float) -> dict:
    target = int(size_mb * 1e6)
    written = docs = passes = 0
    kinds = {"code": 0, "nl": 0}
    with open(path, "w", encoding="utf-8") as fh:
        while written < target:
            passes += 1
            for kind, text in stdlib_documents():
                line = json.dumps({"text": text, "kind": kind}) + "\n"
                fh.write(line)
                written += len(line.encode())
                docs += 1
                kinds[kind] += len(text)
                if written >= target:
                    break
    return {"path": str(path), "bytes": written, "documents": docs, "passes_over_stdlib": passes,
            "code_chars": kinds["code"], "nl_chars": kinds["nl"]}


def _rss_mb(pid: int, field: str = "VmRSS") -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):  # the task ended meanwhile
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def run_one(args) -> None:
    """In a fresh process: preprocess once, print JSON with rates and peak RSS (main process; each worker).

    Worker memory is sampled from /proc every 0.2 s (``ru_maxrss`` of children would include the parent's
    pages at fork time); the main process's peak is its own ``VmHWM``.
    """
    import threading

    from pretraining.data.preprocess import _megatron_indexed, preprocess
    from tokenization.tokenizer import load_tokenizer

    # Import megatron-core (5-15 s here) and transformers before the clock starts: the rate is the work's.
    _megatron_indexed()
    load_tokenizer(args.tokenizer)
    args.workers = args.workers[0]
    peak_worker = [0.0]
    done = threading.Event()

    def sample():
        while not done.wait(0.2):
            for c in _children(os.getpid()):
                peak_worker[0] = max(peak_worker[0], _rss_mb(c))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    res = preprocess(args.input, args.out, args.tokenizer, workers=args.workers, progress=False,
                     output_prefix=f"bench_w{args.workers}")
    done.set()
    m = res.manifest
    secs = m["seconds"]
    print(json.dumps({"workers": args.workers, "seconds": secs, "documents": m["documents"], "tokens": m["tokens"],
                      "text_mb": m["text_bytes"] / 1e6, "docs_per_s": m["documents"] / secs,
                      "tokens_per_s": m["tokens"] / secs, "mb_per_s": m["text_bytes"] / 1e6 / secs,
                      "docs_per_s_per_worker": m["documents"] / secs / args.workers,
                      "tokens_per_s_per_worker": m["tokens"] / secs / args.workers,
                      "peak_rss_main_mb": round(_rss_mb(os.getpid(), "VmHWM"), 1),
                      "peak_rss_worker_mb": round(peak_worker[0], 1)}))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default="/tmp/njsl_bench_preprocess")
    p.add_argument("--sizes_mb", type=float, nargs="+", default=[10, 50])
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--vocab_size", type=int, default=32000)
    p.add_argument("--_run", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--input"), p.add_argument("--out"), p.add_argument("--tokenizer")
    args = p.parse_args()
    if args._run:
        run_one(args)
        return 0
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    tok_dir = work / f"bpe{args.vocab_size}"
    if not tok_dir.exists():
        from tokenization.tokenizer import train_tokenizer

        sample = work / "tok_sample.jsonl"
        build_corpus(sample, 5)
        t = time.time()
        train_tokenizer([sample], tok_dir, vocab_size=args.vocab_size)
        print(f"# trained {tok_dir} in {time.time() - t:.1f} s", flush=True)
    print(f"# load average before: {Path('/proc/loadavg').read_text().strip()}  cpus: {os.cpu_count()}", flush=True)
    results = []
    for size in args.sizes_mb:
        corpus = work / f"corpus_{size:g}mb.jsonl"
        info = build_corpus(corpus, size)
        print(f"# corpus {json.dumps(info)}", flush=True)
        for w in args.workers:
            cmd = [sys.executable, __file__, "--_run", "--input", str(corpus), "--out", str(work / "out"),
                   "--tokenizer", str(tok_dir), "--workers", str(w)]
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            if proc.returncode:
                print(proc.stderr, file=sys.stderr)
                return 1
            row = {"size_mb": size, **json.loads(proc.stdout.strip().splitlines()[-1]),
                   "loadavg": Path("/proc/loadavg").read_text().split()[0]}
            results.append(row)
            print(json.dumps(row), flush=True)
    print("\n| input | workers | docs/s | docs/s/worker | tokens/s | tokens/s/worker | MB/s "
          "| peak RSS main / worker (MB) | load |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['size_mb']:g} MB | {r['workers']} | {r['docs_per_s']:.0f} | {r['docs_per_s_per_worker']:.0f} | "
              f"{r['tokens_per_s']:,.0f} | {r['tokens_per_s_per_worker']:,.0f} | {r['mb_per_s']:.2f} | "
              f"{r['peak_rss_main_mb']:.0f} / {r['peak_rss_worker_mb']:.0f} | {r['loadavg']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
