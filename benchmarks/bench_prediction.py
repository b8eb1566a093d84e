"""Speed of the performance predictor on the shared release (figures for benchmarks/RESULTS.md).

    python benchmarks/bench_prediction.py [--what table|one_seed|selection|all] [--n_seeds 10] [--n_jobs 2]

``table``     the whole paper table: 13 tasks (both metrics), N seeds, nested CV with search, both schemes,
              the paper's four predictors (median, log-linear, XGBoost scaling, XGBoost all)
``one_seed``  the 9 accuracy tasks, one seed, random folds, with search (the paper code's 138 s / 44 s anchor)
``selection`` nested forward selection, all 13 tasks, family folds
Prints wall time and the load average before/after (other processes on the machine inflate wall time).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from njsl.paths import paper_release_dir  # noqa: E402
from performance_prediction.data import load_data  # noqa: E402
from performance_prediction.evaluate import CVConfig, run_cv  # noqa: E402
from performance_prediction.selection import SelectionConfig, nested_forward_selection  # noqa: E402


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"


def timed(label: str, fn) -> float:
    load0, t0 = _load(), time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    print(f"{label}: wall {wall:.1f} s, load {load0} -> {_load()}", flush=True)
    return wall


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db_path", default=str(paper_release_dir()))
    p.add_argument("--what", choices=["table", "one_seed", "selection", "all"], default="all")
    p.add_argument("--n_seeds", type=int, default=10)
    p.add_argument("--grid", default="fast")
    p.add_argument("--max_bin", type=int, default=32)
    p.add_argument("--n_jobs", type=int, default=2)
    args = p.parse_args(argv)
    datas = {m: load_data(args.db_path, metric=m, merge_mmlu=True) for m in ("accuracy", "brier_score")}
    print(f"cores: {len(os.sched_getaffinity(0))}, grid {args.grid}, max_bin {args.max_bin}, n_jobs {args.n_jobs}")
    if args.what in ("one_seed", "all"):
        for grid, mb in (("paper", 256), (args.grid, args.max_bin)):
            cfg = CVConfig(predictors=("xgb_all",), schemes=("random",), seeds=(42,), grid=grid, max_bin=mb,
                           n_jobs=args.n_jobs, progress=False)
            timed(f"one_seed: 9 accuracy tasks, xgb_all, random 3-fold, search grid={grid} max_bin={mb}",
                  lambda cfg=cfg: run_cv(datas["accuracy"], cfg) and None)
    if args.what in ("table", "all"):
        cfg = CVConfig(predictors=("median", "loglinear", "xgb_scaling", "xgb_all"), schemes=("family", "random"),
                       seeds=tuple(range(42, 42 + args.n_seeds)), grid=args.grid, max_bin=args.max_bin,
                       n_jobs=args.n_jobs, progress=False)
        total = sum(timed(f"table: {m}, {len(d.task_names)} tasks x {args.n_seeds} seeds x 2 schemes x 4 predictors",
                          lambda d=d: run_cv(d, cfg) and None) for m, d in datas.items())
        print(f"table total: {total:.1f} s (goal < 300 s)")
    if args.what in ("selection", "all"):
        total = 0.0
        for m, d in datas.items():
            total += timed(f"selection: {m}, {len(d.task_names)} tasks, nested (3 outer folds + final), family",
                           lambda d=d: nested_forward_selection(d, SelectionConfig(n_jobs=args.n_jobs,
                                                                                   progress=False)) and None)
        print(f"selection total: {total:.1f} s (goal < 1800 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
