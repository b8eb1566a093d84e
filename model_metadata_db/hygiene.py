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


def _bad_value_reason(row) -> str | None:
    value, stderr, metric = row.metric_value, row.metric_stderr, row.metric
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return f"{metric} is NaN"
    bounds = METRIC_RANGES.get(metric)
    if bounds and not bounds[0] <= value <= bounds[1]:
        return f"{metric} = {value:g} is outside [{bounds[0]:g}, {bounds[1]:g}]"
    if bounds and np.isfinite(bounds[1]) and stderr is not None and np.isfinite(stderr) \
            and stderr > bounds[1] - bounds[0]:
        return f"{metric} stderr {stderr:.3g} is larger than the metric's whole range"
    if metric in PERPLEXITY_METRICS and value > MAX_PLAUSIBLE_PERPLEXITY:
        return (f"{metric} = {value:.3g} is worse than uniform guessing over a {MAX_PLAUSIBLE_PERPLEXITY:,.0f}-token "
                "vocabulary")
    return None


def flag_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Flagged rows of ``scores`` (columns of ``evaluation_results``), one row per score with its reason."""
    if scores.empty:
        return pd.DataFrame(columns=FLAG_COLUMNS)
    out = []
    run_key = ["id", "benchmark", "setting"]
    bad = {}
    for row in scores.itertuples(index=False):
        reason = _bad_value_reason(row)
        if reason:
            bad.setdefault((row.id, row.benchmark, row.setting), reason)
    for row in scores.itertuples(index=False):
        key = (row.id, row.benchmark, row.setting)
        if key in bad:
            out.append((*key, row.metric, row.metric_value, "broken_run", bad[key]))
        n, total = getattr(row, "n_samples", None), getattr(row, "n_total", None)
        if n is not None and total is not None and not pd.isna(n) and not pd.isna(total) and n < total:
            out.append((*key, row.metric, row.metric_value, "partial",
                        f"evaluated on {int(n)} of {int(total)} items (lm-eval --limit)"))
        if row.benchmark in TASK_DEFINITIONS:
            out.append((*key, row.metric, row.metric_value, "task_definition", TASK_DEFINITIONS[row.benchmark]))
    frame = pd.DataFrame(out, columns=FLAG_COLUMNS)
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
