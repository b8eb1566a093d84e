"""Law and design-aware predictors on the family folds (and the extrapolation split): per-task MAE and CPU.

    python benchmarks/bench_design.py [--seeds 42 43] [--predictors law_auto design_arch ...]
                                      [--schemes family extrapolation] [--metrics accuracy brier_score]
                                      [--variant NAME=PREDICTOR:JSON] [--pool-variant NAME=PREDICTOR:JSON]

``--intervals``: also the coverage of the nominal (1 - alpha) intervals per compute quintile.

Prints, per metric and scheme, the per-task MAE (mean over seeds of the per-seed MAE, the report's
definition) of each predictor, the mean over tasks, the best pure law per task and the gap of each design
predictor to it, and the process CPU seconds each predictor took (one process, ``n_jobs 1``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _register_variant(spec: str, pool: dict | None = None) -> None:
    """``NAME=PREDICTOR:JSON``: register NAME as PREDICTOR's factory with the JSON's parameters set; with
    ``pool`` (a holder whose ``"source"`` the metric loop sets), also ``pool`` = that metric's PoolSource."""
    import json

    from performance_prediction.predictors import PREDICTORS, register

    name, rest = spec.split("=", 1)
    base, params = rest.split(":", 1)
    factory, desc = PREDICTORS.get(base)
    extra = json.loads(params)
    extra = {k: tuple(v) if isinstance(v, list) else v for k, v in extra.items()}
    if pool is None:
        register(name, f"{desc} ({params})")(lambda: factory().set_params(**extra))
    else:
        register(name, f"{desc} ({params}, pooled)")(lambda: factory().set_params(**extra, pool=pool["source"]))


def main(argv=None) -> int:
    import pandas as pd

    from njsl.paths import shared_dir
    from performance_prediction.data import load_data
    from performance_prediction.evaluate import CVConfig, run_cv

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[42, 43])
    p.add_argument("--predictors", nargs="+",
                   default=["law_sigmoid_compute", "law_sigmoid_nd", "law_auto", "design_data", "design_arch"])
    p.add_argument("--schemes", nargs="+", default=["family"])
    p.add_argument("--metrics", nargs="+", default=["accuracy", "brier_score"])
    p.add_argument("--db_path", default=str(shared_dir() / "data" / "paper_db_2025_03_03"))
    p.add_argument("--intervals", action="store_true", help="compute intervals too (costs inner CV for laws) and print "
                   "their coverage (overall, per compute quintile, worst quintile; the report's interval_coverage)")
    p.add_argument("--variant", action="append", default=[], metavar="NAME=PREDICTOR:JSON",
                   help='an experimental variant, e.g. boost_score=design_boost:{"link": "score"} (then list NAME '
                        'in --predictors); registered for this run only')
    p.add_argument("--pool-variant", action="append", default=[], metavar="NAME=PREDICTOR:JSON",
                   help="as --variant, with the law's parameters pooled across the metric's tasks "
                        "(performance_prediction.pooling; set pool_grid or pool_strength in the JSON)")
    p.add_argument("--save", default=None, help="write the out-of-fold predictions to this CSV")
    p.add_argument("--code_weight", type=float, default=None,
                   help="screen effective tokens for every predictor: the data's tokens x (1 - c + W c), c the code "
                        "share (effective_tokens.py); family/random schemes only (the extrapolation split reads the "
                        "tokens; there use an estimator's own code_weight, e.g. design_ens4g_eff)")
    p.add_argument("--language_weight", type=float, default=None,
                   help="with --code_weight: the non-English share of the natural-language tokens counts W")
    p.add_argument("--pseudo_feats_csv", default=None,
                   help="generation features (the paper's CSV) merged with the store's, for design_all")
    args = p.parse_args(argv)
    if args.code_weight is not None and "extrapolation" in args.schemes:
        p.error("--code_weight moves the extrapolation split (it reads the tokens); run that scheme without it")
    for v in args.variant:
        _register_variant(v)
    pool: dict = {}
    for v in args.pool_variant:
        _register_variant(v, pool)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 30)
    saved: list = []
    for metric in args.metrics:
        data = load_data(args.db_path, metric=metric, merge_mmlu=True, pseudo_feats_csv=args.pseudo_feats_csv)
        if args.code_weight is not None:
            from performance_prediction.effective_tokens import effective_tokens

            data.models = effective_tokens(data.models, args.code_weight, args.language_weight)
        if args.pool_variant:
            from performance_prediction.pooling import PoolSource

            pool["source"] = PoolSource.of(data)
        for scheme in args.schemes:
            frames, cpu, preds = [], {}, []
            for name in args.predictors:
                cfg = CVConfig(predictors=(name,), schemes=(scheme,), seeds=tuple(args.seeds), n_jobs=1,
                               progress=False, grid="fast", max_bin=32,
                               interval_predictors=(name,) if args.intervals else ())
                t0 = time.process_time()
                res = run_cv(data, cfg)
                frames.append(res.mae_table())
                preds.append(res.predictions.assign(metric=metric))
                cpu[name] = time.process_time() - t0
            mae = pd.concat(frames).pivot_table(index="task", columns="predictor", values="mae")
            mae = mae[[n for n in args.predictors if n in mae]]
            laws = [c for c in mae if c.startswith("law_")]
            if laws:
                mae["best_law"] = mae[laws].min(axis=1)
                for c in [c for c in args.predictors if c.startswith("design_") and c in mae]:
                    mae[f"gap:{c}"] = mae[c] - mae["best_law"]
            mae.loc["MEAN"] = mae.mean()
            print(f"\n== {metric}, {scheme}, seeds {args.seeds}")
            print(mae.round(4).to_string())
            saved.extend(preds)
            print("CPU s: " + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items()))
            if args.intervals:
                from performance_prediction.design_study import interval_coverage

                summary, _ = interval_coverage(pd.concat(preds, ignore_index=True), data.models)
                if len(summary):
                    cols = ["predictor", "coverage", "q1", "q2", "q3", "q4", "q5", "worst_quintile", "worst_family",
                            "worst_family_coverage"]
                    print(summary[[c for c in cols if c in summary]].round(3).to_string(index=False))
    if args.save:
        pd.concat(saved, ignore_index=True).to_csv(args.save, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
