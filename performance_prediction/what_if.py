"""``njsl predict-model SPECS --out OUT.csv``: predicted scores of planned models, with intervals.

SPECS is a CSV (one planned model a row) or a YAML file (one spec, or a list of specs, or ``models: [...]``).

CSV columns: ``id``, ``total_params``, ``tokens_billions`` (required columns; a row's tokens may be empty =
unknown) and optionally any architecture / data / generation-feature column under the store's names
(``activation``, ``pretraining_summary_percentage_code`` or short ``code``, ...). YAML spec::

    id: my-1b-code-heavy            # optional label
    total_params: 1.1e9             # required
    tokens_billions: 100            # optional: unknown tokens -> a law in params alone, flagged, wider interval
    architecture: {dimension: 2048, num_heads: 16, mlp_ratio: 4, sequence_length: 2048,
                   activation: swiglu, attention_variant: gqa, biases: none, block_type: sequential,
                   layer_norm_type: rmsnorm, positional_embeddings: rope}
    data: {web: 60, code: 30, books: 5, reference: 3, academic: 2, english: 95}   # percentages
    pseudo: {question_words_ratio: 0.01}       # optional generation features

OUT.csv: ``id, metric, task, predictor, predicted, lower, upper, basis``. ``basis``: ``design`` (the law plus
the corrections of the design decisions the spec gives), ``law`` (no usable design decision given, or the
inner CV chose no correction for that task: the pure scaling law), ``law_params_only`` (tokens unknown),
``trees`` (an XGBoost predictor). An unknown design decision never shifts a prediction: the design-aware
model applies only the corrections it knows (the default ``design_ens4g_effen_g`` knows the data mix only; the
architecture counts with ``--predictor design_arch``). For the default, ``law`` means the prediction from params
and tokens alone: its law averaged with monotone trees on params and tokens and (accuracy) the N/D sigmoid law, all
at the real tokens (with a data mix they read effective tokens: a code token and a non-English natural-language
token count 0.1, ``effective_tokens.py``).
Every input is validated before anything is fit (the spec by the typed models of
:mod:`performance_prediction.specs`; errors name the row or item and the field); the output is written
atomically, so a bad input leaves nothing behind.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .errors import PredictionInputError
from .specs import TOKENS, load_specs
from .tasks import score_upper
from njsl.cli import guarded

OUT_COLUMNS = ["id", "metric", "task", "predictor", "predicted", "lower", "upper", "basis"]
# Planned models are usually larger than the ones in the store: the default is the design-aware predictor that
# extrapolates best (largest 20 % by compute: MAE .113 vs .140 for design_arch_half) at a small cost on unseen
# families (.0504 vs .0502, accuracy); half of design_blend_data's shift (benchmarks/RESULTS.md, issue 12
# sessions 3 and 4). Session 6: its family-bootstrap bagged version, better again beyond the training range
# (accuracy .0907 vs .1127, brier .1071 vs .1126) and on unseen families.
# Session 7: the ensemble design_ens25 (0.75 x that predictor + 0.25 x monotone trees on params and tokens): as good
# beyond the training range on accuracy (.0906 vs .0907), better on brier (.1032 vs .1071) and on unseen families.
# Session 8: design_ens4 (two monotone tree parts, one with a pseudo-Huber loss, and the N/D law averaged in; weights
# per metric): better on unseen families (three seed sets) and beyond the training range (.0850 / .0958 vs .0906 /
# .1032)
# Session 8 (lead): design_ens4g, the main job's predictor: the same parts with more weight on the N/D law on accuracy
# tasks, so no task falls far behind its best law (lambada +.0028 vs +.0047 on seeds 62-71); beyond the training range
# .0862 vs .0850 (accuracy; xgb_all .1665)
# Session 11: design_ens4g_effen, the same on effective tokens (code and non-English tokens count 0.1; the main job's
# predictor in session 11, predictors.py)
# Session 12: design_ens4g_effen_g, its accuracy weights re-chosen on the effective-token parts (every task within
# .002 of its best law on the selection and on never-used seeds; the main job's predictor since then)
DEFAULT_PREDICTOR = "design_ens4g_effen_g"
PARAMS_LAW = "law_sigmoid_params"


def load_spec(path: str | Path) -> pd.DataFrame:
    """One YAML spec (the original interface): same as ``load_specs``."""
    return load_specs(path)


# ----------------------------------------------------------------------------------------------- predicting
def _fit(predictor: str, data, task: str, X: pd.DataFrame, y: np.ndarray, seed: int, cfg):
    """``predictor`` fit on the task's scored models ``X``, ``y`` (from ``data.task_frame(task)``)."""
    from .evaluate import predictor_params
    from .families import families
    from .predictors import make_predictor

    est = make_predictor(predictor, **predictor_params(predictor, data.metric, seed, cfg, data.pseudo_features, task))
    return est.fit(X, y, groups=families(X.index))


def _basis(est, rows: pd.DataFrame) -> np.ndarray:
    """Per row: ``design`` when a design correction was applied, else ``law``; ``trees`` for XGBoost."""
    if not hasattr(est, "design_applied"):
        return np.full(len(rows), "trees", dtype=object)
    return np.where(est.design_applied(rows), "design", "law").astype(object)


def predict_models(data, models: pd.DataFrame, half_widths: pd.Series | None, cfg, predictor: str = DEFAULT_PREDICTOR,
                   alpha: float = 0.1, only_unscored: bool = True, tasks: list[str] | None = None,
                   fits: dict | None = None) -> pd.DataFrame:
    """Predicted score and (1-alpha) interval of every row of ``models`` on every task of ``data``.

    Per task, ``predictor`` is fit once on all models scored on it and predicts all rows at once. Intervals:
    the predictor's own (law and design predictors: normalised conformal, see ``laws.py``) or, for XGBoost,
    prediction +/- ``half_widths[task]`` (conformal quantile of cross-validation residuals). Rows without
    tokens get the law in params alone (``basis`` ``law_params_only``). With ``only_unscored`` a model scored
    on the task is skipped for it. Columns: id, metric, task, predictor, predicted, lower, upper, basis,
    interval, n_train_models. ``fits``: ``{(task, predictor): estimator}`` already fit that way
    (``design_study.full_fits``), reused instead of fitting again.
    """
    upper = score_upper(data.metric)
    fits = fits or {}
    rows = []
    tok = pd.to_numeric(models.get(TOKENS, pd.Series(np.nan, index=models.index)), errors="coerce")
    for task in tasks or data.task_names:
        X, y = data.task_frame(task)
        todo = models[~models.index.isin(X.index)] if only_unscored else models
        if todo.empty:
            continue
        todo = todo.reindex(columns=X.columns)
        for who, part in ((predictor, todo[(tok.reindex(todo.index) > 0).to_numpy()]),
                          (PARAMS_LAW, todo[~(tok.reindex(todo.index) > 0).to_numpy()])):
            if part.empty:
                continue
            est = fits.get((task, who))
            if est is None:
                est = _fit(who, data, task, X, y, cfg.seeds[0], cfg)
            pred = np.asarray(est.predict(part), dtype=float)
            if hasattr(est, "predict_interval"):
                lo, hi = est.predict_interval(part)
            else:
                h = float(half_widths.get(task, np.nan)) if half_widths is not None else np.nan
                lo, hi = pred - h, pred + h
            basis = _basis(est, part) if who == predictor else np.full(len(part), "law_params_only", dtype=object)
            # Tree ensembles can step outside the metric's range; a score cannot.
            pred, lo, hi = (np.clip(v, 0.0, upper) for v in (pred, lo, hi))
            rows.append(pd.DataFrame({"id": part.index, "metric": data.metric, "task": task, "predictor": who,
                                      "predicted": pred, "lower": lo, "upper": hi, "basis": basis,
                                      "interval": f"{1 - alpha:.0%}", "n_train_models": len(y)}))
    cols = [*OUT_COLUMNS, "interval", "n_train_models"]
    return pd.concat(rows, ignore_index=True)[cols] if rows else pd.DataFrame(columns=cols)


def predict_specs(specs: pd.DataFrame, db_path: str, metrics=("accuracy", "brier_score"),
                  predictor: str = DEFAULT_PREDICTOR, alpha: float = 0.1, tasks: list[str] | None = None,
                  seeds=(42,), grid="fast", max_bin: int = 32, pseudo_feats_csv=None, residuals_csv: str | None = None,
                  n_jobs: int = 0, progress: bool = True) -> pd.DataFrame:
    """Predicted score and (1-alpha) interval per task for the planned models in ``specs``.

    Validates the predictor, the tasks and the spec columns against the store before fitting anything.
    """
    from .data import load_data
    from .evaluate import CVConfig
    from .predictors import make_predictor
    from .tasks import paper_tasks

    make_predictor(predictor)   # an unknown name is a clear error before any work
    known_tasks = {t.name: m for m in metrics for t in paper_tasks(m)}
    unknown = [t for t in tasks or [] if t not in known_tasks]
    if unknown:
        raise PredictionInputError(f"--tasks: unknown task(s) {', '.join(unknown)}; choose from "
                                   f"{', '.join(known_tasks)}")
    datas: dict[str, tuple[Any, list[str] | None]] = {}
    for metric in metrics:
        want = [t for t in tasks or [] if known_tasks[t] == metric]
        if tasks and not want:
            continue
        data = load_data(db_path, metric=metric, merge_mmlu=True, pseudo_feats_csv=pseudo_feats_csv)
        bad = [c for c in specs.columns if c not in data.models.columns]
        if bad:
            raise PredictionInputError(f"spec: unknown feature(s) {', '.join(bad)} (pseudo features must be named "
                                       "as in --pseudo_feats_csv or the store's features table)")
        skipped = [t for t in want if t not in data.task_names]
        if skipped:
            raise PredictionInputError(f"--tasks: {', '.join(skipped)} has too few models in this store "
                                       f"({data.skipped_tasks.get(skipped[0], '')})")
        datas[metric] = (data, want or None)
    _note_missing_generation_features(predictor, datas)
    frames = []
    for metric, (data, wanted) in datas.items():
        cfg = CVConfig(predictors=(predictor,), schemes=("family",), seeds=tuple(seeds), grid=grid, max_bin=max_bin,
                       n_jobs=n_jobs, progress=progress, alpha=alpha)
        q = None
        if not predictor.startswith(("law_", "design_")):
            q = _tree_half_widths(data, cfg, predictor, alpha, residuals_csv, metric)
        # a planned model is predicted on every task, even if its id happens to be scored in the store
        frames.append(predict_models(data, specs, q, cfg, predictor, alpha, only_unscored=False, tasks=wanted))
    return pd.concat(frames, ignore_index=True)


def _note_missing_generation_features(predictor: str, datas: dict) -> None:
    """A predictor that reads generation features, run without any: say so (it then corrects for data and
    architecture only, so it is not the predictor the report measured)."""
    from .design_study import uses_generation_features

    if uses_generation_features(predictor) and not any(d.pseudo_features for d, _ in datas.values()):
        print(f"note: {predictor} reads generation features, but there are none (no --pseudo_feats_csv and none in "
              "the store's features table): it is fitted on the data mix and architecture only", file=sys.stderr)


def _tree_half_widths(data, cfg, predictor: str, alpha: float, residuals_csv: str | None, metric: str):
    """Conformal half-width per task for XGBoost predictors: a report's residuals or a fresh family CV."""
    from .conformal import interval_half_widths
    from .evaluate import run_cv

    if residuals_csv:
        preds = pd.read_csv(residuals_csv)
        need = {"task", "scheme", "predictor", "y_true", "y_pred"}
        if not need <= set(preds.columns):
            raise PredictionInputError(f"--residuals_csv {residuals_csv} lacks column(s) "
                                       f"{', '.join(sorted(need - set(preds.columns)))}; give a report's "
                                       "predictions.csv")
        if "metric" in preds.columns:
            preds = preds[preds["metric"] == metric]
    else:
        preds = run_cv(data, cfg).predictions
    return interval_half_widths(preds, predictor, "family", alpha)


@guarded
def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    from njsl.paths import paper_release_dir

    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", help="CSV or YAML file of planned models")
    parser.add_argument("--out", "--output", dest="out", default=None, help="write the table as CSV")
    parser.add_argument("--db_path", default=None, help="store (default: the shared paper release)")
    parser.add_argument("--metrics", nargs="+", choices=["accuracy", "brier_score"],
                        default=["accuracy", "brier_score"])
    parser.add_argument("--tasks", nargs="+", default=None, help="only these tasks (default: all of the metrics)")
    parser.add_argument("--predictor", default=DEFAULT_PREDICTOR)
    parser.add_argument("--alpha", type=float, default=0.1, help="1 - coverage of the interval")
    parser.add_argument("--pseudo_feats_csv", default=None)
    parser.add_argument("--residuals_csv", default=None,
                        help="XGBoost predictors: a report's predictions.csv (reuses its family-CV residuals)")
    parser.add_argument("--n_jobs", type=int, default=0)
    args = parser.parse_args(argv)
    if not 0 < args.alpha < 1:
        raise PredictionInputError(f"--alpha must be in (0, 1), got {args.alpha}")
    specs = load_specs(args.spec)
    table = predict_specs(specs, args.db_path or str(paper_release_dir()), metrics=args.metrics,
                          predictor=args.predictor, alpha=args.alpha, tasks=args.tasks,
                          pseudo_feats_csv=args.pseudo_feats_csv, residuals_csv=args.residuals_csv,
                          n_jobs=args.n_jobs)
    out = table[OUT_COLUMNS]
    print(out.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.out:
        from njsl.atomic import atomic_open

        with atomic_open(args.out) as fh:
            out.to_csv(fh, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
