"""One command, one folder: the prediction report (CSVs, PNG figures, index.md linking them).

``njsl predict report --db_path DB --out DIR`` runs, for both metrics, nested CV with both validation schemes
over several seeds for the paper's predictors (and, by default, the family-generalisation variants), then
writes tables, figures, significance tests, SHAP importance and conformal coverage. Models of the store that
have params and tokens but no score on a task (e.g. freshly trained ones evaluated on other benchmarks) are
predicted on it with a conformal interval: section "Models in the store without scores on these tasks" and
``unscored_models_predictions.csv``. The port of the paper's own pipeline (``paper_port.py``) runs beside ours
(``paper_comparison.csv``); variants are chosen on some seeds and reported on others (``variant_choice.py``).
Computation lives in those study modules; this module runs them and renders their results.
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
from .data import PredictionData, load_data, with_pseudo_features
from .evaluate import CVConfig, CVResult, n_workers, run_cv
from .errors import PredictionInputError
from .explain import PROXY_MISSING_SHARE, shap_importance, shap_summary_png
from .families import families
from .features import CATEGORICAL, DATA_FEATURES, NUMERIC_ARCH
from .design_study import (best_of, conclusions, design_effects, full_fits, headline_table, interval_coverage,
                           missingness_probe, scheme_means, PROBE_LAW)
from .predictors import (DESIGN_PREDICTORS, IMPROVEMENT_PREDICTORS, MAIN_DESIGN_PREDICTORS, MAIN_LAW_PREDICTORS,
                         PAPER_PREDICTORS, PREDICTORS)
from .selection import SelectionConfig, fold_sets_table, nested_forward_selection, selection_verdict
from .significance import compare
from .what_if import DEFAULT_PREDICTOR, predict_models
from .paper_port import PaperPortStudy, compare_with_ours, paper_port_study
from .progress import stage
from .variant_choice import choose_and_rerun


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
    improvement_seeds: int = 2
    # issue 12b: the variant chosen on the improvement seeds is re-run and reported on the next seeds
    improvement_report_seeds: int = 3
    grid: str = "fast"
    max_bin: int = 32
    pseudo_feats_csv: str | None = None
    # issue 12, session 6: the paper's generation features feed only these design predictors (the paper's own
    # predictors and the other laws run without them, as the paper's reference numbers do); skipped when no
    # generation feature is known (no CSV here or in --pseudo_feats_csv, none in the store)
    generation_features_csv: str | None = None
    generation_designs: tuple[str, ...] = ()
    drop_instruction_tuned: bool = False
    merge_arithmetic: bool = False
    selection: bool = False
    selection_scheme: str = "family"
    alpha: float = 0.1
    n_jobs: int = 0
    sel_tasks: tuple[str, ...] | None = None
    # models to predict where they lack scores (None: every annotated model with params and tokens)
    unscored_ids: tuple[str, ...] | None = None
    # the design predictor of `njsl predict-model` (session 6: design_arch left the main job's CV for time)
    unscored_predictor: str = DEFAULT_PREDICTOR
    # parametric laws and design-aware predictors (issue 12): family and scale-extrapolation schemes, all seeds
    laws: tuple[str, ...] = MAIN_LAW_PREDICTORS
    designs: tuple[str, ...] = MAIN_DESIGN_PREDICTORS
    law_schemes: tuple[str, ...] = ("family", "extrapolation")
    # the extrapolation split is the same for every seed (seeds only change inner folds): the first 3 suffice
    extrapolation_seeds: int = 3
    # intervals (and their coverage) for these law/design predictors; the plain laws skip the inner CV
    interval_predictors: tuple[str, ...] = ("law_auto", "law_blend", *DESIGN_PREDICTORS)
    # trees run on the extrapolation split too, to compare with the laws on the largest models
    extrapolation_trees: tuple[str, ...] = ("xgb_scaling", "xgb_all")
    effects_predictor: str = "design_arch"
    n_boot: int = 100
    progress: bool = True
    # issue 12b: seeds of the paper-pipeline port (paper_port.py); fewer than ``seeds`` to keep the main job short
    paper_port_seeds: tuple[int, ...] = (42,)
    timings: dict = field(default_factory=dict)


def _headline_predictors(mae: pd.DataFrame, scheme: str) -> list[str]:
    """Best pure law first (the reference), then the best design-aware predictor and the paper's predictors."""
    means = mae[mae.scheme == scheme].groupby("predictor")["mae"].mean()
    law, design = best_of(means, "law_"), best_of(means, "design_")
    order = [law, design, "xgb_scaling", "xgb_all", "loglinear", "median"]
    return [p for p in dict.fromkeys(order) if p and p in means]


def _reference(name: str) -> str:
    """How the headline names its reference column (no law ran under --paper_only: the first paper predictor)."""
    return f"best pure law `{name}`" if name.startswith("law_") else f"`{name}` (no scaling law in this run)"


def _fig_mae_bars(mae: pd.DataFrame, scheme: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = _headline_predictors(mae, scheme)
    d = mae[(mae.scheme == scheme) & mae.predictor.isin(order)]
    piv = d.pivot_table(index="task", columns="predictor", values="mae")
    err = d.pivot_table(index="task", columns="predictor", values="mae_std_over_seeds")
    ax = piv[order].plot.bar(yerr=err.reindex(columns=order), figsize=(11, 4.5), width=0.8, capsize=2)
    ax.set_ylabel("MAE (mean over seeds of the per-seed MAE)")
    means = ", ".join(f"{p} {piv[p].mean():.4f}" for p in order[:4])
    ax.set_title(f"MAE per task, {scheme} validation; reference: {_reference(order[0]).replace('`', '')}\n"
                 f"mean over tasks: {means}",
                 fontsize=9)
    plt.xticks(rotation=35, ha="right")
    plt.tight_layout()
    plt.savefig(path, dpi=110)
    plt.close("all")


def _fig_pred_vs_actual(pred: pd.DataFrame, mae: pd.DataFrame, scheme: str, predictor: str, path: Path) -> None:
    """Out-of-fold predictions (mean over seeds, for the scatter) titled with the table's MAE per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = pred[(pred.scheme == scheme) & (pred.predictor == predictor)]
    p = p.groupby(["task", "id"])[["y_true", "y_pred"]].mean().reset_index()   # mean over seeds
    table = mae[(mae.scheme == scheme) & (mae.predictor == predictor)].set_index("task")["mae"]
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
        ax.set_title(f"{task} (MAE {table.get(task, np.nan):.3f})", fontsize=9)
        ax.set_xlabel("actual", fontsize=8)
        ax.set_ylabel("predicted", fontsize=8)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(f"{predictor}, {scheme} validation (points: out-of-fold prediction averaged over seeds; "
                 "titles: the tables' MAE)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close("all")


def _fig_effects(eff: pd.DataFrame, path: Path) -> None:
    """Heat map of log2 compute multiplier per decision x task; * = fewer than three families."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    piv = eff.pivot_table(index="feature", columns="task", values="compute_multiplier")
    few = eff.pivot_table(index="feature", columns="task", values="few_families", aggfunc="max")
    val = np.log2(piv.to_numpy(dtype=float))
    finite = np.isfinite(val)
    lim = float(np.max(np.abs(val[finite]))) if finite.any() else 1.0
    # a decision on a nearly flat law can be "worth" unbounded compute: shown saturated, labelled xinf
    val = np.clip(val, -lim, lim)
    fig, ax = plt.subplots(figsize=(1.2 * len(piv.columns) + 3, 0.35 * len(piv) + 1.5))
    im = ax.imshow(val, cmap="RdBu", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(len(piv.columns)), piv.columns, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(piv)), piv.index, fontsize=8)
    for i in range(val.shape[0]):
        for j in range(val.shape[1]):
            if np.isfinite(val[i, j]):
                star = "*" if bool(few.iloc[i, j]) else ""
                ax.text(j, i, f"x{piv.iloc[i, j]:.2g}{star}", ha="center", va="center", fontsize=6)
    fig.colorbar(im, ax=ax, label="log2 compute multiplier")
    ax.set_title("Design decisions as effective compute (data: +10 points; levels: vs average); "
                 "* = < 3 families", fontsize=9)
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


# ---------------------------------------------------------------- issue 12b: the paper's pipeline, run here
def _paper_port_md(port: PaperPortStudy | None, comp: pd.DataFrame, cfg: ReportConfig) -> list[str]:
    if port is None:
        return []
    seeds = ", ".join(map(str, port.seeds))
    L = ["## The paper's pipeline, run here (port of `performance_predict_from_db.py`)", "",
         f"`performance_prediction/paper_port.py` re-states the paper's script and runs it on this store: random "
         f"3-fold outer CV; in each training fold 20 % of the models are held out and never used (the script's "
         f"`train_test_split` whose part only reaches XGBoost's `eval_set`); inner 3-fold grid search over the "
         f"paper's 18 points; missing values as -1; ordinal codes for categories fit on all models; alias "
         f"duplicates resolved by first row (the legacy alias's value). Seeds: {seeds}"
         + (f" ({len(port.seeds)} of the report's {len(cfg.seeds)}, to keep the main job short)"
            if len(port.seeds) < len(cfg.seeds) else "") + ". `paper_port_*` columns are this run; `ours_*` are this "
         "report's predictors on the same seeds, random folds. No figure here is typed in: each is computed "
         "by this report. Full tables: [paper_port.csv](paper_port.csv), "
         "[paper_port_folds.csv](paper_port_folds.csv), [paper_comparison.csv](paper_comparison.csv).", ""]
    if len(comp):
        shown = comp.copy()
        means = shown.groupby("metric").mean(numeric_only=True).reset_index().assign(task="MEAN")
        for col in ("paper_port_n_models", "ours_n_models"):
            if col in shown:
                shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else str(int(v)))
                means[col] = ""
        if "same_models" in shown:
            means["same_models"] = [f"{int(g.same_models.fillna(False).sum())}/{len(g)} tasks"
                                    for _, g in shown.groupby("metric")]
        shown = pd.concat([shown, means], ignore_index=True)
        cols = [c for c in ("metric", "task", "paper_port_all", "ours_xgb_all", "paper_port_scaling_laws",
                            "ours_xgb_scaling", "paper_port_loglinear_baseline_mae", "ours_loglinear",
                            "paper_port_n_models", "ours_n_models", "same_models") if c in shown]
        L += [_md_table(shown[cols]), ""]
    if "no_task" in port.notes:
        return L + [f"Not run: {port.notes['no_task']}.", ""]
    for key, note in port.notes.items():
        if note["alias_values_kept_differing_from_lm_eval_rule"]:
            L.append(f"- {key}: the first-row rule kept {note['alias_values_kept_differing_from_lm_eval_rule']} "
                     "score(s) under a legacy alias where our loader keeps the lm-eval name's value.")
    return L + [""]


def _shap_caution_md(imp: pd.DataFrame) -> list[str]:
    """Issue 12b: SHAP of features missing for many models reads as 'which family', not 'which decision'."""
    if "proxy_warning" not in imp:
        return []
    flagged = imp[imp.proxy_warning].groupby("feature")["missing_share"].agg(["min", "max"])
    L = ["**Caution, confounding.** SHAP attributes a prediction to features, not causes: a feature that is "
         "missing for a large share of models is usually missing for whole model families at once, so the trees "
         "can use *missing* to recognise a family and its strength (in the release, the models without a data "
         "mix are mostly recent strong ones: Qwen, Gemma, Llama-3). Category colours in the figures use one code "
         "table for all folds (named under each figure)."]
    if len(flagged):
        L += [f"Features missing for >= {PROXY_MISSING_SHARE:.0%} of the models of a task (starred in the figures; "
              "read their SHAP as family proxies): " + "; ".join(
                  f"`{f}` {r['min']:.0%}" + (f"-{r['max']:.0%}" if r["max"] > r["min"] else "")
                  for f, r in flagged.sort_values("max", ascending=False).iterrows()) + "."]
    return L + [""]


# ---------------------------------------------------------------- issue 12b: choose on some seeds, report on others
def _choose_and_rerun(data, cv: CVConfig, cfg: ReportConfig, result: CVResult) -> tuple[CVResult, dict | None]:
    if cfg.improvement_seeds < 1:
        return result, None
    refs = tuple(p for p in ("xgb_scaling", "xgb_all") if p in cfg.predictors)
    return choose_and_rerun(data, cv, result, cfg.improvements, tuple(cfg.seeds), cfg.improvement_seeds,
                            cfg.improvement_report_seeds, refs, progress=cfg.progress)


def _held_out_frame(choices: dict[str, dict]) -> pd.DataFrame:
    frames = [c["table"].assign(metric=m, chosen=c["chosen"]) for m, c in choices.items() if "table" in c]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _variant_choice_md(choices: dict[str, dict]) -> list[str]:
    if not choices:
        return []
    L = ["### The best variant, on seeds it was not chosen on", "",
         "Each metric's variant with the lowest mean MAE on the seeds above is re-run on the next seeds; the "
         "figures below come only from those held-out seeds (references on the same seeds and folds). "
         "`optimism` = held-out MAE minus the MAE on the seeds that chose it: what choosing and reporting on "
         "the same seeds hides. Table: [variant_held_out_seeds.csv](variant_held_out_seeds.csv).", ""]
    for metric, c in choices.items():
        if not c.get("report_seeds"):
            L += [f"- {metric}: `{c['chosen']}` chosen; no seed left to report it on (raise --n_seeds).", ""]
            continue
        refs = ", ".join(f"`{k.removesuffix('_on_report_seeds')}` {v:.4f}" for k, v in c.items()
                         if k.endswith("_on_report_seeds") and k != "mae_on_report_seeds")
        L += [f"- {metric}: `{c['chosen']}` chosen on seeds {c['choose_seeds']} (MAE {c['mae_on_choice_seeds']:.4f}); "
              f"on seeds {c['report_seeds']}: **{c['mae_on_report_seeds']:.4f}** (optimism "
              f"{c['optimism']:+.4f}); {refs}.", "", _md_table(c["table"]), ""]
    return L


# ---------------------------------------------------------------- issue 12b: forward selection, out of sample
def _selection_md(sel_tables: dict, cfg: ReportConfig) -> list[str]:
    L = []
    for m, (folds, summary) in sel_tables.items():
        v = selection_verdict(folds)
        gain = v["mean_outer_mae_scaling"] - v["mean_outer_mae_selected"]
        verdict = (f"selection **gains {gain:.4f}** MAE out of sample" if gain > 0 else
                   f"selection **gains nothing** out of sample ({-gain:.4f} MAE worse)")
        top = ", ".join(f"`{f}` {n}/{v['n_folds']}" for f, n in list(v["feature_counts"].items())[:8])
        L += [f"## Forward feature selection ({m}, nested, {cfg.selection_scheme} folds, seed 42)", "",
              "Selection runs inside each outer training fold (its own inner CV) and is scored on the outer fold "
              "it never saw, against scaling-only on the same fold.",
              f"Mean over {v['n_tasks']} tasks of the outer MAE: scaling-only {v['mean_outer_mae_scaling']:.4f}, "
              f"selected {v['mean_outer_mae_selected']:.4f}: {verdict}; better on {v['tasks_better']}/"
              f"{v['n_tasks']} tasks. The inner CV promised {v['mean_inner_gain']:.4f} (the paper's way of "
              f"measuring). Folds agree on one set for {v['stable_tasks']}/{v['n_tasks']} tasks. Most chosen: "
              f"{top or 'nothing'}.", "",
              "Per task (`inner_gain_mean`: on the folds that chose; `outer_gain_mean`: on folds that did not):", "",
              _md_table(summary[["task", "selected_features", "inner_gain_mean", "outer_gain_mean"]]), "",
              "Per outer fold, the features its selection added:", "", _md_table(fold_sets_table(folds)), "",
              f"Files: [forward_selection_{m}.csv](forward_selection_{m}.csv), "
              f"[forward_selection_folds_{m}.csv](forward_selection_folds_{m}.csv).", ""]
    return L


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


def unscored_predictions(data, result: CVResult, cfg: ReportConfig, cv: CVConfig,
                         fits: dict | None = None) -> pd.DataFrame:
    """Predictions with conformal intervals for the store's models that lack a score on a task.

    The predictor (``cfg.unscored_predictor``, the design-aware one; ``xgb_all`` when that did not run) is fit
    once per task on every scored model. Its interval is its own (law/design predictors: normalised conformal
    of inner family-CV residuals) or, for XGBoost, the conformal quantile of the report's own out-of-fold
    residuals of that predictor (family
    scheme when run), so ``conformal_coverage.csv`` measures how often such intervals hold. Each row carries
    the features the prediction used: family, params, tokens, data composition, how many architecture
    decisions and generation features are known.
    """
    candidates = data.models if cfg.unscored_ids is None else data.models.loc[list(cfg.unscored_ids)]
    ran = set(result.predictions["predictor"])
    who = cfg.unscored_predictor if cfg.unscored_predictor in ran else "xgb_all"
    if who not in ran or candidates.empty:
        return pd.DataFrame()
    scheme = "family" if "family" in cfg.schemes else cfg.schemes[0]
    q = interval_half_widths(result.predictions, who, scheme, cfg.alpha)
    table = predict_models(data, candidates, q, cv, who, cfg.alpha, only_unscored=True, fits=fits)
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
    return table.assign(scheme_of_residuals=scheme).join(info, on="id")


def run_report(cfg: ReportConfig) -> Path:
    """Run everything and write the report folder atomically; returns its path."""
    out = Path(cfg.out)
    t_start = time.perf_counter()
    results: dict[str, CVResult] = {}
    datas = {}
    sel_tables = {}
    choices: dict[str, dict] = {}
    unscored: dict[str, pd.DataFrame] = {}
    effects: dict[str, pd.DataFrame] = {}
    probes: dict[str, pd.DataFrame] = {}
    for metric in cfg.metrics:
        t0 = time.perf_counter()
        stage(f"{metric}: loading the store", cfg.progress)
        data = load_data(cfg.db_path, metric=metric, merge_mmlu=True, merge_arithmetic=cfg.merge_arithmetic,
                         drop_instruction_tuned=cfg.drop_instruction_tuned, pseudo_feats_csv=cfg.pseudo_feats_csv,
                         sel_tasks=list(cfg.sel_tasks) if cfg.sel_tasks else None)
        datas[metric] = data
        gen_data = _generation_data(data, cfg)
        if cfg.unscored_ids:
            check_ids(cfg.unscored_ids, data, cfg)   # before the CV: a typo costs nothing
        cv = CVConfig(predictors=tuple(cfg.predictors), schemes=tuple(cfg.schemes), seeds=tuple(cfg.seeds),
                      grid=cfg.grid, max_bin=cfg.max_bin, n_jobs=cfg.n_jobs, shap_predictor="xgb_all",
                      progress=cfg.progress, alpha=cfg.alpha)
        results[metric], choice = _run_all_cv(data, cv, cfg, gen_data)
        if choice:
            choices[metric] = choice
        cfg.timings[f"cv_{metric}_s"] = round(time.perf_counter() - t0, 1)
        fits, effect, probe = _fits_and_effects(data, results[metric], cv, cfg)
        if effect is not None and probe is not None:
            effects[metric], probes[metric] = effect, probe
        t0 = time.perf_counter()
        stage(f"{metric}: predicting the store's models without scores", cfg.progress)
        unscored[metric] = unscored_predictions(data, results[metric], cfg, cv, fits)
        cfg.timings[f"unscored_{metric}_s"] = round(time.perf_counter() - t0, 1)
        if cfg.selection:
            t0 = time.perf_counter()
            sel_tables[metric] = nested_forward_selection(
                data, SelectionConfig(scheme=cfg.selection_scheme, n_jobs=cfg.n_jobs, progress=cfg.progress))
            cfg.timings[f"selection_{metric}_s"] = round(time.perf_counter() - t0, 1)
    port = _run_paper_port(cfg)
    cfg.timings["total_s"] = round(time.perf_counter() - t_start, 1)
    stage(f"writing tables and figures to {out}", cfg.progress)
    with atomic_path(out) as tmp:
        tmp.mkdir(parents=True)
        (tmp / "figures").mkdir()
        _write(tmp, cfg, results, datas, sel_tables, unscored, effects, probes, port, choices)
    return out


def _merged(base: CVResult, parts: list[CVResult]) -> CVResult:
    """``base`` with the predictions and tuned parameters of ``parts`` appended (SHAP stays the base run's)."""
    return CVResult(predictions=pd.concat([base.predictions, *(p.predictions for p in parts)], ignore_index=True),
                    shap=base.shap,
                    best_params=pd.concat([base.best_params, *(p.best_params for p in parts)], ignore_index=True))


def _generation_data(data: PredictionData, cfg: ReportConfig) -> PredictionData | None:
    """The metric's data with generation features for ``cfg.generation_designs`` (None: nothing to run them on)."""
    if not cfg.generation_designs:
        return None
    if not data.pseudo_features and cfg.generation_features_csv:
        stage(f"{data.metric}: merging the generation features {cfg.generation_features_csv}", cfg.progress)
        data = with_pseudo_features(data, cfg.generation_features_csv)
    return data if data.pseudo_features else None


def _run_all_cv(data: PredictionData, cv: CVConfig, cfg: ReportConfig,
                gen_data: PredictionData | None = None) -> tuple[CVResult, dict | None]:
    """One metric's CV: the trees, the family-generalisation variants (chosen and re-run on held-out seeds),
    then the laws and design-aware predictors on their schemes (``cfg.generation_designs`` on ``gen_data``, the
    same models with generation features). Returns the merged result and the variant choice."""
    result = run_cv(data, cv)
    choice = None
    if cfg.improvements and "family" in cfg.schemes:
        extra = run_cv(data, replace(cv, predictors=tuple(cfg.improvements), schemes=("family",),
                                     seeds=tuple(cfg.seeds[:cfg.improvement_seeds]), shap_predictor=None))
        result, choice = _choose_and_rerun(data, cv, cfg, _merged(result, [extra]))
    law_names = (*cfg.laws, *cfg.designs)
    parts = []
    lcv = replace(cv, predictors=law_names, shap_predictor=None, interval_predictors=cfg.interval_predictors)
    ext_seeds = tuple(cfg.seeds[:cfg.extrapolation_seeds])
    runs = [(data, lcv)] if law_names else []
    if gen_data is not None:
        runs.append((gen_data, replace(lcv, predictors=tuple(cfg.generation_designs))))
    for d, c in runs:
        if "family" in cfg.law_schemes:
            parts.append(run_cv(d, replace(c, schemes=("family",))))
        if "extrapolation" in cfg.law_schemes:
            parts.append(run_cv(d, replace(c, schemes=("extrapolation",), seeds=ext_seeds)))
    if law_names and "extrapolation" in cfg.law_schemes and cfg.extrapolation_trees:
        parts.append(run_cv(data, replace(cv, predictors=tuple(cfg.extrapolation_trees),
                                          schemes=("extrapolation",), seeds=ext_seeds, shap_predictor=None)))
    return (_merged(result, parts) if parts else result), choice


def _fits_and_effects(data: PredictionData, result: CVResult, cv: CVConfig,
                      cfg: ReportConfig) -> tuple[dict, pd.DataFrame | None, pd.DataFrame | None]:
    """The full fits of one metric, then its design effects and missingness probe (both None when the effects
    are not asked for)."""
    # one fit per (task, predictor), with the first CV seed, serves the effects, the probe and the
    # predictions of unscored models
    metric = data.metric
    t0 = time.perf_counter()
    ran = set(result.predictions["predictor"])
    probed = tuple(dict.fromkeys(p for p in ("xgb_all", cfg.effects_predictor, cfg.unscored_predictor,
                                             *cfg.designs) if p and p in ran))
    wanted = {cfg.unscored_predictor if cfg.unscored_predictor in ran else "xgb_all"}
    if cfg.effects_predictor and cfg.n_boot:   # the probed predictors are fit only for the probe
        wanted |= {*probed, PROBE_LAW, cfg.effects_predictor}
    stage(f"{metric}: fitting {', '.join(sorted(wanted))} on every scored model", cfg.progress)
    fits = full_fits(data, sorted(wanted), cv, n_jobs=n_workers(cfg.n_jobs))
    if not (cfg.effects_predictor and cfg.n_boot):
        return fits, None, None
    effect = design_effects(data, cfg.effects_predictor, n_boot=cfg.n_boot, seed=cfg.seeds[0],
                            alpha=cfg.alpha, n_jobs=n_workers(cfg.n_jobs), fits=fits)
    probe = missingness_probe(data, probed, seed=cfg.seeds[0], fits=fits)
    cfg.timings[f"effects_{metric}_s"] = round(time.perf_counter() - t0, 1)
    return fits, effect, probe


def _run_paper_port(cfg: ReportConfig) -> PaperPortStudy | None:
    """Issue 12b: the port of the paper's pipeline on ``cfg.paper_port_seeds`` (None when no seed is given)."""
    if not cfg.paper_port_seeds:
        return None
    t0 = time.perf_counter()
    stage(f"paper port: the paper's pipeline on seed(s) {', '.join(map(str, cfg.paper_port_seeds))}", cfg.progress)
    port = paper_port_study(cfg.db_path, tuple(cfg.metrics), tuple(cfg.paper_port_seeds),
                            drop_instruction_tuned=cfg.drop_instruction_tuned, pseudo_feats_csv=cfg.pseudo_feats_csv,
                            sel_tasks=cfg.sel_tasks, n_jobs=n_workers(cfg.n_jobs), progress=cfg.progress)
    cfg.timings["paper_port_s"] = round(time.perf_counter() - t0, 1)
    return port


def _write(tmp: Path, cfg: ReportConfig, results, datas, sel_tables, unscored, effects, probes, port=None,
           choices=None) -> None:
    preds, mae, sig, imp, cov, impr = _write_cv_tables(tmp, cfg, results, datas)
    held = _held_out_frame(choices or {})
    if len(held):  # the variants are opt-in (--variants)
        held.to_csv(tmp / "variant_held_out_seeds.csv", index=False)
    comp = compare_with_ours(port, results)
    comp.to_csv(tmp / "paper_comparison.csv", index=False)
    if port is not None:
        port.table.to_csv(tmp / "paper_port.csv", index=False)
        port.result.folds.to_csv(tmp / "paper_port_folds.csv", index=False)
        port.result.predictions.to_csv(tmp / "paper_port_predictions.csv", index=False)
    frames = [u for u in unscored.values() if len(u)]
    new = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=UNSCORED_COLUMNS)
    new.to_csv(tmp / "unscored_models_predictions.csv", index=False)
    for m, (folds, summary) in sel_tables.items():
        folds.to_csv(tmp / f"forward_selection_folds_{m}.csv", index=False)
        summary.to_csv(tmp / f"forward_selection_{m}.csv", index=False)
    cov_summary, cov_q = interval_coverage(preds, next(iter(datas.values())).models)
    cov_summary.to_csv(tmp / "interval_coverage.csv", index=False)
    cov_q.to_csv(tmp / "interval_coverage_by_quintile.csv", index=False)
    eff, probe = _nonempty_concat(effects), _nonempty_concat(probes)
    eff.to_csv(tmp / "design_effects.csv", index=False)
    probe.to_csv(tmp / "missingness_probe.csv", index=False)
    findings, tests = conclusions(mae, preds, cov_summary, len(cfg.seeds), cfg.alpha)
    tests.to_csv(tmp / "design_vs_law_tests.csv", index=False)
    figs = _mae_and_effect_figures(tmp, results, mae, preds, eff)
    shap_figs = _shap_figures(tmp, cfg, results)
    (tmp / "config.json").write_text(json.dumps({k: v for k, v in asdict(cfg).items()}, indent=2, default=str))
    headline = _headline_md(cfg, mae, findings, tests, cov_summary, eff, probe)
    (tmp / "index.md").write_text(_index_md(cfg, mae, sig, cov, comp, imp, datas, sel_tables, figs, shap_figs, impr,
                                            new, headline, port, choices or {}), encoding="utf-8")


def _write_cv_tables(tmp: Path, cfg: ReportConfig, results: dict[str, CVResult], datas: dict) -> tuple[
        pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Write the tables computed from the CV results of every metric; returns (predictions, MAE, significance,
    SHAP importance, conformal coverage, improvements) for the rest of the report."""
    def per_metric(table) -> pd.DataFrame:
        return pd.concat([table(r).assign(metric=m) for m, r in results.items()], ignore_index=True)

    preds = per_metric(lambda r: r.predictions)
    mae = per_metric(lambda r: r.mae_table())
    preds.to_csv(tmp / "predictions.csv", index=False)
    mae.to_csv(tmp / "mae_by_task.csv", index=False)
    per_metric(lambda r: r.seed_mae()).to_csv(tmp / "mae_per_seed.csv", index=False)
    wide = mae.pivot_table(index=["metric", "task"], columns=["scheme", "predictor"], values="mae")
    wide.to_csv(tmp / "mae_wide.csv")
    sig = per_metric(lambda r: compare(r.predictions))
    sig.to_csv(tmp / "significance.csv", index=False)
    imp = per_metric(lambda r: shap_importance(r.shap))
    imp.to_csv(tmp / "shap_importance.csv", index=False)
    cov = per_metric(lambda r: coverage(r.predictions, "xgb_all", cfg.alpha))
    cov.to_csv(tmp / "conformal_coverage.csv", index=False)
    per_metric(lambda r: r.best_params).to_csv(tmp / "best_params.csv", index=False)
    conflicts = pd.concat([d.alias_conflicts.assign(metric=m) for m, d in datas.items()], ignore_index=True)
    conflicts.to_csv(tmp / "alias_conflicts.csv", index=False)
    impr = per_metric(lambda r: improvement_table(r, cfg))
    impr.to_csv(tmp / "improvements_family.csv", index=False)
    return preds, mae, sig, imp, cov, impr


def _nonempty_concat(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The non-empty frames stacked; an empty frame when there is none."""
    kept = [f for f in frames.values() if len(f)]
    return pd.concat(kept, ignore_index=True) if kept else pd.DataFrame()


def _mae_and_effect_figures(tmp: Path, results: dict[str, CVResult], mae: pd.DataFrame, preds: pd.DataFrame,
                            eff: pd.DataFrame) -> list[str]:
    """MAE bars and predicted-vs-actual per (scheme, metric), then the design effects per metric; returns the
    figure paths relative to the report folder."""
    figs = []
    for scheme in sorted(set(mae.scheme), key=lambda x: ("family", "extrapolation", "random").index(x)):
        for m in results:
            if mae[(mae.metric == m) & (mae.scheme == scheme)].empty:
                continue
            f = f"figures/mae_bars_{m}_{scheme}.png"
            _fig_mae_bars(mae[mae.metric == m], scheme, tmp / f)
            figs.append(f)
            shown = _headline_predictors(mae[mae.metric == m], scheme)
            who = next((p for p in shown if p.startswith("design_")), "xgb_all")
            f = f"figures/pred_vs_actual_{m}_{scheme}_{who}.png"
            _fig_pred_vs_actual(preds[preds.metric == m], mae[mae.metric == m], scheme, who, tmp / f)
            figs.append(f)
    for m in eff.metric.unique() if len(eff) else []:
        f = f"figures/design_effects_{m}.png"
        _fig_effects(eff[eff.metric == m], tmp / f)
        figs.append(f)
    return figs


def _shap_figures(tmp: Path, cfg: ReportConfig, results: dict[str, CVResult]) -> list[str]:
    """SHAP summary per (metric, task) on the first validation scheme; returns the figure paths."""
    shap_figs = []
    for m, r in results.items():
        for (task, scheme), (vals, feats) in sorted(r.shap.items()):
            if scheme != cfg.schemes[0]:
                continue
            f = f"figures/shap_{m}_{task}_{scheme}.png"
            shap_summary_png(vals, feats, f"SHAP, {task} ({scheme} CV, xgb_all)", tmp / f)
            shap_figs.append(f)
    return shap_figs


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


UNSCORED_COLUMNS = ["id", "metric", "task", "predictor", "predicted", "lower", "upper", "basis", "interval",
                    "n_train_models", "scheme_of_residuals", "family", "total_params", "tokens_billions",
                    *("pct_" + c.removeprefix("pretraining_summary_percentage_") for c in DATA_FEATURES),
                    "n_architecture_known", "n_generation_features"]


def _unscored_md(cfg: ReportConfig, new: pd.DataFrame) -> list[str]:
    used = str(new.predictor.iloc[0]) if len(new) else cfg.unscored_predictor
    who = (f"the models named with `--ids` ({', '.join(cfg.unscored_ids)})" if cfg.unscored_ids else
           "every annotated model with params and tokens")
    L = ["## Models in the store without scores on these tasks", "",
         f"Predicted scores for {who} on each task it has no score for: `{used}` fit once per task on all scored "
         f"models; {1 - cfg.alpha:.0%} interval: "
         + ("the predictor's own (normalised conformal on inner family-CV residuals; measured coverage of these "
            "intervals in the coverage table above). " if used.startswith(("law_", "design_")) else
            "prediction ± the conformal quantile of this report's out-of-fold residuals (family scheme; measured "
            "coverage above). ") +
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
                            zip(new.predicted, new.lower, new.upper, strict=True)])
    for metric, g in cell.groupby("metric", sort=False):
        piv = g.pivot(index="id", columns="task", values="cell").fillna("scored").reset_index()
        L += [f"{metric}: predicted [interval] per task (`scored`: the store has its score):", "",
              _md_table(piv), ""]
    return L


def _headline_md(cfg, mae, findings, tests, cov_summary, eff, probe) -> list[str]:
    """The report's first sections: conclusions, headline tables with the best pure law as reference,
    interval coverage, design-decision effects and the missingness check."""
    L = ["## Conclusions (generated from this run's numbers)", ""] + [f"- {f}" for f in findings] + [""]
    for scheme, what in (("family", "unseen families (family-grouped CV)"),
                         ("extrapolation", "larger models (train below the compute cutoff, test on the top 20 %)")):
        d = mae[mae.scheme == scheme]
        if d.empty:
            continue
        for metric, g in d.groupby("metric", sort=False):
            order = _headline_predictors(g, scheme)
            table = headline_table(g, metric, scheme, order[0], order[1:4])
            L += [f"### {metric}: MAE on {what}, reference = {_reference(order[0])}", "", _md_table(table), ""]
    if len(tests):
        cols = ["metric", "task", "design", "law", "mean_gain", "p_corrected", "q_corrected", "p_family_perm",
                "q_family_perm"]
        L += ["### Design-aware vs best pure law, per task (family CV; mean_gain > 0: design better)", "",
              _md_table(tests[[c for c in cols if c in tests]], ".3g"), ""]
    if len(cov_summary):
        L += [f"### Interval coverage (nominal {1 - cfg.alpha:.0%}) by compute quintile (q1 smallest)", "",
              "Intervals of the law and design predictors: normalised conformal on inner family-CV residuals, "
              "widening with the law's slope and the distance from the training models, clipped to the metric's "
              "range. Worst family: lowest coverage among families with >= 3 held-out predictions.", "",
              _md_table(cov_summary, ".3f"), "",
              "Per task and quintile: [interval_coverage_by_quintile.csv](interval_coverage_by_quintile.csv).", ""]
    if len(eff):
        top = eff.assign(abs_pts=eff.score_points.abs()).sort_values("abs_pts", ascending=False)
        top = top[~top.few_families].groupby("metric").head(12)
        cols = ["metric", "task", "feature", "unit", "score_points", "points_lo", "points_hi", "compute_multiplier",
                "multiplier_lo", "multiplier_hi", "n_families_with", "used_in_predictions"]
        L += [f"### Design decisions as effective compute (`{cfg.effects_predictor}`, all models, "
              f"{cfg.n_boot} family-bootstrap refits, {1 - cfg.alpha:.0%} percentile intervals)", "",
              "Largest effects among decisions that vary within >= 3 families (score points at the task's "
              "median-compute model). `used_in_predictions` False: the inner CV chose no correction for that task, "
              "the effect shown is estimated with the strongest ridge. Data domains are compositional: +10 points of "
              "one domain comes out of the others. Observational data: an effect can be a confounder's (e.g. the "
              "labs that report a data mix).", "", _md_table(top[cols], ".3g"), "",
              "All decisions, flagged `few_families`: [design_effects.csv](design_effects.csv).", ""]
    if len(probe):
        L += ["### Missingness check: predictions with the data mix removed", "",
              "For every model that knows its data mix: mean |change| of the prediction when the mix is removed, "
              "and the share of models whose prediction moves towards (or stays at) the pure law's.", "",
              _md_table(probe, ".3f"), ""]
    return L


def _index_md(cfg, mae, sig, cov, comp, imp, datas, sel_tables, figs, shap_figs, impr, new, headline=(),
              port=None, choices=None) -> str:
    L = ["# Performance prediction report", "",
         f"Store: `{cfg.db_path}`; seeds {cfg.seeds[0]}..{cfg.seeds[-1]} ({len(cfg.seeds)}); 3 outer folds; "
         f"inner 3-fold grid search (`{cfg.grid}` grid, max_bin {cfg.max_bin}) scored by MAE; "
         f"pseudo features: `{cfg.pseudo_feats_csv or 'none'}`; drop instruction-tuned: {cfg.drop_instruction_tuned}"
         + (f"; generation features for {', '.join(f'`{g}`' for g in cfg.generation_designs)}: "
            f"`{cfg.pseudo_feats_csv or cfg.generation_features_csv or 'none'}`" if cfg.generation_designs else "")
         + ".",
         f"Runtime: {cfg.timings}.", "",
         "**Headline: family-grouped validation** (no model family on both sides of a split; families from "
         "`performance_prediction/families.py` + `families.yaml`). Random folds are shown for comparison with the "
         "paper.",
         "", *headline]
    L += _mae_per_scheme_md(cfg, mae)
    if len(impr):
        L += [f"## Making design features help on unseen families (family validation, seeds "
              f"{cfg.seeds[0]}..{cfg.seeds[min(cfg.improvement_seeds, len(cfg.seeds)) - 1]})", "",
              "MAE per task; lower is better. Compare each variant with `xgb_scaling` (scaling only) and `xgb_all` "
              "(the paper's all-features model) on the same seeds and folds.", "",
              _md_table(impr), ""]
    L += _variant_choice_md(choices or {})
    L += _paper_port_md(port, comp, cfg)
    L += _significance_md(sig)
    if len(cov):
        L += [f"## Conformal intervals ({int((1 - cfg.alpha) * 100)}%): measured coverage", "",
              "Leave-one-fold-out quantile of |out-of-fold residuals| of xgb_all; `njsl predict-model` uses the same "
              "residuals (family scheme).", "", _md_table(cov), ""]
    if len(imp):
        top = imp[imp["rank"] <= 5].groupby(["metric", "scheme", "task"])["feature"].apply(", ".join).reset_index()
        L += ["## SHAP importance (TreeExplainer, xgb_all, held-out folds of the first seed): top 5", "",
              _md_table(top), "", "Full table: [shap_importance.csv](shap_importance.csv)", ""]
        L += _shap_caution_md(imp)
    L += _unscored_md(cfg, new)
    L += _selection_md(sel_tables, cfg)
    L += ["## Figures", ""] + [f"- [{f}]({f})" for f in figs] + [""]
    L += ["SHAP summaries:", ""] + [f"- [{f}]({f})" for f in shap_figs] + [""]
    L += _data_notes_md(datas) + _FILES_MD
    return "\n".join(L)


def _mae_per_scheme_md(cfg: ReportConfig, mae: pd.DataFrame) -> list[str]:
    """MAE per task and mean over tasks for every validation scheme run, then what each predictor is."""
    L: list[str] = []
    shown = (*cfg.laws, *cfg.designs, *cfg.predictors)
    for scheme in [x for x in ("family", "extrapolation", "random") if x in set(mae.scheme)]:
        d = mae[mae.scheme == scheme]
        piv = d.pivot_table(index=["metric", "task"], columns="predictor", values="mae").reset_index()
        cols = ["metric", "task"] + [p for p in shown if p in piv.columns]
        L += [f"## MAE per task, {scheme} validation (mean over seeds)", "", _md_table(piv[cols]), ""]
        means = scheme_means(mae, scheme).reset_index()
        L += ["Mean over tasks:", "", _md_table(means[["metric"] + [p for p in shown if p in means]]), ""]
    return L + ["Predictors:", ""] + [f"- `{p}`: {PREDICTORS[p][1]}" for p in (*shown, *cfg.improvements)] + [""]


def _significance_md(sig: pd.DataFrame) -> list[str]:
    """xgb_all vs xgb_scaling: the paper's paired t-test beside the corrected and family-permutation tests."""
    if not len(sig):
        return []
    cols = ["metric", "scheme", "task", "mae_xgb_all", "mae_xgb_scaling", "mean_gain", "p_paired", "q_paired",
            "p_corrected", "q_corrected", "p_family_perm", "q_family_perm"]
    return ["## Significance: xgb_all vs xgb_scaling across seeds", "",
            "`p_paired`: the paper's plain paired t-test over seeds. `p_corrected`: Nadeau-Bengio corrected "
            "resampled t-test over (seed, fold) differences. `p_family_perm`: family sign-flip permutation test. "
            "`q_*`: Benjamini-Hochberg across tasks. The plain test treats seeds as independent although every "
            "seed re-uses the same models, so its p-values shrink with the number of seeds; the corrected test "
            "accounts for the train/test overlap, the permutation test for families.", "",
            _md_table(sig[[c for c in cols if c in sig]], ".3g"), ""]


def _data_notes_md(datas: dict) -> list[str]:
    """Models per task, skipped tasks and the store's conventions (aliases, -1 as missing)."""
    skipped = {m: d.skipped_tasks for m, d in datas.items() if d.skipped_tasks}
    return ["## Data notes", "",
            "- Models per task: " + "; ".join(f"{m}: " + ", ".join(
                f"{t} {d.targets[d.targets.task == t].id.nunique()}" for t in d.task_names) for m, d in datas.items()),
            f"- Skipped tasks: {skipped or 'none'}",
            "- Alias rule: canonical lm-eval names win over legacy aliases (`arc:challenge`, `hendrycksTest-*`); "
            "conflicting values are listed in [alias_conflicts.csv](alias_conflicts.csv).",
            "- -1 in the release is missing (NaN), never a value.", ""]


_FILES_MD = [
    "## Files", "",
    "- [mae_by_task.csv](mae_by_task.csv): MAE per task x predictor x validation scheme (mean/std over seeds)",
    "- [mae_per_seed.csv](mae_per_seed.csv), [mae_wide.csv](mae_wide.csv)",
    "- [predictions.csv](predictions.csv): per-model out-of-fold predictions (every seed, fold, predictor)",
    "- [significance.csv](significance.csv), [conformal_coverage.csv](conformal_coverage.csv), "
    "[best_params.csv](best_params.csv), [paper_comparison.csv](paper_comparison.csv), "
    "[paper_port.csv](paper_port.csv) (+ `paper_port_folds.csv`, `paper_port_predictions.csv`)",
    "- [unscored_models_predictions.csv](unscored_models_predictions.csv): predicted score and interval of "
    "the store's models on the tasks they have no score for, with the features used",
    "- [interval_coverage.csv](interval_coverage.csv), "
    "[interval_coverage_by_quintile.csv](interval_coverage_by_quintile.csv): coverage of the law/design "
    "intervals (`lower`, `upper` in predictions.csv)",
    "- [design_effects.csv](design_effects.csv), [design_vs_law_tests.csv](design_vs_law_tests.csv), "
    "[missingness_probe.csv](missingness_probe.csv)", ""]
