"""Per-task gap of a design predictor to the task's best pure law, to five decimals, from saved predictions.

``bench_design.py --save`` writes out-of-fold predictions; this reads a design predictor's from one CSV and the pure
laws' (``law_sigmoid_compute``, ``law_sigmoid_nd``, ``law_blend``) from another CSV of the same seeds (or the same
file), scores both as the report does (``CVResult.mae_table``: the mean over seeds of the fold-averaged MAE) and
prints the design predictor's mean and every task more than ``--show`` behind its best law (issue 12's per-task goal).

    PYTHONPATH=$PWD python benchmarks/task_gaps.py --metric accuracy \\
        effen_42.csv:all_42.csv:design_ens4g_effen fresh2_162.csv:fresh2_162.csv:design_ens4g_effen
"""
from __future__ import annotations

import argparse
import sys

import pandas as pd

from performance_prediction.evaluate import CVResult

LAWS = ("law_sigmoid_compute", "law_sigmoid_nd", "law_blend")


def family_mae(path: str, predictors: tuple[str, ...], metric: str) -> pd.DataFrame:
    """Task x predictor family-scheme MAE of ``predictors`` in a ``bench_design.py --save`` CSV."""
    d = pd.read_csv(path)
    d = d[(d.scheme == "family") & d.predictor.isin(predictors) & (d.metric == metric)]
    if d.empty:
        raise SystemExit(f"{path}: no family-scheme {metric} predictions of {', '.join(predictors)}")
    table = CVResult(predictions=d.drop(columns="metric")).mae_table()
    return table.pivot_table(index="task", columns="predictor", values="mae")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", metavar="DESIGN_CSV:LAWS_CSV:PREDICTOR")
    p.add_argument("--metric", default="accuracy", choices=("accuracy", "brier_score"))
    p.add_argument("--show", type=float, default=0.0, help="print the tasks more than this behind (default 0)")
    args = p.parse_args(argv)
    for run in args.runs:
        try:
            design_csv, laws_csv, name = run.split(":")
        except ValueError:
            p.error(f"{run!r}: expected DESIGN_CSV:LAWS_CSV:PREDICTOR")
        design = family_mae(design_csv, (name,), args.metric)[name]
        gap = design - family_mae(laws_csv, LAWS, args.metric).min(axis=1)
        behind = " ".join(f"{t} {g:+.5f}" for t, g in gap.items() if g > args.show) or "none"
        print(f"{design_csv} {name}: mean {design.mean():.5f}; behind its best law: {behind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
