"""Target hygiene: scores that must not train the predictor, each with its reason.

``flag_scores(scores)`` returns one row per flagged score (id, benchmark, setting, metric, metric_value, flag,
reason). Flags:

* ``broken_run`` — every metric of a run (model × benchmark × setting) in which one metric is impossible: a NaN
  value, a value outside the metric's range, a stderr larger than the metric's whole range, or a perplexity
  above :data:`MAX_PLAUSIBLE_PERPLEXITY` (worse than guessing uniformly over the largest vocabulary any model
  here has: a model that broke, e.g. lambada accuracy 0.000 beside perplexity 4.5e8 for CrystalCoder);
* ``partial`` — evaluated on fewer items than the task has (lm-eval ``--limit``): ``n_samples < n_total``;
* ``task_definition`` — rows outside the one definition of a task (:data:`TASK_DEFINITIONS`): ``gsm8k`` is the
  ``gsm8k`` task alone (``gsm8k_cot`` is chain-of-thought prompting, another task), ``xnli`` is the 15 languages
  of XNLI (Conneau et al., 2018; ``xnli_eu`` is the later XNLIeu, present for some models only).

The store's training reads (:meth:`AnalysisStore.training_scores`) leave these rows out unless asked.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .validation import METRIC_RANGES

# Gemma's 256,000-token vocabulary is the largest among the release's models; uniform guessing over it scores
# a perplexity of 256,000.
MAX_PLAUSIBLE_PERPLEXITY = 256_000.0
PERPLEXITY_METRICS = ("perplexity", "word_perplexity", "byte_perplexity")
XNLI_LANGUAGES = ("ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh")
# benchmark -> why rows of it are outside a task's definition
TASK_DEFINITIONS: dict[str, str] = {
    "gsm8k_cot": "not part of the gsm8k target: gsm8k is the gsm8k task alone (strict-match); gsm8k_cot is "
                 "chain-of-thought prompting, a different task",
    "xnli_eu": "not part of the xnli target: xnli is the 15 XNLI languages (Conneau et al., 2018); Basque comes "
               "from the later XNLIeu and exists for some models only",
}
FLAG_COLUMNS = ["id", "benchmark", "setting", "metric", "metric_value", "flag", "reason"]


def _bad_value_reasons(scores: pd.DataFrame) -> pd.Series:
    """Per score row: why its value is impossible, or NA (vectorised over the frame)."""
    value = pd.to_numeric(scores["metric_value"], errors="coerce").astype("float64")
    stderr = pd.to_numeric(scores["metric_stderr"], errors="coerce").astype("float64")
    metric = scores["metric"].astype(str)
    reason = pd.Series(pd.NA, index=scores.index, dtype="object")

    def put(mask: pd.Series, text: pd.Series) -> None:
        hit = mask & reason.isna()
        reason[hit] = text[hit]

    put(value.isna(), metric + " is NaN")
    lo = metric.map(lambda m: METRIC_RANGES.get(m, (-np.inf, np.inf))[0]).astype("float64")
    hi = metric.map(lambda m: METRIC_RANGES.get(m, (-np.inf, np.inf))[1]).astype("float64")
    fmt = np.vectorize(lambda v: f"{v:g}", otypes=[object])
    outside = (value < lo) | (value > hi)
    if outside.any():
        put(outside, metric + " = " + pd.Series(fmt(value), index=scores.index) + " is outside ["
            + pd.Series(fmt(lo), index=scores.index) + ", " + pd.Series(fmt(hi), index=scores.index) + "]")
    wide = np.isfinite(hi) & stderr.notna() & (stderr > hi - lo)
    if wide.any():
        put(wide, metric + " stderr " + stderr.map(lambda v: f"{v:.3g}") + " is larger than the metric's whole range")
    ppl = metric.isin(PERPLEXITY_METRICS) & (value > MAX_PLAUSIBLE_PERPLEXITY)
    if ppl.any():
        put(ppl, metric + " = " + value.map(lambda v: f"{v:.3g}")
            + f" is worse than uniform guessing over a {MAX_PLAUSIBLE_PERPLEXITY:,.0f}-token vocabulary")
    return reason


def flag_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Flagged rows of ``scores`` (columns of ``evaluation_results``), one row per score with its reason."""
    if scores.empty:
        return pd.DataFrame(columns=FLAG_COLUMNS)
    run_key = ["id", "benchmark", "setting"]
    base = scores[["id", "benchmark", "setting", "metric", "metric_value"]]
    parts = []
    reasons = _bad_value_reasons(scores)
    bad = scores.loc[reasons.notna(), run_key].assign(reason=reasons[reasons.notna()])
    bad = bad.drop_duplicates(run_key, keep="first")  # the first impossible metric names the run's reason
    if len(bad):
        parts.append(base.merge(bad, on=run_key).assign(flag="broken_run"))
    if "n_samples" in scores.columns and "n_total" in scores.columns:
        n = pd.to_numeric(scores["n_samples"], errors="coerce")
        total = pd.to_numeric(scores["n_total"], errors="coerce")
        partial = n.notna() & total.notna() & (n < total)
        if partial.any():
            text = ("evaluated on " + n[partial].astype("int64").astype(str) + " of "
                    + total[partial].astype("int64").astype(str) + " items (lm-eval --limit)")
            parts.append(base[partial].assign(flag="partial", reason=text))
    defined = scores["benchmark"].isin(list(TASK_DEFINITIONS))
    if defined.any():
        parts.append(base[defined].assign(flag="task_definition",
                                          reason=scores.loc[defined, "benchmark"].map(TASK_DEFINITIONS)))
    if not parts:
        return pd.DataFrame(columns=FLAG_COLUMNS)
    frame = pd.concat(parts, ignore_index=True)[FLAG_COLUMNS]
    return frame.sort_values(run_key + ["metric", "flag"], ignore_index=True)


def training_mask(scores: pd.DataFrame, flags: pd.DataFrame, *, include_flagged: bool = False,
                  include_partial: bool = False) -> pd.Series:
    """True for rows of ``scores`` that may train the predictor."""
    drop = flags
    if include_flagged:
        drop = drop[drop["flag"] == "partial"]
    if include_partial:
        drop = drop[drop["flag"] != "partial"]
    keys = ["id", "benchmark", "setting", "metric"]
    if drop.empty or scores.empty:
        return pd.Series(True, index=scores.index)
    marked = scores[keys].merge(drop[keys].drop_duplicates(), on=keys, how="left", indicator=True)
    return pd.Series((marked["_merge"] == "left_only").to_numpy(), index=scores.index)
