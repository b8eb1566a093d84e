"""Prototype study: one design correction shared across the tasks of a metric vs per-task corrections.

    python benchmarks/bench_shared_design.py [--seeds 42 43 44] [--metrics accuracy brier_score]
        [--shared arch arch_m0 arch_m0_d1 data_m0 ...] [--baselines law_blend design_arch design_blend] [--save CSV]

Outer folds are family-grouped over ALL families of the metric (GroupKFold(3, shuffle, seed)), the same split
for every task, so a held-out family is in no task's fit (``shared_design.shared_family_folds``); the
registered baselines are re-run on exactly these folds (``run_cv``'s folds are per task, so its figures are not
comparable). ``--shared`` configurations: ``arch`` (data + architecture, ``design="data_arch"``), ``data``,
``archonly``; suffix ``_dK``: task-specific deltas with ridge K x the shared ridge; ``_mM``: margin M (default
0.02) the pooled inner MAE must gain. Each gives ``shared_<cfg>`` (the shift on every task once the pooled
inner CV keeps it) and ``shared_<cfg>_gate`` (only on tasks whose own inner MAE it lowers by 2 %). Prints
per-task MAE (mean over seeds of the mean over folds), the mean over tasks, and CPU seconds per predictor.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def spec_kwargs(spec: str) -> dict:
    """``arch_m0_d1`` -> fit_shared keyword arguments."""
    head, *opts = spec.split("_")
    kw: dict = {"design": {"arch": "data_arch", "data": "data", "archonly": "arch"}[head]}
    kw.update({{"d": "delta_factor", "m": "margin"}[o[0]]: float(o[1:]) for o in opts})
    return kw


def main(argv=None) -> int:
    import numpy as np
    import pandas as pd

    from njsl.paths import shared_dir
    from performance_prediction.data import load_data
    from performance_prediction.evaluate import CVConfig, predictor_params
    from performance_prediction.families import families
    from performance_prediction.predictors import make_predictor
    from performance_prediction.shared_design import fit_shared, shared_cv, shared_multipliers, task_mae

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    p.add_argument("--metrics", nargs="+", default=["accuracy", "brier_score"])
    p.add_argument("--shared", nargs="+", default=["arch"])
    p.add_argument("--baselines", nargs="+", default=["law_blend", "design_arch", "design_blend"])
    p.add_argument("--db_path", default=str(shared_dir() / "data" / "paper_db_2025_03_03"))
    p.add_argument("--save", default=None)
    p.add_argument("--multipliers", default=None, metavar="SPEC",
                   help="instead of the CV: fit SPEC (e.g. arch_m0) on every model of each metric (seed = the first) "
                        "and print its inner MAE and the effective compute multiplier of each decision")
    args = p.parse_args(argv)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 30)
    saved = []
    for metric in args.metrics:
        data = load_data(args.db_path, metric=metric, merge_mmlu=True)
        tasks = data.task_names
        frames = [data.task_frame(t) for t in tasks]
        fams = [np.asarray(families(X.index)) for X, _ in frames]
        if args.multipliers:
            model = fit_shared([X for X, _ in frames], [y for _, y in frames], fams, tasks, metric,
                               seed=args.seeds[0], **spec_kwargs(args.multipliers))
            law, best = (float(np.mean(model["inner"][k])) for k in (np.inf, model["ridge"]))
            print(f"\n== {metric}: {args.multipliers} on all models, ridge {model['ridge']:g}, used {model['use']}, "
                  f"inner MAE law {law:.5f} -> {best:.5f}")
            print(shared_multipliers(model).round(3).to_string(index=False))
            continue
        cfg = CVConfig(interval_predictors=())

        def factory(name, metric=metric, pseudo=data.pseudo_features, cfg=cfg):
            return lambda task, seed: make_predictor(name, **predictor_params(name, metric, seed, cfg, pseudo, task))
        pred, cpu = shared_cv(frames, fams, tasks, metric, args.seeds,
                              {f"shared_{s}": spec_kwargs(s) for s in args.shared},
                              {b: factory(b) for b in args.baselines},
                              log=lambda msg: print(msg, file=sys.stderr, flush=True))
        print(f"\n== {metric}, shared family folds (all families of the metric), seeds {args.seeds}")
        print(task_mae(pred).round(4).to_string())
        print("CPU s: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()))
        saved.append(pred)
    if args.save and saved:
        pd.concat(saved, ignore_index=True).to_csv(args.save, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
