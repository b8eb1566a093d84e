"""Benchmark ``njsl entropy``: time and peak memory from 1M to 50M tokens, against the paper's entropy.py.

Corpus: unique ``.py`` files on this machine (the standard library, then the project's site-packages),
as jsonl. Two measurements, each in a fresh process (``python -m whole_corpus_measures.cli``):

* end to end from text (tokenize with the shipped default tokenizer + count), ~1M tokens, n = 1 and 3 — the
  paper's anchors (its entropy.py: 1M tokens in 13 s at n=1, 38.6 s at n=3, 309–745 MB);
* counting only, from the Megatron dataset ``njsl preprocess`` wrote once (``--input PREFIX``), for
  1M…50M tokens, in memory and with a small ``--max_memory_mb`` that forces spilling to disk.

    .venv/bin/python benchmarks/bench_entropy.py --work /tmp/bench_ent --tokens_m 1 5 10 50
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import site
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def source_files():
    roots = [Path(sysconfig.get_paths()["stdlib"])] + [Path(p) for p in site.getsitepackages()]
    seen = set()
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if root.name != "site-packages" and "site-packages" in path.parts:
                continue
            try:
                data = path.read_bytes()
            except OSError:
                continue
            digest = hashlib.sha1(data).digest()
            if digest in seen or len(data) < 200:
                continue
            seen.add(digest)
            yield data.decode("utf-8", errors="replace")


def build_corpus(path: Path, size_mb: float) -> int:
    written = 0
    with open(path, "w", encoding="utf-8") as fh:
        for text in source_files():
            line = json.dumps({"text": text}) + "\n"
            fh.write(line)
            written += len(line)
            if written >= size_mb * 1e6:
                break
    return written


def run_cli(argv: list[str]) -> dict:
    out = Path(argv[argv.index("--output") + 1])
    t = time.time()
    proc = subprocess.run([sys.executable, "-m", "whole_corpus_measures.cli", *argv], cwd=ROOT, capture_output=True,
                          text=True)
    wall = time.time() - t
    if proc.returncode:
        raise RuntimeError(proc.stderr)
    res = json.loads(out.read_text())
    res["wall_s"] = wall
    return res


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default="/tmp/njsl_bench_entropy")
    p.add_argument("--tokens_m", type=float, nargs="+", default=[1, 5, 10, 50])
    p.add_argument("--orders", type=int, nargs="+", default=[1, 3])
    p.add_argument("--spill_mb", type=float, default=64, help="--max_memory_mb for the spilling runs")
    p.add_argument("--corpus_mb", type=float, default=0, help="text to tokenize (default: 4.5 MB per 1M tokens)")
    args = p.parse_args()
    from whole_corpus_measures.cli import default_tokenizer_dir, read_megatron_index

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    load = lambda: Path("/proc/loadavg").read_text().split()[0]  # noqa: E731
    print(f"# load average before: {Path('/proc/loadavg').read_text().strip()}  cpus: {os.cpu_count()}", flush=True)
    corpus = work / "corpus.jsonl"
    corpus_mb = args.corpus_mb or 4.5 * max(args.tokens_m) + 5
    if not corpus.exists() or corpus.stat().st_size < corpus_mb * 1e6 * 0.99:
        print(f"# corpus: {build_corpus(corpus, corpus_mb) / 1e6:.1f} MB of unique .py files", flush=True)
    prefix = work / "bin" / "corpus_text_document"
    if not Path(f"{prefix}.idx").exists():
        t = time.time()
        subprocess.run([sys.executable, "-m", "pretraining.data.preprocess_cli", "--input", str(corpus),
                        "--output_dir", str(work / "bin"), "--tokenizer", default_tokenizer_dir(), "--workers", "2"],
                       cwd=ROOT, check=True)
        print(f"# tokenized once with njsl preprocess (2 workers) in {time.time() - t:.0f} s", flush=True)
    _, lengths = read_megatron_index(f"{prefix}.idx")
    cum = np.cumsum(lengths.astype(np.int64) - 1)  # minus the EOD each document carries
    rows = []

    def record(kind, tokens_target, n, mem, res):
        o = res["entropy"][str(n)]
        row = {"kind": kind, "tokens_target_m": tokens_target, "n": n, "max_memory_mb": mem, "tokens": res["tokens"],
               "documents": res["documents"], "seconds": res["seconds"], "wall_s": round(res["wall_s"], 2),
               "tokens_per_s": res["tokens"] / res["seconds"], "peak_rss_mb": res["peak_rss_mb"],
               "spilled_runs": o["spilled_runs"], "contexts": o["contexts"],
               "H_weighted": o["conditional_entropy_bits"], "H_mean": o["mean_context_entropy_bits"], "load": load()}
        rows.append(row)
        print(json.dumps(row), flush=True)

    # 1) end to end from text, ~1M tokens: the paper's anchors
    docs_1m = int(np.searchsorted(cum, 1_000_000)) + 1
    for n in args.orders:
        out = work / f"e2e_n{n}.json"
        res = run_cli(["--input", str(corpus), "--output", str(out), "--ngram", str(n), "--num_docs", str(docs_1m)])
        record("text->entropy", 1, n, 2048, res)
    # 2) counting only from the tokenized corpus, growing size, in memory and spilling
    for tm in args.tokens_m:
        docs = int(np.searchsorted(cum, tm * 1e6)) + 1
        if cum[-1] < tm * 1e6 * 0.95:
            print(f"# only {cum[-1]:,} tokens available; skipping {tm}M", flush=True)
            continue
        for n in args.orders:
            for mem in (4096, args.spill_mb):
                out = work / f"count_{tm:g}m_n{n}_{mem:g}.json"
                res = run_cli(["--input", str(prefix), "--output", str(out), "--ngram", str(n), "--num_docs", str(docs),
                               "--max_memory_mb", str(mem), "--tmp_dir", str(work)])
                record("tokenized->entropy", tm, n, mem, res)
    print("\n| input | tokens | n | --max_memory_mb | time (s) | tokens/s | × paper | peak RSS (MB) "
          "| spilled runs | load |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    paper = {1: 1e6 / 13, 3: 1e6 / 38.6}
    for r in rows:
        ratio = f"{r['tokens_per_s'] / paper[r['n']]:.1f}" if r["n"] in paper else "-"
        print(f"| {r['kind']} | {r['tokens']:,} | {r['n']} | {r['max_memory_mb']:g} | {r['seconds']:.2f} | "
              f"{r['tokens_per_s']:,.0f} | {ratio} | {r['peak_rss_mb']:.0f} | {r['spilled_runs']} | {r['load']} |")
    (work / "results.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
