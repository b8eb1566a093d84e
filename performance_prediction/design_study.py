"""Computations behind the report's headline: interval coverage by compute quintile, design-decision effects
with family-bootstrap intervals, and conclusions generated from the measured numbers.

Everything here is a pure function of cross-validation predictions and the prediction data; ``report.py``
only renders the frames and sentences returned.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .families import families
from .features import DATA_FEATURES
from .laws import LawRegressor
from .significance import compare
from .validation import log_compute

LAW_PREFIX, DESIGN_PREFIX = "law_", "design_"
# what the issue asks of the design-aware predictor (family scheme, mean over tasks), shown next to the numbers
GOALS = {"accuracy": 0.050, "brier_score": 0.052}
# what the issue asks of the intervals: coverage of the worst compute quintile
COVERAGE_GOAL = 0.85
TIE = 0.002   # "within 0.002 of the best pure law"


# ----------------------------------------------------------------------------------------------- MAE summaries
def scheme_means(mae: pd.DataFrame, scheme: str) -> pd.DataFrame:
    """Mean over tasks of the per-task MAE (itself the mean over seeds): metric x predictor."""
    d = mae[mae.scheme == scheme]
    return d.groupby(["metric", "predictor"])["mae"].mean().unstack("predictor")


def best_of(means: pd.Series, prefix: str) -> str | None:
    """Name of the predictor with the lowest mean MAE among those starting with ``prefix``."""
    m = means[[p for p in means.index if str(p).startswith(prefix)]].dropna()
    return str(m.idxmin()) if len(m) else None


def headline_table(mae: pd.DataFrame, metric: str, scheme: str, reference: str, others: list[str]) -> pd.DataFrame:
    """Per task MAE of ``reference`` (the best pure law) and each of ``others``, with the difference to it."""
    d = mae[(mae.metric == metric) & (mae.scheme == scheme)]
    piv = d.pivot_table(index="task", columns="predictor", values="mae")
    cols = [reference, *[o for o in others if o in piv and o != reference]]
    out = piv[cols].copy()
    for o in cols[1:]:
        out[f"{o} - {reference}"] = out[o] - out[reference]
    out.loc["MEAN"] = out.mean()
    return out.reset_index()


# ----------------------------------------------------------------------------------------------- coverage
def interval_coverage(preds: pd.DataFrame, models: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coverage of the out-of-fold intervals: per (metric, scheme, predictor, task, compute quintile) and a
    summary per (metric, scheme, predictor) with the worst quintile and the worst family (>= 3 predictions)."""
    p = preds[preds["lower"].notna()].copy() if "lower" in preds else pd.DataFrame()
    if p.empty:
        return pd.DataFrame(), pd.DataFrame()
    logc = pd.Series(log_compute(models), index=models.index)
    p["log_compute"] = logc.reindex(p["id"]).to_numpy()
    p["hit"] = (p.y_true >= p.lower - 1e-12) & (p.y_true <= p.upper + 1e-12)
    p["width"] = p.upper - p.lower
    # quintiles of compute among the models of each task (rank first: ties split deterministically)
    rank = p.groupby(["metric", "task"])["log_compute"].rank(method="dense", pct=True)
    p["quintile"] = np.minimum((rank * 5 - 1e-9).astype(int), 4) + 1
    keys = ["metric", "scheme", "predictor"]
    by_q = (p.groupby([*keys, "quintile"]).agg(coverage=("hit", "mean"), mean_width=("width", "mean"),
                                              n=("hit", "size")).reset_index())
    fam = p.groupby([*keys, "family"]).agg(coverage=("hit", "mean"), n=("hit", "size")).reset_index()
    fam = fam[fam.n >= 3]
    rows = []
    for k, g in p.groupby(keys):
        sel = dict(zip(keys, k, strict=True))
        q = by_q[np.logical_and.reduce([by_q[c] == v for c, v in sel.items()])]
        f = fam[np.logical_and.reduce([fam[c] == v for c, v in sel.items()])]
        worst = f.sort_values("coverage", kind="mergesort").iloc[0] if len(f) else None
        rows.append({**sel, "coverage": g.hit.mean(), "mean_width": g.width.mean(),
                     **{f"q{int(i)}": c for i, c in zip(q.quintile, q.coverage, strict=True)},
                     "worst_quintile": q.coverage.min(),
                     "worst_family": worst["family"] if worst is not None else "",
                     "worst_family_coverage": worst["coverage"] if worst is not None else np.nan,
                     "n": len(g)})
    return pd.DataFrame(rows), by_q


# ----------------------------------------------------------------------------------------------- full fits
def _fit_task(data, task: str, predictors: tuple[str, ...], seed: int, cfg) -> dict:
    from .evaluate import predictor_params
    from .predictors import make_predictor

    X, y = data.task_frame(task)
    fams = families(X.index)
    return {(task, name): make_predictor(name, **predictor_params(name, data.metric, seed, cfg, data.pseudo_features,
                                                                  task)).fit(X, y, groups=fams)
            for name in predictors}


def full_fits(data, predictors, cfg, n_jobs: int = 1) -> dict:
    """Each predictor fit once per task on every scored model with the settings of ``cfg`` (a ``CVConfig``)
    and its first seed: ``{(task, predictor): estimator}``. The effects, the missingness probe and the
    predictions of unscored models all read these fits, so they describe the same model (one seed) and nothing
    is fit twice."""
    from joblib import Parallel, delayed

    names = tuple(dict.fromkeys(predictors))
    jobs = [(data, task, names, cfg.seeds[0], cfg) for task in data.task_names]
    parts = (Parallel(n_jobs=n_jobs)(delayed(_fit_task)(*a) for a in jobs) if n_jobs != 1
             else [_fit_task(*a) for a in jobs])
    return {k: v for part in parts for k, v in part.items()}


# ----------------------------------------------------------------------------------------------- effects
def _families_per_feature(X: pd.DataFrame, fams: np.ndarray, source: str, level: str | None) -> tuple[int, int]:
    """Families that have the level (or know the numeric value) and families known to have another level."""
    v = X[source]
    known = v.notna().to_numpy()
    if level is None:
        return len(set(fams[known])), len(set(fams[known]))
    hit = (v.astype(str) == level).to_numpy() & known
    return len(set(fams[hit])), len(set(fams[known & ~hit]))


def design_effects(data, predictor: str = "design_arch", n_boot: int = 100, seed: int = 42,
                   alpha: float = 0.1, n_jobs: int = 1, fits: dict | None = None) -> pd.DataFrame:
    """Effect of each design decision per task, as a shift of the law's midpoint.

    The design predictor is fit on all models of the task (form and ridge chosen by its inner family CV).
    Where that CV chose no correction, the effects are estimated with the strongest ridge of the grid and
    ``used_in_predictions`` is False. ``score_points``: the change of the predicted score of the task's
    median-compute model; ``compute_multiplier``: the compute that shift is worth. Intervals: refits on
    ``n_boot`` family-bootstrap samples (form and ridge fixed), percentile (1 - alpha). ``few_families``: the
    decision varies within fewer than three families (it has the level in < 3 families, or < 3 families are
    known to lack it), so its effect may be a family's. Tasks run in parallel (``n_jobs``); each task has its
    own random stream (seed, task position), so the result does not depend on ``n_jobs``. ``fits``: the
    fits of :func:`full_fits` (the same ``seed``) to reuse instead of fitting again.
    """
    from joblib import Parallel, delayed

    fits = fits or {}
    args = [(data, task, i, predictor, n_boot, seed, alpha, fits.get((task, predictor)))
            for i, task in enumerate(data.task_names)]
    frames = (Parallel(n_jobs=n_jobs)(delayed(_task_effects)(*a) for a in args) if n_jobs != 1
              else [_task_effects(*a) for a in args])
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _task_effects(data, task: str, position: int, predictor: str, n_boot: int, seed: int,
                  alpha: float, est: LawRegressor | None = None) -> pd.DataFrame:
    from .evaluate import CVConfig, predictor_params
    from .predictors import make_predictor

    rng = np.random.default_rng([seed, position])
    rows = []
    X, y = data.task_frame(task)
    fams = np.asarray(families(X.index))
    params = predictor_params(predictor, data.metric, seed, CVConfig(alpha=alpha), data.pseudo_features, task)
    if est is None:
        est = _fit_task(data, task, (predictor,), seed, CVConfig(alpha=alpha))[(task, predictor)]
    used = bool(np.isfinite(est.ridge_))
    ridge = est.ridge_ if used else max(est.ridge_grid)
    # bags=0: the effects are the full-data fit's (a bagged predictor keeps it); its refits need no bags of their own
    fixed = dict(params, form=est.form_, ridge_grid=(ridge,), select=False, intervals=False, bags=0)
    if not used:
        est = make_predictor(predictor, **fixed).fit(X, y, fams)
    base = _effects_with_points(est, X)
    if base.empty:
        return pd.DataFrame()
    boots = []
    uniq = np.unique(fams)
    for _ in range(n_boot):
        pick = rng.choice(uniq, size=len(uniq), replace=True)
        idx = np.concatenate([np.flatnonzero(fams == f) for f in pick])
        try:
            b = make_predictor(predictor, **fixed).fit(X.iloc[idx], y[idx], fams[idx])
        except (ValueError, np.linalg.LinAlgError):
            continue   # a degenerate resample (e.g. one family): skip it rather than fail the report
        boots.append(_effects_with_points(b, X).set_index("feature")[["score_points", "compute_multiplier"]])
    for r in base.itertuples(index=False):
        pts = np.array([b.score_points.get(r.feature, np.nan) for b in boots], float)
        mult = np.array([b.compute_multiplier.get(r.feature, np.nan) for b in boots], float)
        n_with, n_other = _families_per_feature(X, fams, r.source, r.level)
        lo_q, hi_q = 100 * alpha / 2, 100 * (1 - alpha / 2)
        rows.append({"metric": data.metric, "task": task, "feature": r.feature, "unit": r.unit,
                     "score_points": r.score_points,
                     "points_lo": np.nanpercentile(pts, lo_q) if np.isfinite(pts).any() else np.nan,
                     "points_hi": np.nanpercentile(pts, hi_q) if np.isfinite(pts).any() else np.nan,
                     "compute_multiplier": r.compute_multiplier,
                     "multiplier_lo": np.nanpercentile(mult, lo_q) if np.isfinite(mult).any() else np.nan,
                     "multiplier_hi": np.nanpercentile(mult, hi_q) if np.isfinite(mult).any() else np.nan,
                     "n_families_with": n_with, "n_families_other": n_other,
                     "few_families": min(n_with, n_other) < 3 if r.level is not None else n_with < 3,
                     "used_in_predictions": used, "ridge": ridge, "form": est.form_, "n_boot": len(boots)})
    return pd.DataFrame(rows)


def _effects_with_points(est: LawRegressor, X: pd.DataFrame) -> pd.DataFrame:
    eff = est.design_effects()
    if eff.empty:
        return eff
    fitted, curve = est.fitted_, est.curve_
    S = fitted.scale.design(fitted.Z, fitted.form)
    u_ref = float(np.median(S @ curve.slopes + curve.b))
    y_ref = curve.value(np.array([u_ref]))[0]
    eff["score_points"] = [float(curve.value(np.array([u_ref + du]))[0] - y_ref) for du in eff.delta_u]
    return eff


# ----------------------------------------------------------------------------------------------- missingness
PROBE_LAW = "law_blend"   # the pure law trees are compared with (the main job's law)


def missingness_probe(data, predictors: tuple[str, ...], seed: int = 42, fits: dict | None = None) -> pd.DataFrame:
    """Does removing a model's data mix move its prediction towards the law or towards "modern model"?

    Per task, each predictor is fit on all scored models; every model that knows its data mix is predicted
    as is and with the mix removed. ``mean_shift``: mean |change| of the prediction; ``towards_law``: share of
    models whose prediction without the mix is at least as close to the pure law's prediction as with it (the
    predictor's own law for the design-aware ones, ``PROBE_LAW`` for the others, named in ``reference``).
    ``fits``: the fits of :func:`full_fits` (the same ``seed``) to reuse; the rest are fit here.
    """
    from .evaluate import CVConfig

    rows = []
    cfg = CVConfig()
    fits = fits or {}

    def fit(name: str, task: str):
        return fits[(task, name)] if (task, name) in fits else _fit_task(data, task, (name,), seed, cfg)[(task, name)]

    for task in data.task_names:
        X, _ = data.task_frame(task)
        known = X[list(DATA_FEATURES)].notna().any(axis=1).to_numpy()
        if not known.any():
            continue
        blank = X.copy()
        blank.loc[:, list(DATA_FEATURES)] = np.nan
        main_law = None
        for name in predictors:
            est = fit(name, task)
            # a design-aware predictor is compared with its own law; trees with the main pure law
            if hasattr(est, "law_predict"):
                ref, ref_name = est.law_predict(X)[known], f"own law of {name}"
            else:
                if main_law is None:
                    main_law = fit(PROBE_LAW, task).predict(X)[known]
                ref, ref_name = main_law, PROBE_LAW
            with_mix, without = est.predict(X)[known], est.predict(blank)[known]
            rows.append({"metric": data.metric, "task": task, "predictor": name, "reference": ref_name,
                         "n_models": int(known.sum()),
                         "mean_shift": float(np.mean(np.abs(without - with_mix))),
                         "mean_signed_shift": float(np.mean(without - with_mix)),
                         "towards_law": float(np.mean(np.abs(without - ref) <= np.abs(with_mix - ref) + 1e-9))})
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------------------------- conclusions
def _pct(a: float, b: float) -> str:
    return f"{100 * (a - b) / b:+.1f} %"


def conclusions(mae: pd.DataFrame, preds: pd.DataFrame, coverage_summary: pd.DataFrame,
                n_seeds: int, alpha: float = 0.1) -> tuple[list[str], pd.DataFrame]:
    """Sentences (markdown bullets) stating what the measured numbers say, and the design-vs-law test table.

    ``alpha``: the miscoverage the intervals were built for (their nominal level is 1 - alpha)."""
    L: list[str] = []
    tests = []
    fam = scheme_means(mae, "family") if "family" in set(mae.scheme) else pd.DataFrame()
    for metric in fam.index:
        found, sig = _family_findings(metric, fam.loc[metric], mae, preds, n_seeds)
        L += found
        if sig is not None:
            tests.append(sig)
    L += _extrapolation_findings(mae)
    L += _coverage_findings(coverage_summary, alpha)
    return L, (pd.concat(tests, ignore_index=True) if tests else pd.DataFrame())


def _family_findings(metric: str, means: pd.Series, mae: pd.DataFrame, preds: pd.DataFrame,
                     n_seeds: int) -> tuple[list[str], pd.DataFrame | None]:
    """Unseen families, one metric: the best law against the trees, then the best design-aware predictor
    against that law (with its permutation tests, the second value; None when there is none)."""
    law, design = best_of(means, LAW_PREFIX), best_of(means, DESIGN_PREFIX)
    n_tasks = mae[(mae.metric == metric) & (mae.scheme == "family")].task.nunique()
    if law is None:
        return [], None
    trees = {p: means[p] for p in ("xgb_all", "xgb_scaling") if p in means and np.isfinite(means[p])}
    s = (f"**{metric}, unseen families** (family-grouped CV, {n_seeds} seeds, mean over {n_tasks} tasks): the "
         f"best pure scaling law `{law}` has MAE {means[law]:.4f}")
    s += "".join(f"; `{p}` {v:.4f} ({_pct(v, means[law])} vs the law)" for p, v in trees.items())
    L = [s + "."]
    if design is None:
        return L, None
    d = mae[(mae.metric == metric) & (mae.scheme == "family")].pivot_table(index="task", columns="predictor",
                                                                           values="mae")
    seeds = set(preds.loc[(preds.metric == metric) & (preds.scheme == "family"), "seed"])
    L += _design_vs_law_findings(metric, means, d, design, law, seeds)
    L += _generation_caveat(means, design, law)
    L += _scale_trees_caveat(design, metric)
    sig = compare(preds[(preds.metric == metric) & (preds.scheme == "family")], a=design, b=law)
    if not len(sig):
        return L, None
    sig = sig.assign(metric=metric, design=design, law=law)
    good = sig[(sig.q_family_perm < 0.05) & (sig.mean_gain > 0)].task.tolist()
    bad = sig[(sig.q_family_perm < 0.05) & (sig.mean_gain < 0)].task.tolist()
    L.append(f"Family permutation test of `{design}` vs `{law}` (BH across tasks, q < 0.05): the design-aware "
             f"predictor helps significantly on {', '.join(good) or 'no task'}; significantly worse on "
             f"{', '.join(bad) or 'no task'}. Where they do not help, a new model is predicted as well by "
             f"params and tokens alone.")
    return L, sig


def uses_generation_features(name: str) -> bool:
    """Whether the registered predictor ``name`` reads generation features (the paper's pseudo features)."""
    from .predictors import PREDICTORS

    if name not in PREDICTORS:
        return False
    est = PREDICTORS.get(name)[0]()
    law = getattr(est, "law", None)   # an ensemble reads them through its law part
    if law is None:
        law = est
    return getattr(law, "design", None) in ("all", "all_means")


def _scale_trees_caveat(design: str, metric: str = "accuracy") -> list[str]:
    """When the best design predictor averages in trees on params and tokens (``ensemble.py``): its gain over the
    law is not all the design features' (the permutation test below compares the whole predictor). The shares are
    the ``metric``'s (an ensemble may weigh its parts per metric)."""
    from .predictors import PREDICTORS

    est = PREDICTORS.get(design)[0]() if design in PREDICTORS else None
    if est is None or not hasattr(est, "tree_features"):
        return []
    w = {"weight": est.weight, "weight2": est.weight2, "scale_weight": est.scale_weight,
         **(est.by_metric or {}).get(metric, {})}
    trees = None if w["weight"] is None else w["weight"] + w["weight2"]
    share = f"{trees:.0%}" if trees is not None else "a per-task share"
    law = f", and {w['scale_weight']:.0%} a pure law on params and tokens" if w["scale_weight"] else ""
    code, lang = getattr(est, "code_weight", None), getattr(est, "language_weight", None)
    shares = "code and English shares" if lang is not None else "code share"
    other = f", a non-English natural-language token {lang:g}" if lang is not None else ""
    eff = (f"; the data mix's {shares} also reach every part as effective tokens (a code token counts {code:g} of a "
           f"natural-language token{other}; `effective_tokens.py`)" if code is not None else "")
    return [f"`{design}` averages its design-aware law with trees on params and tokens ({share}; "
            f"`{est.tree_features}` trees{law}): part of its gain over the pure law comes from those "
            f"{'parts' if law else 'trees'} and from the law part's bagging, not from design features{eff}; a model "
            "without a data mix gets its scale-only prediction (the missingness probe)."]


def _seed_ranges(seeds: list[int]) -> str:
    """``[42, 43, 44, 50]`` -> ``"42-44, 50"``."""
    runs: list[list[int]] = []
    for x in sorted(seeds):
        if runs and x == runs[-1][-1] + 1:
            runs[-1].append(x)
        else:
            runs.append([x])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)


def _selection_caveat(design: str, seeds: set) -> str:
    """A note for the goal line when ``seeds`` include seeds the predictor's settings were chosen on, naming a
    ``--seed`` whose run of as many consecutive seeds chose nothing."""
    from .predictors import SELECTION_SEEDS

    chosen = set(SELECTION_SEEDS.get(design, ()))
    shared = sorted(int(s) for s in seeds & chosen)
    if not shared:
        return ""
    n = max(len(seeds), 1)
    free = next(s for s in range(min(chosen), max(chosen) + 2) if chosen.isdisjoint(range(s, s + n)))
    return (f" on these seeds, {len(shared)} of which ({_seed_ranges(shared)}) chose its settings, so the figure "
            f"is optimistic; the seeds that chose or checked it are {_seed_ranges(sorted(chosen))} (`--seed {free} "
            f"--n_seeds {n}` runs on seeds that chose nothing, though on the same models, so it is no independent "
            f"test either), figures in benchmarks/RESULTS.md")


def _generation_caveat(means: pd.Series, design: str, law: str) -> list[str]:
    """When the best design predictor reads generation features: what they are, and the best one without them."""
    if not uses_generation_features(design):
        return []
    s = (f"`{design}` reads the paper's generation features (measured on each model's own free generations), "
         "known for most models here but not for a planned one, which gets only its data/architecture correction")
    rest = means[[p for p in means.index if str(p).startswith(DESIGN_PREFIX) and not uses_generation_features(p)]]
    rest = rest.dropna()
    if len(rest):
        s += (f"; the best design-aware predictor without them is `{rest.idxmin()}`, MAE {rest.min():.4f} "
              f"({_pct(rest.min(), means[law])} vs the law)")
    return [s + "."]


def _design_vs_law_findings(metric: str, means: pd.Series, d: pd.DataFrame, design: str, law: str,
                            seeds: set | None = None) -> list[str]:
    """Per-task MAE table ``d`` (task x predictor): where ``design`` beats or trails the best law, overall
    and against each task's own best law. ``seeds``: the CV seeds behind ``d``; when some of them chose the
    predictor's settings (``SELECTION_SEEDS``) the goal line says its figure is optimistic."""
    diff = d[design] - d[law]
    helped = diff[diff < -TIE].index.tolist()
    hurt = diff[diff > TIE].index.tolist()
    goal = GOALS.get(metric)
    goal_s = (f"; goal <= {goal:.3f}: {'met' if means[design] <= goal else 'NOT met'}" if goal else "")
    goal_s += _selection_caveat(design, seeds or set()) if goal else ""
    L = [f"Best design-aware predictor `{design}`: MAE {means[design]:.4f} ({_pct(means[design], means[law])} "
         f"vs the law{goal_s}). It is better than the law by more than {TIE} on "
         f"{len(helped)}/{len(diff)} tasks ({', '.join(helped) or 'none'}), worse by more than {TIE} on "
         f"{len(hurt)} ({', '.join(hurt) or 'none'})."]
    laws = [c for c in d.columns if str(c).startswith(LAW_PREFIX)]
    per_task = d[design] - d[laws].min(axis=1)
    behind = [f"{t} (+{v:.4f} vs `{d.loc[t, laws].idxmin()}`)" for t, v in per_task.items() if v > TIE]
    L.append(f"Against the best pure law of each task (chosen after the fact, so a hard reference): within "
             f"{TIE} on {int((per_task <= TIE).sum())}/{len(per_task)} tasks"
             + (f"; behind on {', '.join(behind)}." if behind else "."))
    return L


def _extrapolation_findings(mae: pd.DataFrame) -> list[str]:
    """Larger models (extrapolation scheme): mean MAE of the best law, the best design predictor and the trees."""
    L = []
    ext = mae[mae.scheme == "extrapolation"]
    for metric, g in ext.groupby("metric"):
        piv = g.pivot_table(index="task", columns="predictor", values="mae")
        law, design = best_of(piv.mean(), LAW_PREFIX), best_of(piv.mean(), DESIGN_PREFIX)
        parts = [f"`{p}` {piv[p].mean():.4f}" for p in (law, design, "xgb_all", "xgb_scaling") if p and p in piv]
        s = (f"**{metric}, larger models** (train below the compute cutoff, test on the top 20 % per task; "
             f"{int(g.n_seeds.max())} seeds), mean MAE: " + ", ".join(parts))
        if design and "xgb_all" in piv:
            wins = int((piv[design] < piv["xgb_all"]).sum())
            s += f"; `{design}` beats `xgb_all` on {wins}/{len(piv)} tasks"
        L.append(s + ".")
    return L


def _coverage_findings(coverage_summary: pd.DataFrame, alpha: float) -> list[str]:
    """Family-CV interval coverage per metric against the nominal level and the worst-quintile goal."""
    L: list[str] = []
    if not len(coverage_summary):
        return L
    c = coverage_summary[coverage_summary.scheme == "family"]
    for metric, g in c.groupby("metric"):
        worst = g.sort_values("worst_quintile").iloc[0]
        lo, hi = f"{g.coverage.min():.1%}", f"{g.coverage.max():.1%}"
        L.append(f"**Intervals ({metric}, family CV)**: nominal {1 - alpha:.0%} intervals cover "
                 f"{lo if lo == hi else f'{lo}-{hi}'} of the held-out models ({len(g)} predictors); the worst "
                 "compute quintile is "
                 f"{worst.worst_quintile:.1%} (`{worst.predictor}`; goal >= {COVERAGE_GOAL:.0%}: "
                 f"{'met' if g.worst_quintile.min() >= COVERAGE_GOAL else 'NOT met'}); worst family "
                 f"{worst.worst_family} {worst.worst_family_coverage:.0%}.")
    return L
