"""Is "all features" better than "scaling only" on a task? Tests across seeds, then FDR across tasks.

*Plain paired t-test* (the paper): one MAE difference per seed, ``scipy.stats.ttest_rel``. With many seeds the
p-value goes to 0 for any consistent difference, because seeds re-use the same ~100 models: the differences
are strongly correlated, not independent samples.

*Corrected resampled t-test* (Nadeau & Bengio 2003): uses every (seed, fold) difference d_j (J = seeds x
folds) but inflates the variance by the train/test overlap:
``t = mean(d) / sqrt((1/J + n_test/n_train) * var(d))``, with J-1 degrees of freedom.

*Family permutation test*: under H0 "the two predictors are exchangeable", swapping the two predictions of
all models of a family leaves the distribution unchanged; we flip families at random (sign-flip of the
per-family summed |error| differences, seed-averaged) and compare the observed mean difference.

Benjamini-Hochberg FDR (``scipy.stats.false_discovery_control``) adjusts each test's p-values across tasks.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats


def corrected_resampled_ttest(diffs: np.ndarray, n_train: float, n_test: float) -> tuple[float, float]:
    """Two-sided (t, p) of the Nadeau-Bengio corrected resampled t-test on per-(seed, fold) differences.

    (nan, nan) without a training share (``n_train <= 0``): a single fixed split, such as the extrapolation
    scheme, has no resampling for the test to correct.
    """
    if n_train <= 0:
        return np.nan, np.nan
    d = np.asarray(diffs, float)
    J = len(d)
    var = d.var(ddof=1)
    if J < 2 or var == 0:
        return (np.nan, 1.0) if np.mean(d) == 0 else (np.inf * np.sign(np.mean(d)), 0.0)
    t = d.mean() / np.sqrt((1.0 / J + n_test / n_train) * var)
    return float(t), float(2 * stats.t.sf(abs(t), df=J - 1))


def family_permutation_test(per_model: pd.DataFrame, n_perm: int = 5000, seed: int = 0) -> float:
    """Two-sided p of a family sign-flip permutation test.

    ``per_model`` has columns family, diff (|err_a| - |err_b| averaged over seeds per model).
    """
    fam = per_model.groupby("family")["diff"].sum().to_numpy()
    n = len(per_model)
    observed = abs(fam.sum() / n)
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(n_perm, len(fam)))
    null = np.abs(signs @ fam / n)
    return float((1 + (null >= observed - 1e-15).sum()) / (n_perm + 1))


def bh(pvalues) -> np.ndarray:
    p = np.asarray(pvalues, float)
    out = np.full_like(p, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(p[ok], method="bh")
    return out


def compare(predictions: pd.DataFrame, a: str = "xgb_all", b: str = "xgb_scaling",
            n_perm: int = 5000) -> pd.DataFrame:
    """Per (task, scheme): mean MAE of a and b, and the three tests (a better = positive mean_gain)."""
    rows = []
    p = predictions[predictions["predictor"].isin([a, b])].copy()
    p["abs_err"] = (p["y_pred"] - p["y_true"]).abs()
    for (task, scheme), g in p.groupby(["task", "scheme"]):
        fold = g.groupby(["seed", "fold", "predictor"])["abs_err"].mean().unstack("predictor")
        if a not in fold or b not in fold:
            continue
        gain_fold = (fold[b] - fold[a]).dropna()                 # >0: a has lower MAE
        seed_mae = fold.groupby(level="seed").mean()
        gain_seed = seed_mae[b] - seed_mae[a]
        n_models = g[g["predictor"] == a].groupby("seed")["id"].nunique().max()
        n_folds = g["fold"].nunique()
        n_test = n_models / n_folds
        t_c, p_c = corrected_resampled_ttest(gain_fold.to_numpy(), n_models - n_test, n_test)
        if len(gain_seed) >= 2 and gain_seed.std() > 0:
            t_p, p_p = stats.ttest_rel(seed_mae[b], seed_mae[a])
        else:
            t_p, p_p = np.nan, np.nan
        pm = g.pivot_table(index=["id", "family"], columns="predictor", values="abs_err", aggfunc="mean")
        per_model = pd.DataFrame({"family": pm.index.get_level_values("family"),
                                  "diff": (pm[b] - pm[a]).to_numpy()})
        p_perm = family_permutation_test(per_model, n_perm=n_perm)
        rows.append({"task": task, "scheme": scheme, f"mae_{a}": seed_mae[a].mean(), f"mae_{b}": seed_mae[b].mean(),
                     "mean_gain": gain_seed.mean(), "n_seeds": len(gain_seed), "n_models": int(n_models),
                     "t_paired": t_p, "p_paired": p_p, "t_corrected": t_c, "p_corrected": p_c,
                     "p_family_perm": p_perm})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    for _scheme, idx in out.groupby("scheme").groups.items():
        for col in ("p_paired", "p_corrected", "p_family_perm"):
            out.loc[idx, col.replace("p_", "q_")] = bh(out.loc[idx, col])
    return out
