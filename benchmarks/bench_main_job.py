"""Time the main job (``njsl predict report`` with its defaults) and its CPU cost.

    python benchmarks/bench_main_job.py [--n_seeds 10] [--n_jobs 2] [--out REPORT_DIR] [extra report args]

Prints wall time, CPU seconds of this process and its (joined) worker processes, and the load average before
and after: on a shared machine wall time is inflated by other processes; CPU / cores approximates the wall
time on an idle machine with that many cores.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n_seeds", type=int, default=10)
    p.add_argument("--n_jobs", type=int, default=2)
    p.add_argument("--out", default=None)
    args, extra = p.parse_known_args(argv)
    from joblib.externals.loky import get_reusable_executor

    from performance_prediction.cli import main as predict_main

    out = args.out or str(Path(tempfile.mkdtemp(prefix="njsl_bench_")) / "report")
    load0, cpu0, t0 = _load(), _cpu(), time.perf_counter()
    rc = predict_main(["report", "--out", out, "--n_seeds", str(args.n_seeds), "--n_jobs", str(args.n_jobs), *extra])
    get_reusable_executor().shutdown(wait=True)   # join the workers so their CPU time is counted
    wall, cpu = time.perf_counter() - t0, _cpu() - cpu0
    cores = len(os.sched_getaffinity(0))
    print(f"main job (njsl predict report, {args.n_seeds} seeds, n_jobs {args.n_jobs}): rc {rc}, wall {wall:.0f} s, "
          f"CPU {cpu:.0f} s (CPU/{min(cores, args.n_jobs)} = {cpu / min(cores, args.n_jobs):.0f} s), "
          f"load {load0} -> {_load()}, cores {cores}; report in {out}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
