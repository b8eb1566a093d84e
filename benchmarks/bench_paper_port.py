"""The port of the paper's pipeline on the shared release: its table, its cost, ours beside it (RESULTS.md figures).

    python benchmarks/bench_paper_port.py [--seeds 42 ...] [--n_jobs 1] [--ours] [--selection random family]

Prints the port's per-task MAE (all features, scaling only, both baselines) as the paper's script would, its
wall and CPU time (CPU exact with ``--n_jobs 1``), and with ``--ours`` this project's predictors on the same
seeds and random folds (the report's settings: fast grid, 32 bins). ``--selection SCHEME ...`` also runs the
nested forward selection (seed 42) and prints what it gains out of sample, per task and fold.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pandas as pd  # noqa: E402

from njsl.paths import paper_release_dir  # noqa: E402
from performance_prediction.data import load_data  # noqa: E402
from performance_prediction.evaluate import CVConfig, run_cv  # noqa: E402
from performance_prediction.paper_port import paper_port_study  # noqa: E402
from performance_prediction.selection import SelectionConfig, nested_forward_selection, selection_verdict  # noqa: E402


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db_path", default=None)
    ap.add_argument("--seeds", type=int, nargs="+", default=[42])
    ap.add_argument("--n_jobs", type=int, default=1)
    ap.add_argument("--ours", action="store_true")
    ap.add_argument("--selection", nargs="*", choices=["random", "family"], default=[])
    args = ap.parse_args(argv)
    db = args.db_path or str(paper_release_dir())
    metrics = ("accuracy", "brier_score")
    load0, t0, c0 = _load(), time.perf_counter(), time.process_time()
    port = paper_port_study(db, metrics, tuple(args.seeds), n_jobs=args.n_jobs, progress=False)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"paper port, seeds {args.seeds}: wall {wall:.1f} s, CPU of this process {cpu:.1f} s "
          f"(all of it with --n_jobs 1), load {load0} -> {_load()}")
    t = port.table.pivot_table(index=["metric", "task"], columns="predictor_type",
                               values=["mae", "med_baseline_mae", "loglinear_baseline_mae"])
    table = pd.DataFrame({"port_all": t[("mae", "all")], "port_scaling": t[("mae", "scaling_laws")],
                          "port_loglinear": t[("loglinear_baseline_mae", "scaling_laws")],
                          "port_median": t[("med_baseline_mae", "scaling_laws")]})
    if args.ours:
        frames = []
        for metric in metrics:
            data = load_data(db, metric=metric)
            cv = CVConfig(predictors=("median", "loglinear", "xgb_scaling", "xgb_all"), schemes=("random",),
                          seeds=tuple(args.seeds), grid="fast", max_bin=32, n_jobs=max(args.n_jobs, 1),
                          progress=False)
            s = run_cv(data, cv).seed_mae().groupby(["task", "predictor"])["mae"].mean().unstack()
            frames.append(s.assign(metric=metric).reset_index().set_index(["metric", "task"]))
        ours = pd.concat(frames)
        table = table.join(ours[["xgb_all", "xgb_scaling", "loglinear"]].add_prefix("ours_"))
    table["port_gain_pct"] = 100 * (table["port_scaling"] - table["port_all"]) / table["port_scaling"]
    means = table.groupby(level="metric").mean()
    means.index = pd.MultiIndex.from_tuples([(m, "MEAN") for m in means.index], names=table.index.names)
    with pd.option_context("display.width", 200, "display.float_format", "{:.4f}".format):
        print(pd.concat([table, means]).to_string())
    print("alias notes:", port.notes)
    for scheme in args.selection:
        for metric in metrics:
            data = load_data(db, metric=metric)
            t0 = time.perf_counter()
            folds, _ = nested_forward_selection(data, SelectionConfig(scheme=scheme, n_jobs=max(args.n_jobs, 1),
                                                                      progress=False))
            v = selection_verdict(folds)
            print(f"\nforward selection, {metric}, {scheme} folds, seed 42: wall {time.perf_counter() - t0:.0f} s; "
                  f"outer MAE scaling {v['mean_outer_mae_scaling']:.4f} vs selected {v['mean_outer_mae_selected']:.4f}"
                  f" (inner gain promised {v['mean_inner_gain']:.4f}); better on {v['tasks_better']}/{v['n_tasks']} "
                  f"tasks; one set across folds for {v['stable_tasks']}/{v['n_tasks']} tasks")
            with pd.option_context("display.width", 250, "display.max_colwidth", 120):
                print(folds[["task", "fold", "selected_features", "inner_gain", "outer_gain"]].to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
