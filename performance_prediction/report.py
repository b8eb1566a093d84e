"""One command, one folder: the prediction report (CSVs, PNG figures, index.md linking them).

``njsl predict report --db_path DB --out DIR`` runs, for both metrics, nested CV with both validation schemes
over several seeds for the paper's predictors (and, by default, the family-generalisation variants), then
writes tables, figures, significance tests, SHAP importance and conformal coverage. Models of the store that
have params and tokens but no score on a task (e.g. freshly trained ones evaluated on other benchmarks) are
predicted on it with a conformal interval: section "Models in the store without scores on these tasks" and
``unscored_models_predictions.csv``.
"""
from __future__ import annotations

import difflib
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from njsl.atomic import atomic_path

from .conformal import coverage, interval_half_widths
from .data import load_data
from .evaluate import CVConfig, CVResult, run_cv
from .errors import PredictionInputError
from .explain import shap_importance, shap_summary_png
from .families import families
from .features import CATEGORICAL, DATA_FEATURES, NUMERIC_ARCH
from .predictors import IMPROVEMENT_PREDICTORS, PAPER_PREDICTORS, PREDICTORS
from .selection import SelectionConfig, nested_forward_selection
from .significance import compare
from .what_if import predict_models

# All-features MAE of the paper's own code on the shared release, random 3-fold outer CV, seed 42 (issue 3).
PAPER_REFERENCE_MAE = {"arc_challenge": 0.035, "hellaswag": 0.035, "gsm8k": 0.051, "humaneval": 0.063,
                       "lambada": 0.065, "truthfulqa": 0.023, "winogrande": 0.032, "mmlu_0-shot": 0.042,
                       "mmlu_5-shot": 0.035}
PAPER_REFERENCE_SCALING_MEAN = 0.048


@dataclass
class ReportConfig:
    db_path: str
    out: str
    metrics: tuple[str, ...] = ("accuracy", "brier_score")
    seeds: tuple[int, ...] = tuple(range(42, 52))
    schemes: tuple[str, ...] = ("family", "random")
    predictors: tuple[str, ...] = PAPER_PREDICTORS
    # family-generalisation variants: family scheme only, on the first ``improvement_seeds`` seeds
    improvements: tuple[str, ...] = IMPROVEMENT_PREDICTORS
    improvement_seeds: int = 3
    grid: str = "fast"
    max_bin: int = 32
    pseudo_feats_csv: str | None = None
    drop_instruction_tuned: bool = False
    merge_arithmetic: bool = False
    selection: bool = False
    alpha: float = 0.1
    n_jobs: int = 0
    sel_tasks: tuple[str, ...] | None = None
    # models to predict where they lack scores (None: every annotated model with params and tokens)
    unscored_ids: tuple[str, ...] | None = None
    unscored_predictor: str = "xgb_all"
    progress: bool = True
    timings: dict = field(default_factory=dict)


def _fig_mae_bars(mae: pd.DataFrame, scheme: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = mae[(mae.scheme == scheme) & mae.predictor.isin(["median", "loglinear", "xgb_scaling", "xgb_all"])]
    piv = d.pivot_table(index="task", columns="predictor", values="mae")
    err = d.pivot_table(index="task", columns="predictor", values="mae_std_over_seeds")
    order = [c for c in ["median", "loglinear", "xgb_scaling", "xgb_all"] if c in piv]
    ax = piv[order].plot.bar(yerr=err.reindex(columns=order), figsize=(11, 4.5), width=0.8, capsize=2)
    ax.set_ylabel("MAE (mean over seeds)")
    ax.set_title(f"MAE per task, {scheme} validation: scaling-only vs all features")
    plt.xticks(rotation=35, ha="right")
    plt.tight_layout()
    plt.savefig(path, dpi=110)
    plt.close("all")


def _fig_pred_vs_actual(pred: pd.DataFrame, scheme: str, predictor: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = pred[(pred.scheme == scheme) & (pred.predictor == predictor)]
    p = p.groupby(["task", "id"])[["y_true", "y_pred"]].mean().reset_index()   # mean over seeds
    tasks = sorted(p.task.unique())
    n = len(tasks)
    cols = min(4, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for ax, task in zip(axes.flat, tasks, strict=False):
        g = p[p.task == task]
        ax.scatter(g.y_true, g.y_pred, s=10, alpha=0.7)
        lo, hi = float(min(g.y_true.min(), g.y_pred.min())), float(max(g.y_true.max(), g.y_pred.max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_title(f"{task} (MAE {np.mean(np.abs(g.y_pred - g.y_true)):.3f})", fontsize=9)
        ax.set_xlabel("actual", fontsize=8)
        ax.set_ylabel("predicted", fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(f"{predictor}, {scheme} validation (out-of-fold, mean over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close("all")


def _md_table(df: pd.DataFrame, floatfmt: str = ".4f") -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = [format(v, floatfmt) if isinstance(v, (float, np.floating)) and np.isfinite(v) else
                 ("" if isinstance(v, float) and not np.isfinite(v) else str(v)) for v in r]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paper_comparison(result: CVResult) -> pd.DataFrame:
    """Random 3-fold, seed 42: our all-features and scaling MAE beside the paper code's numbers."""
    s = result.seed_mae()
    s = s[(s.scheme == "random") & (s.seed == 42)]
    rows = []
    for task, ref in PAPER_REFERENCE_MAE.items():
        g = s[s.task == task].set_index("predictor")["mae"]
        if "xgb_all" not in g:
            continue
        rows.append({"task": task, "paper_code_all": ref, "ours_all": g["xgb_all"],
                     "diff": g["xgb_all"] - ref, "within_0.006": abs(g["xgb_all"] - ref) <= 0.006,
                     "ours_scaling": g.get("xgb_scaling", np.nan)})
    return pd.DataFrame(rows)


def check_ids(ids, data, cfg: ReportConfig) -> None:
    """``--ids`` must name models the predictor can use: annotated, with params and tokens > 0."""
    missing = [i for i in ids if i not in data.models.index]
    if not missing:
        return
    hints = []
    for i in missing:
        close = difflib.get_close_matches(i, [str(x) for x in data.models.index], n=2)
        hints.append(f"{i!r}" + (f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""))
    why = "annotated models with total_params and pretraining tokens (both > 0)"
    if cfg.drop_instruction_tuned:
        why += ", not instruction-tuned (--drop_instruction_tuned)"
    raise PredictionInputError(f"--ids: {', '.join(hints)} not among the store's {why}; check the id or add the "
                               "model's annotation and data composition (`njsl register-run`, `njsl db add-model`)")


def unscored_predictions(data, result: CVResult, cfg: ReportConfig, cv: CVConfig) -> pd.DataFrame:
    """Predictions with conformal intervals for the store's models that lack a score on a task.

    The predictor (``cfg.unscored_predictor``, xgb_all) is fit once per task on every scored model; the interval
    half-width is the conformal quantile of the report's own out-of-fold residuals of that predictor (family
    scheme when run), so ``conformal_coverage.csv`` measures how often such intervals hold. Each row carries
    the features the prediction used: family, params, tokens, data composition, how many architecture
    decisions and generation features are known.
    """
    candidates = data.models if cfg.unscored_ids is None else data.models.loc[list(cfg.unscored_ids)]
    if cfg.unscored_predictor not in set(result.predictions["predictor"]) or candidates.empty:
        return pd.DataFrame()
    scheme = "family" if "family" in cfg.schemes else cfg.schemes[0]
    q = interval_half_widths(result.predictions, cfg.unscored_predictor, scheme, cfg.alpha)
    table = predict_models(data, candidates, q, cv, cfg.unscored_predictor, cfg.alpha, only_unscored=True)
    if table.empty:
        return table
    feats = candidates.loc[table["id"].unique()]
    info = pd.DataFrame({"family": families(feats.index), "total_params": feats["total_params"].astype(float),
                         "tokens_billions": feats["pretraining_summary_total_tokens_billions"].astype(float)},
                        index=feats.index)
    for col in DATA_FEATURES:
        info["pct_" + col.removeprefix("pretraining_summary_percentage_")] = pd.to_numeric(feats[col], errors="coerce")
    info["n_architecture_known"] = feats[[*NUMERIC_ARCH, *CATEGORICAL]].notna().sum(axis=1)
    info["n_generation_features"] = (feats[list(data.pseudo_features)].notna().sum(axis=1)
                                     if data.pseudo_features else 0)
    return table.assign(scheme_of_residuals=scheme, predictor=cfg.unscored_predictor).join(info, on="id")


def run_report(cfg: ReportConfig) -> Path:
    """Run everything and write the report folder atomically; returns its path."""
    out = Path(cfg.out)
    t_start = time.perf_counter()
    results: dict[str, CVResult] = {}
    datas = {}
    sel_tables = {}
    unscored: dict[str, pd.DataFrame] = {}
    for metric in cfg.metrics:
        t0 = time.perf_counter()
        data = load_data(cfg.db_path, metric=metric, merge_mmlu=True, merge_arithmetic=cfg.merge_arithmetic,
                         drop_instruction_tuned=cfg.drop_instruction_tuned, pseudo_feats_csv=cfg.pseudo_feats_csv,
                         sel_tasks=list(cfg.sel_tasks) if cfg.sel_tasks else None)
        datas[metric] = data
        if cfg.unscored_ids:
            check_ids(cfg.unscored_ids, data, cfg)   # before the CV: a typo costs nothing
        cv = CVConfig(predictors=tuple(cfg.predictors), schemes=tuple(cfg.schemes), seeds=tuple(cfg.seeds),
                      grid=cfg.grid, max_bin=cfg.max_bin, n_jobs=cfg.n_jobs, shap_predictor="xgb_all",
                      progress=cfg.progress)
        results[metric] = run_cv(data, cv)
        if cfg.improvements and "family" in cfg.schemes:
            extra = run_cv(data, replace(cv, predictors=tuple(cfg.improvements), schemes=("family",),
                                         seeds=tuple(cfg.seeds[:cfg.improvement_seeds]), shap_predictor=None))
            results[metric] = CVResult(
                predictions=pd.concat([results[metric].predictions, extra.predictions], ignore_index=True),
                shap=results[metric].shap,
                best_params=pd.concat([results[metric].best_params, extra.best_params], ignore_index=True))
        cfg.timings[f"cv_{metric}_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        unscored[metric] = unscored_predictions(data, results[metric], cfg, cv)
        cfg.timings[f"unscored_{metric}_s"] = round(time.perf_counter() - t0, 1)
        if cfg.selection:
            t0 = time.perf_counter()
            sel_tables[metric] = nested_forward_selection(
                data, SelectionConfig(scheme="family", n_jobs=cfg.n_jobs, progress=cfg.progress))
            cfg.timings[f"selection_{metric}_s"] = round(time.perf_counter() - t0, 1)
    cfg.timings["total_s"] = round(time.perf_counter() - t_start, 1)
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        (tmp / "figures").mkdir()
        _write(tmp, cfg, results, datas, sel_tables, unscored)
    return out


def _write(tmp: Path, cfg: ReportConfig, results, datas, sel_tables, unscored) -> None:
    preds = pd.concat([r.predictions.assign(metric=m) for m, r in results.items()], ignore_index=True)
    mae = pd.concat([r.mae_table().assign(metric=m) for m, r in results.items()], ignore_index=True)
    seed_mae = pd.concat([r.seed_mae().assign(metric=m) for m, r in results.items()], ignore_index=True)
    preds.to_csv(tmp / "predictions.csv", index=False)
    mae.to_csv(tmp / "mae_by_task.csv", index=False)
    seed_mae.to_csv(tmp / "mae_per_seed.csv", index=False)
    wide = mae.pivot_table(index=["metric", "task"], columns=["scheme", "predictor"], values="mae")
    wide.to_csv(tmp / "mae_wide.csv")
    sig = pd.concat([compare(r.predictions).assign(metric=m) for m, r in results.items()], ignore_index=True)
    sig.to_csv(tmp / "significance.csv", index=False)
    imp = pd.concat([shap_importance(r.shap).assign(metric=m) for m, r in results.items()], ignore_index=True)
    imp.to_csv(tmp / "shap_importance.csv", index=False)
    cov = pd.concat([coverage(r.predictions, "xgb_all", cfg.alpha).assign(metric=m)
                     for m, r in results.items()], ignore_index=True)
    cov.to_csv(tmp / "conformal_coverage.csv", index=False)
    params = pd.concat([r.best_params.assign(metric=m) for m, r in results.items()], ignore_index=True)
    params.to_csv(tmp / "best_params.csv", index=False)
    conflicts = pd.concat([d.alias_conflicts.assign(metric=m) for m, d in datas.items()], ignore_index=True)
    conflicts.to_csv(tmp / "alias_conflicts.csv", index=False)
    impr = pd.concat([improvement_table(r, cfg).assign(metric=m) for m, r in results.items()], ignore_index=True)
    impr.to_csv(tmp / "improvements_family.csv", index=False)
    comp = paper_comparison(results["accuracy"]) if "accuracy" in results else pd.DataFrame()
    comp.to_csv(tmp / "paper_comparison.csv", index=False)
    frames = [u for u in unscored.values() if len(u)]
    new = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=UNSCORED_COLUMNS)
    new.to_csv(tmp / "unscored_models_predictions.csv", index=False)
    for m, (folds, summary) in sel_tables.items():
        folds.to_csv(tmp / f"forward_selection_folds_{m}.csv", index=False)
        summary.to_csv(tmp / f"forward_selection_{m}.csv", index=False)
    figs = []
    for scheme in cfg.schemes:
        for m in results:
            f = f"figures/mae_bars_{m}_{scheme}.png"
            _fig_mae_bars(mae[mae.metric == m], scheme, tmp / f)
            figs.append(f)
            f = f"figures/pred_vs_actual_{m}_{scheme}.png"
            _fig_pred_vs_actual(preds[preds.metric == m], scheme, "xgb_all", tmp / f)
            figs.append(f)
    shap_figs = []
    for m, r in results.items():
        for (task, scheme), (vals, feats) in sorted(r.shap.items()):
            if scheme != cfg.schemes[0]:
                continue
            f = f"figures/shap_{m}_{task}_{scheme}.png"
            shap_summary_png(vals, feats, f"SHAP, {task} ({scheme} CV, xgb_all)", tmp / f)
            shap_figs.append(f)
    (tmp / "config.json").write_text(json.dumps({k: v for k, v in asdict(cfg).items()}, indent=2, default=str))
    (tmp / "index.md").write_text(_index_md(cfg, mae, sig, cov, comp, imp, datas, sel_tables, figs, shap_figs, impr,
                                            new), encoding="utf-8")


def improvement_table(result: CVResult, cfg: ReportConfig) -> pd.DataFrame:
    """Family scheme, the seeds every improvement ran on: MAE per task and predictor, mean over those seeds."""
    if not cfg.improvements:
        return pd.DataFrame()
    s = result.seed_mae()
    s = s[(s.scheme == "family") & s.seed.isin(cfg.seeds[:cfg.improvement_seeds])]
    piv = s.pivot_table(index="task", columns="predictor", values="mae")
    cols = [c for c in ("xgb_scaling", "xgb_all", *cfg.improvements) if c in piv]
    piv = piv[cols]
    piv.loc["MEAN"] = piv.mean()
    return piv.reset_index()


UNSCORED_COLUMNS = ["id", "metric", "task", "predicted", "lower", "upper", "interval", "n_train_models",
                    "scheme_of_residuals", "predictor", "family", "total_params", "tokens_billions",
                    *("pct_" + c.removeprefix("pretraining_summary_percentage_") for c in DATA_FEATURES),
                    "n_architecture_known", "n_generation_features"]


def _unscored_md(cfg: ReportConfig, new: pd.DataFrame) -> list[str]:
    who = (f"the models named with `--ids` ({', '.join(cfg.unscored_ids)})" if cfg.unscored_ids else
           "every annotated model with params and tokens")
    L = ["## Models in the store without scores on these tasks", "",
         f"Predicted scores for {who} on each task it has no score for: `{cfg.unscored_predictor}` fit once per "
         f"task on all scored models; interval = prediction ± the {1 - cfg.alpha:.0%} conformal quantile of this "
         "report's out-of-fold residuals (family scheme; measured coverage above). "
         "Full table: [unscored_models_predictions.csv](unscored_models_predictions.csv).", ""]
    if new.empty:
        return L + ["None: every such model is scored on every task of this report.", ""]
    feats = new.drop_duplicates("id").set_index("id").sort_index()
    shown = feats[["family", "total_params", "tokens_billions", "pct_web", "pct_code", "pct_books",
                   "pct_reference", "pct_academic", "pct_english", "n_architecture_known",
                   "n_generation_features"]].copy()
    shown["total_params"] = shown["total_params"].map(lambda v: f"{v / 1e9:.3g}B")
    shown["tokens_billions"] = shown["tokens_billions"].map(lambda v: f"{v:.3g}")
    L += ["Features used (params; tokens in billions; data composition in %; how many architecture decisions and "
          "generation features are known):", "", _md_table(shown.reset_index(), ".1f"), ""]
    cell = new.assign(cell=[f"{p:.3f} [{lo:.3f}, {hi:.3f}]" for p, lo, hi in
                            zip(new.predicted, new.lower, new.upper, strict=False)])
    for metric, g in cell.groupby("metric", sort=False):
        piv = g.pivot(index="id", columns="task", values="cell").fillna("scored").reset_index()
        L += [f"{metric}: predicted [interval] per task (`scored`: the store has its score):", "",
              _md_table(piv), ""]
    return L


def _index_md(cfg, mae, sig, cov, comp, imp, datas, sel_tables, figs, shap_figs, impr, new) -> str:
    L = ["# Performance prediction report", "",
         f"Store: `{cfg.db_path}`; seeds {cfg.seeds[0]}..{cfg.seeds[-1]} ({len(cfg.seeds)}); 3 outer folds; "
         f"inner 3-fold grid search (`{cfg.grid}` grid, max_bin {cfg.max_bin}) scored by MAE; "
         f"pseudo features: `{cfg.pseudo_feats_csv or 'none'}`; drop instruction-tuned: {cfg.drop_instruction_tuned}.",
         f"Runtime: {cfg.timings}.", "",
         "**Headline: family-grouped validation** (no model family on both sides of a split; families from "
         "`performance_prediction/families.py` + `families.yaml`). Random folds are shown for comparison with "
         "the paper.",
         ""]
    for scheme in cfg.schemes:
        d = mae[mae.scheme == scheme]
        piv = d.pivot_table(index=["metric", "task"], columns="predictor", values="mae").reset_index()
        cols = ["metric", "task"] + [p for p in cfg.predictors if p in piv.columns]
        L += [f"## MAE per task, {scheme} validation (mean over seeds)", "", _md_table(piv[cols]), ""]
        means = d.groupby(["metric", "predictor"])["mae"].mean().unstack("predictor").reset_index()
        L += ["Mean over tasks:", "", _md_table(means[["metric"] + [p for p in cfg.predictors if p in means]]), ""]
    L += ["Predictors:", ""] + [f"- `{p}`: {PREDICTORS[p][1]}" for p in (*cfg.predictors, *cfg.improvements)] + [""]
    if len(impr):
        L += [f"## Making design features help on unseen families (family validation, seeds "
              f"{cfg.seeds[0]}..{cfg.seeds[min(cfg.improvement_seeds, len(cfg.seeds)) - 1]})", "",
              "MAE per task; lower is better. Compare each variant with `xgb_scaling` (scaling only) and `xgb_all` "
              "(the paper's all-features model) on the same seeds and folds.", "",
              _md_table(impr), ""]
    if len(comp):
        L += ["## Reproduction: random 3-fold, seed 42, vs the paper's code on this release", "",
              _md_table(comp), "",
              f"Mean: ours all-features {comp.ours_all.mean():.4f} (paper code {comp.paper_code_all.mean():.4f}); "
              f"ours scaling-only {comp.ours_scaling.mean():.4f} (paper code {PAPER_REFERENCE_SCALING_MEAN}).", ""]
    if len(sig):
        cols = ["metric", "scheme", "task", "mae_xgb_all", "mae_xgb_scaling", "mean_gain", "p_paired", "q_paired",
                "p_corrected", "q_corrected", "p_family_perm", "q_family_perm"]
        L += ["## Significance: xgb_all vs xgb_scaling across seeds", "",
              "`p_paired`: the paper's plain paired t-test over seeds. `p_corrected`: Nadeau-Bengio corrected "
              "resampled t-test over (seed, fold) differences. `p_family_perm`: family sign-flip permutation test. "
              "`q_*`: Benjamini-Hochberg across tasks. The plain test treats seeds as independent although every "
              "seed re-uses the same models, so its p-values shrink with the number of seeds; the corrected test "
              "accounts for the train/test overlap, the permutation test for families.", "",
              _md_table(sig[[c for c in cols if c in sig]], ".3g"), ""]
    if len(cov):
        L += [f"## Conformal intervals ({int((1 - cfg.alpha) * 100)}%): measured coverage", "",
              "Leave-one-fold-out quantile of |out-of-fold residuals| of xgb_all; `njsl predict-model` uses the same "
              "residuals (family scheme).", "", _md_table(cov), ""]
    if len(imp):
        top = imp[imp["rank"] <= 5].groupby(["metric", "scheme", "task"])["feature"].apply(", ".join).reset_index()
        L += ["## SHAP importance (TreeExplainer, xgb_all, held-out folds of the first seed): top 5", "",
              _md_table(top), "", "Full table: [shap_importance.csv](shap_importance.csv)", ""]
    L += _unscored_md(cfg, new)
    for m, (_folds, summary) in sel_tables.items():
        L += [f"## Forward feature selection ({m}, nested, family folds)", "",
              "`inner_gain_mean`: gain measured on the folds that chose the features (as in the paper); "
              "`outer_gain_mean`: gain on outer folds that did not choose them.", "",
              _md_table(summary[["task", "selected_features", "inner_gain_mean", "outer_gain_mean"]]), ""]
    L += ["## Figures", ""] + [f"- [{f}]({f})" for f in figs] + [""]
    L += ["SHAP summaries:", ""] + [f"- [{f}]({f})" for f in shap_figs] + [""]
    skipped = {m: d.skipped_tasks for m, d in datas.items() if d.skipped_tasks}
    L += ["## Data notes", "",
          "- Models per task: " + "; ".join(f"{m}: " + ", ".join(
              f"{t} {d.targets[d.targets.task == t].id.nunique()}" for t in d.task_names) for m, d in datas.items()),
          f"- Skipped tasks: {skipped or 'none'}",
          "- Alias rule: canonical lm-eval names win over legacy aliases (`arc:challenge`, `hendrycksTest-*`); "
          "conflicting values are listed in [alias_conflicts.csv](alias_conflicts.csv).",
          "- -1 in the release is missing (NaN), never a value.", "",
          "## Files", "",
          "- [mae_by_task.csv](mae_by_task.csv): MAE per task x predictor x validation scheme (mean/std over seeds)",
          "- [mae_per_seed.csv](mae_per_seed.csv), [mae_wide.csv](mae_wide.csv)",
          "- [predictions.csv](predictions.csv): per-model out-of-fold predictions (every seed, fold, predictor)",
          "- [significance.csv](significance.csv), [conformal_coverage.csv](conformal_coverage.csv), "
          "[best_params.csv](best_params.csv), [paper_comparison.csv](paper_comparison.csv)",
          "- [unscored_models_predictions.csv](unscored_models_predictions.csv): predicted score and interval of "
          "the store's models on the tasks they have no score for, with the features used", ""]
    return "\n".join(L)
