"""Screen combination rules on saved out-of-fold predictions (``bench_design.py --save``), issue 12 session 8.

    python benchmarks/bench_mix.py --select OOF_42.csv [OOF_52.csv ...] --check OOF_72.csv [--components A B C ...]
                                   [--step 0.05] [--rule metric=A:w,B:w,...] [--max-gap 0.002] [--crossfit]

Per metric: each component's mean MAE; the best global weights on the ``step`` simplex chosen on ``--select``
(the same weights for every task of the metric) and their figure on each ``--check`` file; medians of every 3-5
components and trimmed means; ``--rule`` scores given weights on every file with per-task gaps to the best law
(``law_*`` components). With several ``--select`` files the mean is pooled over them and ``--max-gap`` must hold
on each separately. ``--crossfit`` scores the honest version of a weight choice on every file: the weights
(shared by a metric's tasks, then per task) chosen for each seed and fold on the other folds only
(``mix_screen.crossfit``). Nothing is refitted: the files must hold every component for the same folds.
"""
from __future__ import annotations

import argparse
import sys
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_COMPONENTS = ["design_blend_data_half_bag", "tree_mono", "law_sigmoid_nd", "law_sigmoid_compute", "law_blend"]
LAWS = ["law_sigmoid_compute", "law_sigmoid_nd", "law_blend"]


def _rule(spec: str) -> tuple[str, dict[str, float] | list[str]]:
    """``METRIC=A:w,B:w`` (weights) or ``METRIC=median:A,B,C`` (the row-wise median of the components)."""
    metric, rest = spec.split("=", 1)
    if rest.startswith("median:"):
        return metric, rest.removeprefix("median:").split(",")
    return metric, {k: float(v) for k, v in (p.split(":") for p in rest.split(","))}


def _screen(data: dict, args) -> None:
    """The best simplex weights chosen on ``select`` (scored on every check file), then medians and trimmed means."""
    import numpy as np

    from performance_prediction.mix_screen import median_of, simplex_grid, trimmed_mean, weighted, within_gap

    grid = simplex_grid(len(args.components), args.step)
    score = weighted(data["select"], grid)
    if args.max_gap is not None:
        # with several --select files the rule must hold on each of them separately (the mean is the pooled one)
        ok = within_gap(args.select_parts, data["select"].metric, args.components, args.laws, grid, args.max_gap)
        score = np.where(ok, score, np.inf)
        print(f"--- only weights whose every task is within {args.max_gap} of its best law on each select file: "
              f"{int(np.isfinite(score).sum())} of {len(grid)}")
    print(f"--- best weights on select ({len(grid)} vectors, step {args.step}); then each check file")
    for j in np.argsort(score, kind="stable")[:min(args.top, int(np.isfinite(score).sum()))]:
        w = grid[j]
        desc = " ".join(f"{c}={x:.2f}" for c, x in zip(args.components, w, strict=True) if x > 0)
        print(f"  {score[j]:.5f} " + " ".join(f"{d.mean_mae(d.P @ w):.5f}" for k, d in data.items()
                                               if k != "select") + f"   {desc}")
    print("--- medians / trimmed means (select, checks)")
    for r in (3, 4, 5):
        for names in combinations(args.components, r):
            meds = [d.mean_mae(median_of(d, list(names))) for d in data.values()]
            tm = [d.mean_mae(trimmed_mean(d, list(names))) for d in data.values()]
            print(f"  median {'+'.join(names)}: " + " ".join(f"{m:.4f}" for m in meds)
                  + "   trimmed: " + " ".join(f"{m:.4f}" for m in tm))


def _score_rule(data: dict, files: dict, metric: str, rule, args) -> None:
    """One rule's mean and per-task MAE on every file, with its gap to the task's best pure law."""
    import numpy as np
    import pandas as pd

    from performance_prediction.mix_screen import best_law_mae, median_of

    print(f"--- rule {rule}")
    for k, d in data.items():
        pred = median_of(d, rule) if isinstance(rule, list) else d.P @ np.array([rule.get(c, 0.0)
                                                                                for c in args.components])
        per = d.task_mae(pred)
        best = best_law_mae(files[k], metric, args.laws)
        ref = d.task_mae(d.column(args.components[0]))
        t = pd.DataFrame({"rule": per, "best_law": best, "gap": per - best, args.components[0][:12]: ref})
        print(f"  [{k}] mean {d.mean_mae(pred):.5f}; tasks behind the best law by > .002: {int((t.gap > 0.002).sum())}")
        print(t.round(4).to_string())


def _crossfit(data: dict, files: dict, metric: str, args) -> None:
    """Weights chosen per seed and fold without the fold (shared by the metric's tasks, then per task), per file."""
    import numpy as np

    from performance_prediction.mix_screen import best_law_mae, crossfit, simplex_grid, task_weighted

    grid = simplex_grid(len(args.components), args.step)
    # for contrast, the choice that is NOT cross-fitted: per-task weights chosen on every row of select
    best = dict(zip(data["select"].tasks, grid[task_weighted(data["select"], grid).argmin(axis=0)], strict=True))
    print("--- per-task weights chosen on all of select (not cross-fitted; a check file shares its models)")
    for k, d in data.items():
        task = d.keys.task.to_numpy()
        pred = np.einsum("ij,ij->i", d.P, np.stack([best[t] for t in task]))
        gap = d.task_mae(pred) - best_law_mae(files[k], metric, args.laws)
        print(f"  [{k}] mean {d.mean_mae(pred):.5f}; worst gap to the best law {gap.max():+.4f} ({gap.idxmax()})")
    for by_task in (False, True):
        print(f"--- cross-fitted weights, {'per task' if by_task else 'shared by the tasks'} (step {args.step})")
        for k, d in data.items():
            pred, chosen = crossfit(d, grid, by_task=by_task)
            gap = d.task_mae(pred) - best_law_mae(files[k], metric, args.laws)
            print(f"  [{k}] mean {d.mean_mae(pred):.5f}; worst gap to the best law {gap.max():+.4f} ({gap.idxmax()}); "
                  f"tasks > .002 behind: {int((gap > 0.002).sum())}; chosen weights mean "
                  f"{np.round(chosen.mean(axis=0), 2).tolist()} sd {np.round(chosen.std(axis=0), 2).tolist()}")


def main(argv=None) -> int:
    import pandas as pd

    from performance_prediction.mix_screen import MixData

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--select", required=True, nargs="+",
                   help="OOF CSV(s) the weights are chosen on (several: pooled for the mean, --max-gap on each)")
    p.add_argument("--check", nargs="*", default=[], help="OOF CSVs the chosen weights are only scored on")
    p.add_argument("--components", nargs="+", default=DEFAULT_COMPONENTS)
    p.add_argument("--metrics", nargs="+", default=["accuracy", "brier_score"])
    p.add_argument("--step", type=float, default=0.05)
    p.add_argument("--top", type=int, default=8)
    p.add_argument("--rule", action="append", default=[], metavar="METRIC=A:w,B:w")
    p.add_argument("--laws", nargs="+", default=LAWS, help="the pure laws a rule's per-task gap is measured against")
    p.add_argument("--no-screen", action="store_true", help="score the --rule options only")
    p.add_argument("--crossfit", action="store_true",
                   help="also score weights chosen per seed and fold on the other folds only (shared, per task)")
    p.add_argument("--max-gap", type=float, default=None,
                   help="screen only weights whose every task is within this of the task's best law (--laws) on select")
    args = p.parse_args(argv)
    args.select_parts = [pd.read_csv(f) for f in args.select]
    files = {"select": pd.concat(args.select_parts, ignore_index=True), **{Path(c).stem: pd.read_csv(c)
                                                                           for c in args.check}}
    rules = [_rule(r) for r in args.rule]
    for metric in args.metrics:
        data = {k: MixData(v, metric, args.components) for k, v in files.items()}
        print(f"\n=== {metric}: components (mean MAE per file: {', '.join(data)})")
        for i, c in enumerate(args.components):
            print(f"  {c:32s} " + " ".join(f"{d.mean_mae(d.P[:, i]):.4f}" for d in data.values()))
        if not args.no_screen:
            _screen(data, args)
        for m, w in rules:
            if m == metric:
                _score_rule(data, files, metric, w, args)
        if args.crossfit:
            _crossfit(data, files, metric, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
