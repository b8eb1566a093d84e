"""Choose a predictor variant on one set of seeds, report it on another (no selection on the reporting seeds).

Picking the best of several variants by its MAE and then quoting that same MAE is optimistic: the winner is
partly the variant whose folds happened to suit it. Here the choice uses ``choose_seeds`` only and the figure
quoted for the winner comes from ``report_seeds``, disjoint from them, where it is re-run with the references.
The gap between the two figures (``optimism``) is what choosing and reporting on the same seeds would have hidden.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from .errors import PredictionInputError


def split_seeds(seeds: tuple[int, ...], n_choose: int, n_report: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The first ``n_choose`` seeds choose, the next ``n_report`` (or those left) report; disjoint by construction."""
    if n_choose < 1 or n_report < 0:
        raise PredictionInputError(f"--improvement_seeds must be >= 1 (got {n_choose}) and "
                                   f"--improvement_report_seeds >= 0 (got {n_report})")
    # fewer seeds than asked: report on what is left (possibly none, and the report says so)
    return tuple(seeds[:n_choose]), tuple(seeds[n_choose:n_choose + n_report])


def mean_mae(seed_mae: pd.DataFrame, predictors, seeds, scheme: str) -> pd.Series:
    """Per predictor: mean over tasks of the mean-over-``seeds`` MAE (tasks every predictor has)."""
    s = seed_mae[(seed_mae.scheme == scheme) & seed_mae.seed.isin(seeds) & seed_mae.predictor.isin(predictors)]
    piv = s.pivot_table(index="task", columns="predictor", values="mae").dropna()
    return piv.mean()


def choose_variant(seed_mae: pd.DataFrame, candidates, seeds, scheme: str = "family") -> str:
    """The candidate with the lowest mean MAE on ``seeds`` (ties: first in ``candidates``)."""
    means = mean_mae(seed_mae, candidates, seeds, scheme)
    ranked = [c for c in candidates if c in means.index]
    if not ranked:
        raise PredictionInputError(f"none of the variants {', '.join(candidates)} ran on seeds {list(seeds)}")
    return min(ranked, key=lambda c: (means[c], ranked.index(c)))


def held_out_table(seed_mae: pd.DataFrame, chosen: str, references, report_seeds, scheme: str = "family"
                   ) -> pd.DataFrame:
    """Per task, on the reporting seeds: the chosen variant and the references, plus a MEAN row."""
    cols = [chosen, *[r for r in references if r != chosen]]
    s = seed_mae[(seed_mae.scheme == scheme) & seed_mae.seed.isin(report_seeds) & seed_mae.predictor.isin(cols)]
    piv = s.pivot_table(index="task", columns="predictor", values="mae")
    piv = piv[[c for c in cols if c in piv]]
    piv.loc["MEAN"] = piv.mean()
    return piv.reset_index()


def choice_summary(seed_mae: pd.DataFrame, candidates, references, choose_seeds, report_seeds,
                   scheme: str = "family") -> dict:
    """The choice and its two figures: on the seeds that chose it and on the held-out reporting seeds."""
    chosen = choose_variant(seed_mae, candidates, choose_seeds, scheme)
    on_choice = float(mean_mae(seed_mae, [chosen], choose_seeds, scheme).get(chosen, float("nan")))
    held = mean_mae(seed_mae, [chosen, *references], report_seeds, scheme)
    out: dict[str, Any] = {"chosen": chosen, "choose_seeds": list(choose_seeds), "report_seeds": list(report_seeds),
           "mae_on_choice_seeds": on_choice, "mae_on_report_seeds": float(held.get(chosen, float("nan")))}
    out["optimism"] = out["mae_on_report_seeds"] - on_choice
    for ref in references:
        out[f"{ref}_on_report_seeds"] = float(held.get(ref, float("nan")))
    return out


def choose_and_rerun(data, cv, result, candidates, seeds, n_choose: int, n_report: int, references,
                     progress: bool = True):
    """Choose among ``candidates`` (already run on the first ``n_choose`` seeds of ``result``), re-run the winner
    alone on the next ``n_report`` seeds (family scheme) and merge; returns (merged CVResult, summary dict).

    ``cv`` is the report's ``CVConfig``; the summary carries the held-out table under ``"table"``.
    """
    from dataclasses import replace

    from .evaluate import CVResult, run_cv
    from .progress import stage

    choose, report = split_seeds(tuple(seeds), n_choose, n_report)
    chosen = choose_variant(result.seed_mae(), candidates, choose)
    if not report:
        return result, {"chosen": chosen, "report_seeds": []}
    stage(f"{data.metric}: variant {chosen} (chosen on seeds {list(choose)}) re-run on seeds {list(report)}",
          progress)
    held = run_cv(data, replace(cv, predictors=(chosen,), schemes=("family",), seeds=report, shap_predictor=None))
    merged = CVResult(predictions=pd.concat([result.predictions, held.predictions], ignore_index=True),
                      shap=result.shap,
                      best_params=pd.concat([result.best_params, held.best_params], ignore_index=True))
    summary = choice_summary(merged.seed_mae(), candidates, references, choose, report)
    summary["table"] = held_out_table(merged.seed_mae(), chosen, references, report)
    return merged, summary
