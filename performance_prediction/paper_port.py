"""The paper's prediction pipeline, ported to run on our store beside our own predictors.

Source of the facts and settings (the code here is ours): ``performance_prediction/performance_predict_from_db.py``
of nightingal3/llm-pretraining-behaviours (read at commit 2849edc). What that script does with
``--hyperparam_search`` and how this port re-states it:

1. **Rows.** Every ``model_annotations`` row with ``total_params`` not null, joined to ``dataset_info`` with
   tokens not null, times its ``evaluation_results`` rows of the metric (``--drop_instruction_tuned`` drops the
   instruction-tuned). Scores are used as stored (no -1 cleaning), as the paper's query did.
2. **Names.** ``hendrycksTest-X`` -> ``mmlu_X``, ``arc:challenge`` -> ``arc_challenge``; duplicates on
   (id, benchmark, setting) keep the *first* row. The paper's "first" is whatever its SQL join returned first,
   which SQL leaves undefined (on our store it changes between runs); the port takes the store's sorted order
   (benchmark, setting, metric, id), where the legacy name sorts first, so the legacy alias's value wins. Our
   own loader (``tasks.resolve_aliases``) lets the lm-eval name win instead; :func:`standardize_names` counts
   how many kept values differ from that rule.
3. **Aggregation** (:func:`paper_task_name`): ``arithmetic_*`` -> arithmetic, ``xnli_*``/``anli_*`` -> xnli/anli
   (a plain ``xnli``/``anli`` row joins them), ``mmlu_*`` -> ``mmlu_<setting>``, truthfulqa mc1/mc2, lambada
   openai/standard and gsm8k/gsm8k_cot -> one name; only the benchmarks and settings of ``BENCHMARK_DEFAULTS``
   are kept; the value is the mean per (id, task, setting).
4. **Features** (:func:`encode_features`). ``all``: 12 numeric columns (order below) + pseudo features, missing
   -> -1 (XGBoost's ``missing=-1``), and 6 categoricals as ordinal codes fit on every loaded model: the code of a
   value is its position in the sorted list of values *including* the placeholder ``___MISSING___``, whose code
   becomes -1; every value is cast to float32 (scores too). ``scaling_laws``: params and tokens only.
   ``non_scaling_laws``: ``all`` without params, tokens, dimension, sequence_length, num_heads. Params and
   tokens are log-transformed per task (not for ``non_scaling_laws``).
5. **Tasks.** (task, setting) pairs in sorted order; a task needs >= 30 rows (counted before NaN scores are
   dropped); rows are in id order.
6. **Cross-validation** (:func:`paper_splits`, :func:`grid_search`). Outer ``KFold(3, shuffle=True,
   random_state=seed)``. In each training fold ``train_test_split(test_size=0.2, random_state=seed)`` holds out
   20 % that only ever reaches XGBoost's ``eval_set`` — which without early stopping changes nothing — so every
   model, the inner search and both baselines see 80 % of the training fold (the quirk is kept). Inner
   ``GridSearchCV(KFold(3, shuffle=True, random_state=seed))`` over depth {2,3,5} x lr {.01,.1,.3} x trees
   {50,100}, scored by MAE (mean of the inner-fold MAEs), first best in ``ParameterGrid`` order
   (learning_rate, then max_depth, then n_estimators); ``XGBRegressor(objective="reg:squarederror",
   missing=-1, random_state=seed)`` with the library's other defaults refit on the 80 %. Baselines: the median
   of the 80 %, and ``LinearRegression`` on log params/log tokens of the 80 %.
7. **Results.** Per task: ``mae`` = mean of the 3 fold MAEs, ``std_mae`` = their ``np.std`` (ddof 0),
   ``med_baseline_mae``, ``loglinear_baseline_mae``; the headline is the plain mean over tasks.

Deliberate differences (README): pseudo-feature columns are appended in sorted order (the paper used
``set()`` order, which changes from one Python process to the next); speed — each (depth, lr) is trained once per
inner fold with 100 trees and scored at 50 and 100 trees with ``iteration_range`` (the same numbers as two fits;
tested against ``GridSearchCV`` + ``XGBRegressor``); nothing is written outside the report.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product

import numpy as np
import pandas as pd
import xgboost as xgb
from joblib import Parallel, delayed
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import KFold, train_test_split

from .errors import PredictionInputError
from .predictors import PAPER_GRID
from .progress import Progress

# task -> settings the paper predicts (its BENCHMARK_DEFAULTS; arithmetic, minerva, fld, asdiv commented out there)
BENCHMARK_DEFAULTS: dict[str, tuple[str, ...]] = {
    "arc_challenge": ("25-shot",), "hellaswag": ("10-shot",), "mmlu": ("0-shot", "5-shot"),
    "truthfulqa": ("0-shot",), "winogrande": ("5-shot",), "lambada": ("0-shot",), "gsm8k": ("5-shot",),
    "humaneval": ("0-shot",), "mathqa": ("0-shot",), "xnli": ("0-shot",), "anli": ("0-shot",),
    "logiqa2": ("0-shot",),
}
PART_NAMES: dict[str, str] = {"truthfulqa_mc1": "truthfulqa", "truthfulqa_mc2": "truthfulqa",
                              "lambada_standard": "lambada", "lambada_openai": "lambada",
                              "gsm8k": "gsm8k", "gsm8k_cot": "gsm8k"}
PREFIX_NAMES: tuple[tuple[str, str], ...] = (("arithmetic_", "arithmetic"), ("xnli_", "xnli"), ("anli_", "anli"))
NUMERIC_VARIABLES: tuple[str, ...] = (
    "total_params", "dimension", "num_heads", "mlp_ratio", "sequence_length",
    "pretraining_summary_total_tokens_billions", "pretraining_summary_percentage_web",
    "pretraining_summary_percentage_code", "pretraining_summary_percentage_books",
    "pretraining_summary_percentage_reference", "pretraining_summary_percentage_academic",
    "pretraining_summary_percentage_english")
CATEGORICAL_VARIABLES: tuple[str, ...] = ("activation", "attention_variant", "biases", "block_type",
                                          "layer_norm_type", "positional_embeddings")
SCALING_VARIABLES: tuple[str, ...] = ("total_params", "pretraining_summary_total_tokens_billions")
NON_SCALING_DROPPED: tuple[str, ...] = (*SCALING_VARIABLES, "dimension", "sequence_length", "num_heads")
PREDICTOR_TYPES: tuple[str, ...] = ("all", "scaling_laws", "non_scaling_laws")
PLACEHOLDER = "___MISSING___"
MISSING = -1.0
MIN_SAMPLES = 30
OUTER_FOLDS = 3
INNER_FOLDS = 3
VAL_FRACTION = 0.2


def paper_task_name(benchmark: str, setting: str) -> str | None:
    """The paper's task for one (already standardised) benchmark row, or None when the paper drops the row."""
    for prefix, name in PREFIX_NAMES:
        if benchmark.startswith(prefix):
            mapped = name
            break
    else:
        if benchmark.startswith("mmlu_"):
            return f"mmlu_{setting}"      # any setting; the task loop later keeps 0- and 5-shot only
        mapped = PART_NAMES.get(benchmark, benchmark)
    if mapped not in BENCHMARK_DEFAULTS or setting not in BENCHMARK_DEFAULTS[mapped]:
        return None
    return mapped


def root_task(task: str) -> str | None:
    """The ``BENCHMARK_DEFAULTS`` entry a task name starts with (the paper's task-loop filter)."""
    return next((base for base in BENCHMARK_DEFAULTS if task.startswith(base)), None)


def standardize_names(scores: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Map the legacy names and keep the first row per (id, benchmark, setting), in the given row order.

    Returns the rows and how many kept values differ from the lm-eval-name-wins rule of our own loader.
    """
    df = scores.copy()
    df["benchmark"] = df["benchmark"].str.replace("hendrycksTest-", "mmlu_", regex=False)
    is_alias = scores["benchmark"].str.startswith("hendrycksTest-") | (scores["benchmark"] == "arc:challenge")
    df.loc[df["benchmark"] == "arc:challenge", "benchmark"] = "arc_challenge"
    df["_alias"] = is_alias.to_numpy()
    key = ["id", "benchmark", "setting"]
    kept = df.drop_duplicates(subset=key, keep="first")
    canonical = df.sort_values("_alias", kind="mergesort").drop_duplicates(subset=key, keep="first")
    both = kept.merge(canonical, on=key, suffixes=("", "_canonical"))
    differ = (both["value"] != both["value_canonical"]) & ~(both["value"].isna() & both["value_canonical"].isna())
    n_differ = int(differ.sum())
    return kept.drop(columns="_alias").reset_index(drop=True), n_differ


def aggregate_tasks(scores: pd.DataFrame) -> pd.DataFrame:
    """Rows ``id, task, setting, value``: the paper's per-model mean over the parts of each task, sorted."""
    names = [paper_task_name(b, s) for b, s in zip(scores["benchmark"], scores["setting"], strict=True)]
    df = scores.assign(task=names)
    df = df[df["task"].notna()]
    return df.groupby(["id", "task", "setting"], as_index=False, sort=True)["value"].mean()


def feature_columns(predictor_type: str, pseudo: list[str] | tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
    """(numeric, categorical) columns of a paper predictor type, in the paper's order."""
    if predictor_type == "scaling_laws":
        return list(SCALING_VARIABLES), []
    if predictor_type == "all":
        return [*NUMERIC_VARIABLES, *pseudo], list(CATEGORICAL_VARIABLES)
    if predictor_type == "non_scaling_laws":
        return [c for c in (*NUMERIC_VARIABLES, *pseudo) if c not in NON_SCALING_DROPPED], list(CATEGORICAL_VARIABLES)
    raise PredictionInputError(f"unknown paper predictor type {predictor_type!r}; "
                               f"choose from {', '.join(PREDICTOR_TYPES)}")


def category_codes(values: pd.Series) -> dict[str, float]:
    """The paper's ordinal codes: position among the sorted values plus the placeholder; the placeholder is -1."""
    cats = sorted(set(values.dropna().astype(str)) | {PLACEHOLDER})
    return {c: (MISSING if c == PLACEHOLDER else float(i)) for i, c in enumerate(cats)}


def encode_features(models: pd.DataFrame, predictor_type: str,
                    pseudo: list[str] | tuple[str, ...] = ()) -> pd.DataFrame:
    """Model rows (index id) -> the paper's feature table (before the per-task log of params and tokens)."""
    numeric, categorical = feature_columns(predictor_type, pseudo)
    missing = [c for c in (*numeric, *categorical) if c not in models.columns]
    if missing:
        raise PredictionInputError(f"the store's model table lacks column(s) {', '.join(missing)} needed by the "
                                   f"paper's {predictor_type!r} predictor")
    out = pd.DataFrame(index=models.index)
    if predictor_type == "scaling_laws":
        for col in numeric:
            out[col] = pd.to_numeric(models[col], errors="coerce").astype("float64")
        return out
    for col in numeric:
        out[col] = pd.to_numeric(models[col], errors="coerce").fillna(MISSING)
    for col in categorical:
        codes = category_codes(models[col])
        out[col] = models[col].map(lambda v, codes=codes: codes[str(v)] if pd.notna(v) else MISSING)
    return out.astype("float32")


@dataclass
class PaperTask:
    """One (task, setting) as the paper's loop sees it: rows in id order, features, scores."""

    task: str
    setting: str
    ids: np.ndarray
    X: pd.DataFrame              # encoded features, params/tokens logged (unless non_scaling_laws)
    y: np.ndarray


@dataclass
class PaperData:
    """Everything the port needs for one metric and predictor type."""

    metric: str
    predictor_type: str
    tasks: list[PaperTask]
    n_alias_values_differing: int = 0
    skipped: dict[str, str] = field(default_factory=dict)


def load_paper_data(store, metric: str, predictor_type: str = "all", *, drop_instruction_tuned: bool = False,
                    pseudo: pd.DataFrame | None = None, sel_tasks: list[str] | None = None) -> PaperData:
    """Assemble the paper's per-task tables from an open store (steps 1-5 of the module docstring).

    ``pseudo``: generation features indexed by id (numeric columns), merged on id like the paper's CSV.
    """
    models = store.annotations().merge(store.dataset_info(), on="id", how="inner", suffixes=("", "_dataset"))
    models = models[models["total_params"].notna() & models["pretraining_summary_total_tokens_billions"].notna()]
    if drop_instruction_tuned:
        models = models[models["is_instruction_tuned"].astype("boolean").fillna(False) == False]  # noqa: E712
    # the paper kept whichever duplicate its SQL join returned first, an order SQL leaves undefined (DuckDB's
    # parallel import/scan changes it from run to run); the store's sorted order makes "first" reproducible
    scores = store.scores(metric=metric)[["id", "benchmark", "setting", "metric_value"]].rename(
        columns={"metric_value": "value"})
    scores = scores[scores["id"].isin(set(models["id"]))]
    models = models[models["id"].isin(set(scores["id"]))].set_index("id")
    pseudo_cols: list[str] = []
    if pseudo is not None and predictor_type != "scaling_laws":
        pseudo_cols = sorted(c for c in pseudo.columns if c not in models.columns)
        models = models.join(pseudo[pseudo_cols], how="left")
    features = encode_features(models, predictor_type, pseudo_cols)
    float32 = predictor_type != "scaling_laws"   # the paper casts the whole long table, scores included
    scores, n_differ = standardize_names(scores)
    if float32:
        scores["value"] = scores["value"].astype("float32")
    agg = aggregate_tasks(scores)
    tasks, skipped = [], {}
    for (task, setting), g in agg.groupby(["task", "setting"], sort=True):
        base = root_task(task)
        if base is None or setting not in BENCHMARK_DEFAULTS[base]:
            continue
        if sel_tasks and task not in sel_tasks:
            continue
        if len(g) < MIN_SAMPLES:
            skipped[task] = f"{len(g)} models (< {MIN_SAMPLES})"
            continue
        g = g[g["value"].notna()]
        X = features.loc[g["id"]].copy()
        if predictor_type != "non_scaling_laws":
            with np.errstate(divide="ignore", invalid="ignore"):
                for col in SCALING_VARIABLES:
                    X[col] = np.log(X[col])
        tasks.append(PaperTask(task=task, setting=setting, ids=g["id"].to_numpy(), X=X.reset_index(drop=True),
                               y=g["value"].to_numpy()))
    return PaperData(metric=metric, predictor_type=predictor_type, tasks=tasks, n_alias_values_differing=n_differ,
                     skipped=skipped)


# ------------------------------------------------------------------------------------------ cross-validation
def paper_splits(n_rows: int, seed: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per outer fold: (fit rows in train_test_split's order, the unused 20 %, test rows)."""
    out = []
    for train, test in KFold(OUTER_FOLDS, shuffle=True, random_state=seed).split(np.arange(n_rows)):
        fit, unused = train_test_split(train, test_size=VAL_FRACTION, random_state=seed)
        out.append((np.asarray(fit), np.asarray(unused), np.asarray(test)))
    return out


def grid_order(grid: Mapping[str, Sequence] = PAPER_GRID) -> list[dict]:
    """The grid in ``sklearn.model_selection.ParameterGrid`` order (keys sorted, last key fastest)."""
    keys = sorted(grid)
    return [dict(zip(keys, values, strict=True)) for values in product(*(grid[k] for k in keys))]


def _params(depth: int, lr: float, seed: int, nthread: int) -> dict:
    # XGBRegressor(objective="reg:squarederror", missing=-1, random_state=seed): everything else library default
    return {"objective": "reg:squarederror", "max_depth": int(depth), "learning_rate": float(lr), "seed": seed,
            "nthread": nthread, "verbosity": 0}


def _dmatrix(X: np.ndarray, y=None, nthread: int = 1) -> xgb.DMatrix:
    # a plain array: with a DataFrame XGBoost re-reads the feature names on every boosting round (2x slower)
    return xgb.DMatrix(X, label=y, missing=MISSING, nthread=nthread)


def _train(params: dict, dtrain: xgb.DMatrix, rounds: int) -> xgb.Booster:
    """``xgb.train`` without its callback machinery (no evaluation sets here; same trees, a third faster)."""
    booster = xgb.Booster(params, [dtrain])
    for i in range(rounds):
        booster.update(dtrain, i)
    return booster


def grid_search(X: np.ndarray, y: np.ndarray, seed: int, grid: Mapping[str, Sequence] = PAPER_GRID,
                nthread: int = 1) -> tuple[dict, np.ndarray]:
    """The inner search: best params (first minimum in grid order) and the mean inner MAE of every grid point."""
    X = np.asarray(X)
    points = grid_order(grid)
    sizes = sorted(set(grid["n_estimators"]))
    combos = list(product(grid["max_depth"], grid["learning_rate"]))
    folds = list(KFold(INNER_FOLDS, shuffle=True, random_state=seed).split(np.arange(len(y))))
    per_fold = np.zeros((len(combos), len(sizes), len(folds)))
    for k, (tr, va) in enumerate(folds):
        dtr, dva = _dmatrix(X[tr], y[tr], nthread), _dmatrix(X[va], nthread=nthread)
        for i, (depth, lr) in enumerate(combos):
            booster = _train(_params(depth, lr, seed, nthread), dtr, sizes[-1])
            for j, n in enumerate(sizes):
                per_fold[i, j, k] = np.mean(np.abs(booster.predict(dva, iteration_range=(0, n)) - y[va]))
    err = {(*combos[i], sizes[j]): per_fold[i, j].mean() for i in range(len(combos)) for j in range(len(sizes))}
    scores = np.array([err[(p["max_depth"], p["learning_rate"], p["n_estimators"])] for p in points])
    return points[int(np.argmin(scores))], scores


def run_task(task: PaperTask, predictor_type: str, seed: int, grid: Mapping[str, Sequence] = PAPER_GRID,
             nthread: int = 1) -> tuple[list[dict], pd.DataFrame]:
    """Steps 6-7 for one task and seed: per-fold rows and per-model out-of-fold predictions."""
    folds, preds = [], []
    X, y = task.X.to_numpy(), task.y
    scaling_idx = [list(task.X.columns).index(c) for c in SCALING_VARIABLES if c in task.X.columns]
    for k, (fit, unused, test) in enumerate(paper_splits(len(y), seed)):
        Xf, yf = X[fit], y[fit]
        best, _ = grid_search(Xf, yf, seed, grid, nthread)
        booster = _train(_params(best["max_depth"], best["learning_rate"], seed, nthread), _dmatrix(Xf, yf, nthread),
                            int(best["n_estimators"]))
        pred = booster.predict(_dmatrix(X[test], nthread=nthread)).astype(float)
        median = float(np.median(yf))
        row = {"predictor_type": predictor_type, "task": task.task, "setting": task.setting, "seed": seed, "fold": k,
               "n_fit": len(fit), "n_unused": len(unused), "n_test": len(test),
               "mae": float(np.mean(np.abs(pred - y[test]))),
               "med_baseline_mae": float(np.mean(np.abs(median - y[test]))), **best}
        row["loglinear_baseline_mae"] = np.nan    # the paper skips it without params/tokens (non_scaling_laws)
        if len(scaling_idx) == len(SCALING_VARIABLES):
            lin = LinearRegression().fit(Xf[:, scaling_idx], yf)
            row["loglinear_baseline_mae"] = float(np.mean(np.abs(lin.predict(X[test][:, scaling_idx]) - y[test])))
        folds.append(row)
        preds.append(pd.DataFrame({"predictor_type": predictor_type, "task": task.task, "seed": seed, "fold": k,
                                   "id": task.ids[test], "y_true": y[test].astype(float), "y_pred": pred}))
    return folds, pd.concat(preds, ignore_index=True)


@dataclass
class PaperPortResult:
    folds: pd.DataFrame          # one row per predictor type x task x seed x fold
    predictions: pd.DataFrame    # per-model out-of-fold predictions
    n_models: pd.DataFrame       # predictor_type, task, n_models


def run_paper_port(datas: list[PaperData], seeds: tuple[int, ...] = (42,), n_jobs: int = 1,
                   progress: bool = True, grid: Mapping[str, Sequence] = PAPER_GRID) -> PaperPortResult:
    """Run every (predictor type, task, seed) of ``datas``; workers in parallel, one XGBoost thread each."""
    units = [(d.predictor_type, t, s) for d in datas for t in d.tasks for s in seeds]
    if not units:
        raise PredictionInputError("the paper port found no task with >= 30 models in the store")
    bar = Progress(len(units), f"paper port ({', '.join(sorted({d.metric for d in datas}))})", enabled=progress)
    folds: list[dict] = []
    preds: list[pd.DataFrame] = []
    jobs = (delayed(run_task)(t, p, s, grid) for p, t, s in units)
    results = (run_task(t, p, s, grid) for p, t, s in units) if n_jobs == 1 else \
        Parallel(n_jobs=n_jobs, return_as="generator_unordered")(jobs)
    for f, p in results:
        folds += f
        preds.append(p)
        bar.update()
    bar.close()
    fold_df = pd.DataFrame(folds).sort_values(["predictor_type", "task", "seed", "fold"]).reset_index(drop=True)
    pred_df = pd.concat(preds, ignore_index=True).sort_values(
        ["predictor_type", "task", "seed", "fold", "id"], kind="mergesort").reset_index(drop=True)
    n_models = pd.DataFrame([{"predictor_type": d.predictor_type, "metric": d.metric, "task": t.task,
                              "n_models": len(t.y)} for d in datas for t in d.tasks])
    return PaperPortResult(folds=fold_df, predictions=pred_df, n_models=n_models)


def paper_table(result: PaperPortResult) -> pd.DataFrame:
    """The paper's results table per predictor type and task (means over seeds of the per-seed figures)."""
    f = result.folds
    cols = ["mae", "med_baseline_mae", "loglinear_baseline_mae"]
    per_seed = f.groupby(["predictor_type", "task", "setting", "seed"])
    table = per_seed[cols].mean()
    table["std_mae"] = per_seed["mae"].std(ddof=0)
    table = table.groupby(["predictor_type", "task", "setting"]).mean()
    table["n_seeds"] = per_seed.size().groupby(["predictor_type", "task", "setting"]).size()
    table = table.reset_index().merge(result.n_models.drop(columns="metric"), on=["predictor_type", "task"],
                                      how="left")
    return table[["predictor_type", "task", "setting", "mae", "std_mae", "med_baseline_mae",
                  "loglinear_baseline_mae", "n_models", "n_seeds"]]


@dataclass
class PaperPortStudy:
    """The port's run for the report: its table, its folds and predictions, and what the report compares."""

    table: pd.DataFrame
    result: PaperPortResult
    seeds: tuple[int, ...]
    notes: dict = field(default_factory=dict)


def paper_port_study(db_path, metrics: tuple[str, ...], seeds: tuple[int, ...] = (42,),
                     predictor_types: tuple[str, ...] = ("all", "scaling_laws"), *,
                     drop_instruction_tuned: bool = False,
                     pseudo_feats_csv: str | None = None, sel_tasks: tuple[str, ...] | None = None, n_jobs: int = 1,
                     progress: bool = True) -> PaperPortStudy:
    """Open the store once, assemble every (metric, predictor type) and run the port on ``seeds``."""
    from .data import load_pseudo_features, open_store

    pseudo = load_pseudo_features(pseudo_feats_csv) if pseudo_feats_csv else None
    store = open_store(db_path)
    try:
        datas = [load_paper_data(store, m, p, drop_instruction_tuned=drop_instruction_tuned, pseudo=pseudo,
                                 sel_tasks=list(sel_tasks) if sel_tasks else None)
                 for m in metrics for p in predictor_types]
    finally:
        store.close()
    skipped = {f"{d.metric}/{d.predictor_type}": d.skipped for d in datas if not d.tasks}
    datas = [d for d in datas if d.tasks]
    if not datas:       # a small store: nothing the paper would have predicted; the report says so
        empty = PaperPortResult(folds=pd.DataFrame(), predictions=pd.DataFrame(), n_models=pd.DataFrame())
        return PaperPortStudy(table=pd.DataFrame(), result=empty, seeds=tuple(seeds),
                              notes={"no_task": f"no task has >= {MIN_SAMPLES} models: {skipped}"})
    result = run_paper_port(datas, seeds=seeds, n_jobs=n_jobs, progress=progress)
    metric_of = {t.task: d.metric for d in datas for t in d.tasks}
    table = paper_table(result)
    table.insert(0, "metric", table["task"].map(metric_of))
    notes = {f"{d.metric}/{d.predictor_type}": {"alias_values_kept_differing_from_lm_eval_rule":
                                                d.n_alias_values_differing, "skipped": d.skipped} for d in datas}
    return PaperPortStudy(table=table, result=result, seeds=tuple(seeds), notes=notes)


def compare_with_ours(port: PaperPortStudy | None, results: dict) -> pd.DataFrame:
    """Per task: the port of the paper's pipeline beside our predictors (``CVResult`` per metric), same seeds.

    Ours are the random-scheme runs (the paper's folds: shuffled 3-fold KFold on the models sorted by id), so
    where both sides have the same models (``same_models``) the outer folds are the same too.
    """
    if port is None or port.table.empty:
        return pd.DataFrame()
    t = port.table
    out = t.pivot_table(index=["metric", "task"], columns="predictor_type", values="mae").add_prefix("paper_port_")
    ref = t.sort_values("predictor_type", ascending=False).drop_duplicates(["metric", "task"])   # scaling_laws first
    out = out.join(ref.set_index(["metric", "task"])[["med_baseline_mae", "loglinear_baseline_mae", "n_models"]]
                   .add_prefix("paper_port_"))
    port_ids = port.result.predictions.groupby("task")["id"].agg(lambda s: frozenset(s))
    frames = []
    for metric, r in results.items():
        p = r.predictions[(r.predictions.scheme == "random") & r.predictions.seed.isin(port.seeds)]
        if p.empty:
            continue
        s = r.seed_mae()
        s = s[(s.scheme == "random") & s.seed.isin(port.seeds)]
        o = s.pivot_table(index="task", columns="predictor", values="mae")
        o = o[[c for c in ("xgb_all", "xgb_scaling", "loglinear", "median") if c in o]].add_prefix("ours_")
        ids = p.groupby("task")["id"].agg(lambda s: frozenset(s))
        o["ours_n_models"] = ids.map(len)
        o["same_models"] = [port_ids.get(task) == ids[task] for task in o.index]
        frames.append(o.assign(metric=metric).reset_index().set_index(["metric", "task"]))
    if frames:
        out = out.join(pd.concat(frames), how="left")
    return out.reset_index()
