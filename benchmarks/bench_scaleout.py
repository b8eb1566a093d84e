"""Today's process pools against datatrove's local executor, in one run, on the same corpus (issue 17).

    python benchmarks/bench_scaleout.py [--docs 240] [--count_docs 3000] [--files 8] [--workers 2] [--repeats 2]

Corpora: ~1.6 KB English documents (stdlib docstrings, as bench_tagging.py) dealt into ``--files`` jsonl files:
``--docs`` of them for tagging (``--features``, default ``all``: spaCy parse dominates) and ``--count_docs`` for
entropy and preprocessing (docstrings repeat cyclically past the stdlib's supply). Per repeat, each stage runs
both ways, alternating which goes first, with ``--workers`` processes:

* tagging: ``run_tagging(n_process=W)`` (one parquet) vs the tagging pipeline (tasks = files, W at once; each
  worker process loads the models once, like a pool worker);
* entropy: today's single-process count (it has no pool) vs count tasks (tasks = files, W at once) + merge;
* preprocess: ``preprocess(workers=W)`` vs tokenize tasks (tasks = files, W at once) + assemble.

Wall time includes everything each path does (model/tokenizer loading, datatrove's start, the merge), so
the figure is what a user waits. Each repeat also checks that both outputs agree (rows, numbers, bytes).
Prints one line per stage and repeat, then the best of the repeats and new/today ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_tagging import english_docs, loadavg  # noqa: E402


def build_corpus(folder: Path, pool: list[str], n_docs: int, n_files: int) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    docs = [pool[k % len(pool)] for k in range(n_docs)]
    for f in range(n_files):
        with open(folder / f"part{f:02d}.jsonl", "w", encoding="utf-8") as fh:
            for k in range(f, len(docs), n_files):
                fh.write(json.dumps({"id": f"d{k}", "text": docs[k]}) + "\n")
    return len(docs)


def cpu_seconds() -> float:
    """User+system CPU time of this process and its reaped children (pool workers, task processes)."""
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def timed(fn):
    t, c = time.perf_counter(), cpu_seconds()
    out = fn()
    return time.perf_counter() - t, cpu_seconds() - c, out


def bench_tagging(corpus: Path, work: Path, features: str, workers: int, files: int):
    import pandas as pd

    from data_tagging.pipeline import from_attribute_columns, run_tagging_pipeline
    from data_tagging.runner import run_tagging
    from njsl.scaleout.executors import parse_options

    def today():
        run_tagging(corpus, work / "tag.parquet", features, n_process=workers, overwrite=True, progress=False)
        return pd.read_parquet(work / "tag.parquet")

    def new():
        shutil.rmtree(work / "attrs", ignore_errors=True)
        run_tagging_pipeline(str(corpus), str(work / "attrs"), features,
                             parse_options({"tasks": files, "workers": workers}))
        frame = pd.concat([pd.read_parquet(p) for p in sorted((work / "attrs").glob("*.parquet"))],
                          ignore_index=True)
        return frame.rename(columns=from_attribute_columns(frame.columns))

    def same(a, b):
        pd.testing.assert_frame_equal(a, b)
        return len(a)

    return today, new, same


def bench_entropy(corpus: Path, work: Path, workers: int, files: int):
    from whole_corpus_measures import cli

    def args(out: str, *extra: str):
        return cli.build_parser().parse_args(["--input", str(corpus), "--output", out, "--ngram", "1", "3", *extra])

    def today():
        return cli.run(args(str(work / "e0.json")))

    def new():
        assert cli.main([*sys_argv(corpus, work / "e1.json"), "--tasks", str(files), "--workers", str(workers)]) == 0
        return json.loads((work / "e1.json").read_text())

    def same(a, b):
        for n, o in a["entropy"].items():
            assert o["percentiles_context_entropy_bits"] == b["entropy"][n]["percentiles_context_entropy_bits"]
            assert abs(o["conditional_entropy_bits"] - b["entropy"][n]["conditional_entropy_bits"]) < 1e-9
        assert a["tokens"] == b["tokens"]
        return a["tokens"]

    return today, new, same


def sys_argv(corpus: Path, out: Path) -> list[str]:
    return ["--input", str(corpus), "--output", str(out), "--ngram", "1", "3"]


def bench_preprocess(corpus: Path, work: Path, tokenizer: str, workers: int, files: int):
    from njsl.scaleout.executors import parse_options
    from pretraining.data.preprocess import preprocess
    from pretraining.data.preprocess_pipeline import run_preprocess_pipeline

    def today():
        shutil.rmtree(work / "p0", ignore_errors=True)
        r = preprocess(corpus, work / "p0", tokenizer, workers=workers, progress=False)
        return r.manifest, (work / "p0" / f"{r.prefix.name}.bin").read_bytes()

    def new():
        shutil.rmtree(work / "p1", ignore_errors=True)
        _, m = run_preprocess_pipeline(str(corpus), str(work / "p1"), tokenizer,
                                       parse_options({"tasks": files, "workers": workers}))
        return m, (work / "p1" / f"{m['prefix']}.bin").read_bytes()

    def same(a, b):
        assert a[1] == b[1], ".bin differs"
        return a[0]["tokens"]

    return today, new, same


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default="/tmp/njsl_bench_scaleout")
    p.add_argument("--files", type=int, default=8)
    p.add_argument("--docs", type=int, default=240, help="documents to tag")
    p.add_argument("--count_docs", type=int, default=3000, help="documents for entropy and preprocessing")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--features", default="all")
    p.add_argument("--stages", nargs="+", default=["tagging", "entropy", "preprocess"])
    args = p.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from whole_corpus_measures.cli import default_tokenizer_dir

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    small, big = work / "docs", work / "count_docs"
    pool = english_docs(max(args.docs, args.count_docs))
    build_corpus(small, pool, args.docs, args.files)
    build_corpus(big, pool, args.count_docs, args.files)
    print(f"corpora: {args.docs} documents to tag, {args.count_docs} to count/tokenize, in {args.files} files each; "
          f"workers {args.workers}; load average {loadavg()}")
    stages = {
        "tagging": (bench_tagging(small, work, args.features, args.workers, args.files), "docs/s"),
        "entropy": (bench_entropy(big, work, args.workers, args.files), "tokens/s"),
        "preprocess": (bench_preprocess(big, work, default_tokenizer_dir(), args.workers, args.files), "tokens/s"),
    }
    best: dict[str, dict[str, float]] = {}
    for stage in args.stages:
        (today, new, same), unit = stages[stage]
        for rep in range(args.repeats):
            order = [("today", today), ("datatrove-local", new)]
            if rep % 2:
                order.reverse()
            secs, cpu, outs = {}, {}, {}
            for name, fn in order:
                secs[name], cpu[name], outs[name] = timed(fn)
            units = same(outs["today"], outs["datatrove-local"])
            for name in secs:
                best.setdefault(stage, {})[name] = min(best.get(stage, {}).get(name, float("inf")), secs[name])
            print(f"{stage:10s} rep {rep}: today {secs['today']:.2f} s ({units / secs['today']:,.0f} {unit}, "
                  f"{cpu['today']:.1f} CPU-s), datatrove local {secs['datatrove-local']:.2f} s "
                  f"({units / secs['datatrove-local']:,.0f} {unit}, {cpu['datatrove-local']:.1f} CPU-s); "
                  f"outputs equal; load {loadavg()}")
        b = best[stage]
        print(f"{stage:10s} best: today {b['today']:.2f} s, datatrove local {b['datatrove-local']:.2f} s, "
              f"new/today time ratio {b['datatrove-local'] / b['today']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
