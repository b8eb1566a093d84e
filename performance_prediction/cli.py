"""``njsl predict``: the paper's prediction run, the report, forward selection and significance tests.

    njsl predict [paper flags]              # = python performance_prediction/performance_predict_from_db.py
    njsl predict report [--db_path DB] [--out DIR] [--ids ID ...]
    njsl predict select [paper flags]       # nested forward selection (feat_selection.sh)
    njsl predict significance [paper flags] --initial_features_csv CSV   # = ..._gradual.py --test_significance
    njsl predict port [--metric M ...] [--predictor_type T ...] [--seeds S ...]   # the paper's own pipeline
"""
from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import pandas as pd

from njsl.atomic import atomic_open
from njsl.cli import guarded

from .errors import PredictionInputError
from .features import check_features, feature_set

MAIN_PREDICTOR = {"all": "xgb_all", "scaling_laws": "xgb_scaling", "non_scaling_laws": "xgb_non_scaling"}


def _default_db() -> str:
    from njsl.paths import paper_release_dir

    return str(paper_release_dir())


def add_paper_args(parser: argparse.ArgumentParser) -> None:
    """The paper's flags (performance_predict_from_db.py) plus our validation/speed options."""
    parser.add_argument("--metric", choices=["accuracy", "brier_score"], default="accuracy")
    parser.add_argument("--db_path", default=None, help="a .duckdb file or an EXPORT DATABASE folder "
                        "(default: the shared paper release)")
    parser.add_argument("--predictor_type", choices=list(MAIN_PREDICTOR), default="all")
    parser.add_argument("--merge_arithmetic", action="store_true", help="predict the mean of arithmetic_* as one task")
    parser.add_argument("--merge_mmlu", action="store_true",
                        help="average MMLU subjects into mmlu_0-shot / mmlu_5-shot (else one task per subject)")
    parser.add_argument("--hyperparam_search", action="store_true", help="nested grid search (else fixed settings)")
    parser.add_argument("--drop_instruction_tuned", action="store_true")
    parser.add_argument("--pseudo_feats_csv", default=None, help="CSV of generation features keyed on 'id'")
    parser.add_argument("--sel_tasks", nargs="+", default=None)
    parser.add_argument("--sel_features", nargs="+", default=None)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--n_seeds", type=int, default=1, help="seeds seed..seed+n-1")
    parser.add_argument("--validation", choices=["random", "family"], default="random",
                        help="outer folds: shuffled KFold as in the paper, or grouped by model family")
    parser.add_argument("--outer_folds", type=int, default=3)
    parser.add_argument("--grid", choices=["paper", "fast"], default="paper")
    parser.add_argument("--max_bin", type=int, default=256)
    parser.add_argument("--n_estimators", type=int, default=10, help="without --hyperparam_search (paper default)")
    parser.add_argument("--lr", type=float, default=0.1, help="without --hyperparam_search (paper default)")
    parser.add_argument("--max_depth", type=int, default=10, help="without --hyperparam_search (paper default)")
    parser.add_argument("--min_models", type=int, default=30)
    parser.add_argument("--n_jobs", type=int, default=0, help="parallel workers (0 = all cores)")
    parser.add_argument("--output_dir", default="prediction_results")


def _load(args):
    from .data import load_data

    for name, value in (("--n_seeds", args.n_seeds), ("--outer_folds", args.outer_folds)):
        if value < 1 or (name == "--outer_folds" and value < 2):
            raise PredictionInputError(f"{name} must be >= {2 if name == '--outer_folds' else 1}, got {value}")
    return load_data(args.db_path or _default_db(), metric=args.metric, merge_mmlu=args.merge_mmlu,
                     merge_arithmetic=args.merge_arithmetic, drop_instruction_tuned=args.drop_instruction_tuned,
                     pseudo_feats_csv=args.pseudo_feats_csv, sel_tasks=args.sel_tasks, min_models=args.min_models)


def _available(data) -> list[str]:
    from .features import OPTIONAL_ARCH

    return feature_set("all", data.pseudo_features) + [c for c in OPTIONAL_ARCH if c in data.models.columns]


def _cv_config(args, predictors, overrides=None, seeds=None):
    from .evaluate import CVConfig

    return CVConfig(predictors=tuple(predictors), schemes=(args.validation,),
                    seeds=tuple(seeds or range(args.seed, args.seed + args.n_seeds)),
                    outer_folds=args.outer_folds, grid=args.grid, max_bin=args.max_bin,
                    search=args.hyperparam_search, n_jobs=args.n_jobs, feature_overrides=overrides or {},
                    fixed_params={"n_estimators": args.n_estimators, "learning_rate": args.lr,
                                  "max_depth": args.max_depth})


def run_paper(args) -> int:
    """The paper's run: per task MAE of the chosen predictor with median and log-linear baselines."""
    from .evaluate import run_cv

    data = _load(args)
    main_pred = MAIN_PREDICTOR[args.predictor_type]
    overrides = {}
    if args.sel_features:
        check_features(args.sel_features, _available(data))
        overrides[main_pred] = list(args.sel_features)
    result = run_cv(data, _cv_config(args, ["median", "loglinear", main_pred], overrides))
    s = result.seed_mae()
    fold = result.fold_mae()
    settings = {t.name: t.setting for t in data.tasks}
    rows = []
    for task in data.task_names:
        g = s[s.task == task].groupby("predictor")["mae"].mean()
        f = fold[(fold.task == task) & (fold.predictor == main_pred)]
        rows.append({"task": task, "setting": settings[task], "mae": g[main_pred],
                     "std_mae": f.groupby("seed")["mae"].std(ddof=0).mean(), "med_baseline_mae": g["median"],
                     "loglinear_baseline_mae": g["loglinear"], "n_models": data.task_frame(task)[1].size})
    table = pd.DataFrame(rows)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"xgboost_{args.predictor_type}_{args.metric}_{args.validation}"
    with atomic_open(out / f"performance_prediction_{stem}.csv") as fh:
        table.to_csv(fh, index=False)
    per_model = result.predictions.rename(columns={"task": "y_col", "id": "Model", "y_true": "True",
                                                   "y_pred": "Predicted"})
    with atomic_open(out / f"per_model_predictions_{stem}.csv") as fh:
        per_model.to_csv(fh, index=False)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"=== Average MAE across tasks: {table['mae'].mean():.4f} (median baseline "
          f"{table['med_baseline_mae'].mean():.4f}, log-linear {table['loglinear_baseline_mae'].mean():.4f}) ===")
    print(f"wrote {out}/performance_prediction_{stem}.csv and per_model_predictions_{stem}.csv")
    return 0


def read_initial_features(path: str) -> dict[str, list[str]]:
    """The paper's ``selected_feats`` CSV: columns task and selected_features (a Python list literal)."""
    p = Path(path)
    if not p.is_file():
        from .errors import PredictionFileNotFoundError

        raise PredictionFileNotFoundError(f"--initial_features_csv {p} does not exist")
    df = pd.read_csv(p)
    for col in ("task", "selected_features"):
        if col not in df.columns:
            raise PredictionInputError(f"--initial_features_csv {p} lacks column {col!r} (needs task, "
                                       "selected_features as written by `njsl predict select`)")
    out = {}
    for _, r in df.iterrows():
        try:
            feats = ast.literal_eval(str(r["selected_features"]))
        except (ValueError, SyntaxError) as err:
            raise PredictionInputError(f"--initial_features_csv {p}: selected_features of task {r['task']!r} is "
                                       "not a list literal like \"['total_params', ...]\"") from err
        out[str(r["task"])] = [str(f) for f in feats]
    return out


def run_significance(args) -> int:
    """Selected features (CSV) vs scaling-only across seeds: paper's paired t-test + corrected tests + FDR."""
    from .evaluate import run_cv
    from .significance import compare

    if args.selected_task:
        args.sel_tasks = [args.selected_task]
    data = _load(args)
    chosen = read_initial_features(args.initial_features_csv) if args.initial_features_csv else {}
    frames = []
    for task in data.task_names:
        feats = chosen.get(task)
        if args.initial_features_csv and feats is None:
            print(f"note: {task} not in {args.initial_features_csv}; using all features", file=sys.stderr)
        overrides = {}
        if feats:
            check_features(feats, _available(data))
            overrides["xgb_all"] = feats
        sub = type(data)(models=data.models, targets=data.targets[data.targets.task == task],
                         tasks=[t for t in data.tasks if t.name == task], metric=data.metric,
                         pseudo_features=data.pseudo_features)
        frames.append(run_cv(sub, _cv_config(args, ["xgb_scaling", "xgb_all"], overrides)).predictions)
    preds = pd.concat(frames, ignore_index=True)
    table = compare(preds)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"significance_{args.metric}_{args.validation}.csv"
    with atomic_open(path) as fh:
        table.to_csv(fh, index=False)
    with pd.option_context("display.width", 200):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    print(f"wrote {path}")
    return 0


def run_selection(args) -> int:
    """Nested forward selection per task; writes the paper's selected_feats layout + out-of-sample gains."""
    from .selection import SelectionConfig, nested_forward_selection

    data = _load(args)
    cfg = SelectionConfig(scheme=args.validation, seed=args.seed, outer_folds=args.outer_folds,
                          max_added=args.max_added, n_jobs=args.n_jobs)
    folds, summary = nested_forward_selection(data, cfg)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in ((f"forward_selection_{args.metric}_{args.validation}.csv", summary),
                        (f"forward_selection_folds_{args.metric}_{args.validation}.csv", folds)):
        with atomic_open(out / name) as fh:
            frame.to_csv(fh, index=False)
    print(summary[["task", "selected_features", "inner_gain_mean", "outer_gain_mean"]].to_string(
        index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"wrote {out}/forward_selection_{args.metric}_{args.validation}.csv")
    return 0


def _generation_csv(value: str) -> str | None:
    """``--generation_features``: auto = the shared release's CSV if present, none = off, else a CSV that must exist."""
    from njsl.paths import generation_features_csv

    from .predictors import GENERATION_DESIGN_PREDICTORS

    if value == "none":
        return None
    if value == "auto":
        path = generation_features_csv()
        if not path.is_file():
            print(f"--generation_features auto: no generation-feature CSV at {path}; "
                  f"{', '.join(GENERATION_DESIGN_PREDICTORS)} not run", file=sys.stderr)
            return None
        return str(path)
    if not Path(value).is_file():
        raise PredictionInputError(f"--generation_features: no such file {value!r} (give a CSV, auto or none)")
    return value


def run_report_cmd(args) -> int:
    from .predictors import (
        GENERATION_DESIGN_PREDICTORS,
        IMPROVEMENT_PREDICTORS,
        MAIN_DESIGN_PREDICTORS,
        MAIN_LAW_PREDICTORS,
        PAPER_PREDICTORS,
    )
    from .report import ReportConfig, run_report

    if args.n_seeds < 1:
        raise PredictionInputError(f"--n_seeds must be >= 1, got {args.n_seeds}")
    if args.improvement_seeds < 0:
        raise PredictionInputError(f"--improvement_seeds must be >= 0, got {args.improvement_seeds}")
    if args.improvement_report_seeds < 0:
        raise PredictionInputError(f"--improvement_report_seeds must be >= 0, got {args.improvement_report_seeds}")
    gen_csv = _generation_csv(args.generation_features)
    cfg = ReportConfig(db_path=args.db_path or _default_db(), out=args.out, metrics=tuple(args.metrics),
                       seeds=tuple(range(args.seed, args.seed + args.n_seeds)), predictors=PAPER_PREDICTORS,
                       improvements=IMPROVEMENT_PREDICTORS if args.variants and not args.paper_only else (),
                       laws=() if args.paper_only else MAIN_LAW_PREDICTORS,
                       designs=() if args.paper_only else MAIN_DESIGN_PREDICTORS,
                       n_boot=0 if args.paper_only else args.n_boot,
                       improvement_seeds=args.improvement_seeds, grid=args.grid,
                       improvement_report_seeds=args.improvement_report_seeds,
                       max_bin=args.max_bin, pseudo_feats_csv=args.pseudo_feats_csv,
                       generation_features_csv=gen_csv,
                       generation_designs=() if args.paper_only or not gen_csv else GENERATION_DESIGN_PREDICTORS,
                       drop_instruction_tuned=args.drop_instruction_tuned, merge_arithmetic=args.merge_arithmetic,
                       selection=args.selection, selection_scheme=args.selection_scheme, n_jobs=args.n_jobs,
                       sel_tasks=tuple(args.sel_tasks) if args.sel_tasks else None,
                       unscored_ids=tuple(args.ids) if args.ids else None,
                       paper_port_seeds=tuple(args.paper_port_seeds))
    out = run_report(cfg)
    print(f"wrote {out}/index.md  (timings: {cfg.timings})")
    return 0


def run_port_cmd(args) -> int:
    """The port of the paper's own pipeline (paper_port.py): its results table per metric and predictor type."""
    from .paper_port import paper_port_study

    if not args.seeds:
        raise PredictionInputError("--seeds needs at least one seed")
    study = paper_port_study(args.db_path or _default_db(), tuple(args.metric), tuple(args.seeds),
                             tuple(args.predictor_type), drop_instruction_tuned=args.drop_instruction_tuned,
                             pseudo_feats_csv=args.pseudo_feats_csv,
                             sel_tasks=tuple(args.sel_tasks) if args.sel_tasks else None, n_jobs=args.n_jobs or 1)
    if study.table.empty:
        raise PredictionInputError(f"the paper's pipeline has nothing to predict: {study.notes.get('no_task')}")
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in (("paper_port.csv", study.table), ("paper_port_folds.csv", study.result.folds),
                        ("paper_port_predictions.csv", study.result.predictions)):
        with atomic_open(out / name) as fh:
            frame.to_csv(fh, index=False)
    with pd.option_context("display.width", 200):
        print(study.table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for (metric, ptype), g in study.table.groupby(["metric", "predictor_type"]):
        print(f"=== {metric}, {ptype}: average MAE across tasks {g['mae'].mean():.4f} (median baseline "
              f"{g['med_baseline_mae'].mean():.4f}, log-linear {g['loglinear_baseline_mae'].mean():.4f}) ===")
    print(f"wrote {out}/paper_port.csv, paper_port_folds.csv, paper_port_predictions.csv")
    return 0


def _report_parser(prog: str | None) -> argparse.ArgumentParser:
    """The options of `njsl predict report`."""
    p = argparse.ArgumentParser(prog=prog, description="Write the prediction report folder (both metrics, both "
                                "validation schemes, seeds, significance, SHAP, conformal coverage, figures).")
    p.add_argument("--db_path", default=None, help="store (.duckdb or export folder); default shared release")
    p.add_argument("--out", default="reports/paper")
    p.add_argument("--metrics", nargs="+", choices=["accuracy", "brier_score"], default=["accuracy", "brier_score"])
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--n_seeds", type=int, default=10)
    p.add_argument("--grid", choices=["paper", "fast"], default="fast")
    p.add_argument("--max_bin", type=int, default=32)
    p.add_argument("--pseudo_feats_csv", default=None)
    p.add_argument("--generation_features", default="none", metavar="CSV|auto|none",
                   help="also run design_ens4g_gen_eff, the design predictor that reads generation features "
                   "(the paper's pseudo-feature CSV; every other predictor runs without them); auto: the shared "
                   "release's CSV; none (default: it adds ~1.5 min to the main job on the idle machine)")
    p.add_argument("--drop_instruction_tuned", action="store_true")
    p.add_argument("--merge_arithmetic", action="store_true")
    p.add_argument("--selection", action="store_true", help="also run nested forward selection")
    p.add_argument("--selection_scheme", choices=["family", "random"], default="family",
                   help="outer folds of the nested forward selection (random: the paper's)")
    p.add_argument("--paper_only", action="store_true", help="only the paper's four predictors (no laws, no "
                   "design-aware predictors, no effects)")
    p.add_argument("--variants", action="store_true", help="also run the XGBoost family-generalisation "
                   "variants (xgb_all_logit, xgb_resid, ...): chosen on --improvement_seeds seeds, reported on "
                   "the next --improvement_report_seeds seeds")
    p.add_argument("--n_boot", type=int, default=100, help="family-bootstrap refits for the design effects")
    p.add_argument("--improvement_seeds", type=int, default=2,
                   help="seeds on which the family-generalisation variants run and the best is chosen")
    p.add_argument("--improvement_report_seeds", type=int, default=3,
                   help="the next seeds, on which the chosen variant is re-run and reported")
    p.add_argument("--sel_tasks", nargs="+", default=None)
    p.add_argument("--ids", nargs="+", default=None, metavar="ID",
                   help="models to predict on the tasks they have no score for (section 'Models in the store "
                   "without scores on these tasks'); default: every annotated model with params and tokens")
    p.add_argument("--n_jobs", type=int, default=0)
    p.add_argument("--paper_port_seeds", type=int, nargs="*", default=[42], metavar="SEED",
                   help="seeds of the port of the paper's pipeline run beside ours (none: skip it)")
    return p


def build_parser(prog: str | None = None, mode: str = "run") -> argparse.ArgumentParser:
    if mode == "report":
        return _report_parser(prog)
    if mode == "port":
        p = argparse.ArgumentParser(prog=prog, description="Run the port of the paper's pipeline "
                                    "(performance_prediction/paper_port.py): its folds (with the unused 20 %% of "
                                    "each training fold), grid, encoding; writes its results table.")
        p.add_argument("--db_path", default=None, help="store (.duckdb or export folder); default shared release")
        p.add_argument("--metric", nargs="+", choices=["accuracy", "brier_score"], default=["accuracy"])
        p.add_argument("--predictor_type", nargs="+", choices=["all", "scaling_laws", "non_scaling_laws"],
                       default=["all", "scaling_laws"])
        p.add_argument("--seeds", type=int, nargs="+", default=[42])
        p.add_argument("--drop_instruction_tuned", action="store_true")
        p.add_argument("--pseudo_feats_csv", default=None)
        p.add_argument("--sel_tasks", nargs="+", default=None)
        p.add_argument("--n_jobs", type=int, default=1)
        p.add_argument("--output_dir", default="prediction_results")
        return p
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_paper_args(p)
    if mode in ("significance", "gradual"):
        p.add_argument("--test_significance", action="store_true",
                       help="compare selected features vs scaling-only across seeds (else: forward selection)")
        p.add_argument("--initial_features_csv", default=None)
        p.add_argument("--selected_task", default=None)
    if mode in ("select", "gradual"):
        p.add_argument("--max_added", type=int, default=6, help="forward selection: most features added")
    return p


@guarded
def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    mode = argv[0] if argv and argv[0] in ("report", "select", "significance", "port") else "run"
    if mode != "run":
        argv = argv[1:]
        prog = f"{prog or 'njsl predict'} {mode}"
    return _dispatch(mode, argv, prog)


def _dispatch(mode: str, argv: list[str], prog: str | None) -> int:
    args = build_parser(prog, mode).parse_args(argv)
    if mode == "report":
        return run_report_cmd(args)
    if mode == "port":
        return run_port_cmd(args)
    if mode == "select":
        return run_selection(args)
    if mode == "significance":
        return run_significance(args)
    if mode == "gradual":
        return run_significance(args) if args.test_significance else run_selection(args)
    return run_paper(args)


@guarded
def gradual_main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """performance_predict_from_db_gradual.py: forward selection, or --test_significance."""
    return _dispatch("gradual", list(sys.argv[1:] if argv is None else argv), prog)


if __name__ == "__main__":
    sys.exit(main())
