"""Prototype study: one design correction shared across the tasks of a metric vs per-task corrections.

    python benchmarks/bench_shared_design.py [--seeds 42 43 44] [--metrics accuracy brier_score]
        [--shared arch arch_d10 data ...] [--baselines law_blend design_arch design_blend] [--save CSV]

Outer folds are family-grouped over ALL families of the metric (GroupKFold(3, shuffle, seed)), the same split
for every task, so a held-out family is in no task's fit; the registered baselines are re-run on exactly these
folds (``run_cv``'s folds are per task, so its figures are not comparable). ``--shared`` configurations:
``arch`` (data + architecture, ``design="data_arch"``), ``data``; suffix ``_dK``: task-specific deltas with ridge
K x the shared ridge. Each gives ``shared_<cfg>`` (the shift on every task once the pooled inner CV keeps it)
and ``shared_<cfg>_gate`` (only on tasks whose own inner MAE it lowers by 2 %). Prints per-task MAE (mean over
seeds of the mean over folds), the mean over tasks, and CPU seconds per predictor (one process).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    import numpy as np
    import pandas as pd
    from sklearn.model_selection import GroupKFold

    from njsl.paths import shared_dir
    from performance_prediction.data import load_data
    from performance_prediction.evaluate import CVConfig, predictor_params
    from performance_prediction.families import families
    from performance_prediction.predictors import make_predictor
    from performance_prediction.shared_design import fit_shared, predict_shared

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    p.add_argument("--metrics", nargs="+", default=["accuracy", "brier_score"])
    p.add_argument("--shared", nargs="+", default=["arch"])
    p.add_argument("--baselines", nargs="+", default=["law_blend", "design_arch", "design_blend"])
    p.add_argument("--db_path", default=str(shared_dir() / "data" / "paper_db_2025_03_03"))
    p.add_argument("--save", default=None)
    args = p.parse_args(argv)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 30)
    rows = []
    for metric in args.metrics:
        data = load_data(args.db_path, metric=metric, merge_mmlu=True)
        tasks = data.task_names
        frames = [data.task_frame(t) for t in tasks]
        fams = [np.asarray(families(X.index)) for X, _ in frames]
        all_fams = np.unique(np.concatenate(fams))
        cpu: dict[str, float] = {}
        cfg = CVConfig(interval_predictors=())
        for seed in args.seeds:
            for k, (_tr, te) in enumerate(GroupKFold(3, shuffle=True, random_state=seed).split(all_fams,
                                                                                                groups=all_fams)):
                test_f = set(all_fams[te])
                masks = [~np.isin(g, list(test_f)) for g in fams]
                Xtr = [X[m] for (X, _), m in zip(frames, masks, strict=True)]
                ytr = [y[m] for (_, y), m in zip(frames, masks, strict=True)]
                gtr = [g[m] for g, m in zip(fams, masks, strict=True)]
                Xte = [X[~m] for (X, _), m in zip(frames, masks, strict=True)]

                def record(name, preds, seed=seed, k=k, masks=masks):
                    for t, (task, (X, y), m, pr) in enumerate(zip(tasks, frames, masks, preds, strict=True)):
                        if (~m).sum():
                            rows.append(pd.DataFrame({"metric": metric, "task": task, "seed": seed, "fold": k,
                                                      "predictor": name, "id": X.index[~m], "y_true": y[~m],
                                                      "y_pred": pr, "family": fams[t][~m]}))
                for name in args.baselines:
                    t0 = time.process_time()
                    preds = []
                    for task, X, y, g, Xt in zip(tasks, Xtr, ytr, gtr, Xte, strict=True):
                        est = make_predictor(name, **predictor_params(name, metric, seed, cfg, data.pseudo_features,
                                                                      task))
                        preds.append(est.fit(X, y, groups=g).predict(Xt) if len(Xt) else np.zeros(0))
                    cpu[name] = cpu.get(name, 0.0) + time.process_time() - t0
                    record(name, preds)
                for spec in args.shared:
                    design = {"arch": "data_arch", "data": "data", "archonly": "arch"}[spec.split("_")[0]]
                    delta = float(spec.split("_d")[1]) if "_d" in spec else None
                    t0 = time.process_time()
                    model = fit_shared(Xtr, ytr, gtr, tasks, metric, design=design, seed=seed, delta_factor=delta)
                    for gate in (False, True):
                        name = f"shared_{spec}" + ("_gate" if gate else "")
                        record(name, predict_shared(model, Xte, design, gate))
                    if spec == args.shared[0]:
                        record("shared_base_law", [law.predict(X) for law, X in zip(model["laws"], Xte, strict=True)])
                    cpu[f"shared_{spec}"] = cpu.get(f"shared_{spec}", 0.0) + time.process_time() - t0
                    print(f"[{metric} seed {seed} fold {k}] {spec}: ridge {model['ridge']:g}, used {model['use']}, "
                          f"kept on {sum(model['keep'])}/{len(tasks)} tasks", file=sys.stderr, flush=True)
        pred = pd.concat([r for r in rows if r["metric"].iloc[0] == metric])
        pred["abs_err"] = (pred.y_pred - pred.y_true).abs()
        mae = (pred.groupby(["task", "predictor", "seed", "fold"])["abs_err"].mean().groupby(["task", "predictor",
               "seed"]).mean().groupby(["task", "predictor"]).mean().unstack("predictor"))
        mae.loc["MEAN"] = mae.mean()
        print(f"\n== {metric}, shared family folds (all families of the metric), seeds {args.seeds}")
        print(mae.round(4).to_string())
        print("CPU s: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()))
    if args.save:
        pd.concat(rows, ignore_index=True).to_csv(args.save, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
