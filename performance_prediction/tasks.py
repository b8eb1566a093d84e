"""Which benchmark series the predictor learns, and how raw evaluation rows become one target per model.

Rules (documented in README.md, applied in this order):

1. **Aliases.** Legacy names map to the lm-eval name: ``arc:challenge`` -> ``arc_challenge``,
   ``hendrycksTest-X`` -> ``mmlu_X``. When a model has a value under both names for the same
   (benchmark, setting, metric), the canonical (lm-eval) name wins and the alias only fills gaps.
   This is a rule on the *name*, not on row order (the paper's code kept whichever row came first).
2. **Multi-part benchmarks** are the mean of their parts per model (as in the paper): ``truthfulqa`` =
   mean(mc1, mc2), ``lambada`` = mean(openai, standard), ``gsm8k`` = mean(gsm8k, gsm8k_cot) at 5-shot,
   ``anli`` = mean(r1, r2, r3), ``xnli`` = mean over languages, ``mmlu`` = mean over subjects per setting
   (``--merge_mmlu``; otherwise each subject is its own task), ``arithmetic`` = mean over its subtasks
   (``--merge_arithmetic``; otherwise arithmetic is not predicted, as in the paper's release).
3. A task needs at least ``MIN_MODELS`` models with both a score and the scaling features.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

MIN_MODELS = 30

ALIASES: dict[str, str] = {"arc:challenge": "arc_challenge"}
ALIAS_PREFIXES: dict[str, str] = {"hendrycksTest-": "mmlu_"}


@dataclass(frozen=True)
class TaskSpec:
    """One predicted series: a name, the benchmark setting, the metric and how raw benchmarks map into it."""

    name: str
    setting: str
    metric: str
    parts: tuple[str, ...] = ()     # exact benchmark names averaged into this task
    prefix: str | None = None       # or: every benchmark starting with this prefix

    def matches(self, benchmark: str) -> bool:
        if self.prefix is not None:
            return benchmark.startswith(self.prefix)
        return benchmark in (self.parts or (self.name,))


# The paper's tasks (BENCHMARK_DEFAULTS of its code) with their settings and metrics.
ACCURACY_TASKS: tuple[TaskSpec, ...] = (
    TaskSpec("arc_challenge", "25-shot", "accuracy"),
    TaskSpec("hellaswag", "10-shot", "accuracy"),
    TaskSpec("mmlu_0-shot", "0-shot", "accuracy", prefix="mmlu_"),
    TaskSpec("mmlu_5-shot", "5-shot", "accuracy", prefix="mmlu_"),
    TaskSpec("truthfulqa", "0-shot", "accuracy", parts=("truthfulqa_mc1", "truthfulqa_mc2")),
    TaskSpec("winogrande", "5-shot", "accuracy"),
    TaskSpec("lambada", "0-shot", "accuracy", parts=("lambada_openai", "lambada_standard")),
    TaskSpec("gsm8k", "5-shot", "accuracy", parts=("gsm8k", "gsm8k_cot")),
    TaskSpec("humaneval", "0-shot", "accuracy"),
)
ARITHMETIC_TASK = TaskSpec("arithmetic", "5-shot", "accuracy", prefix="arithmetic_")
BRIER_TASKS: tuple[TaskSpec, ...] = (
    TaskSpec("mathqa", "0-shot", "brier_score"),
    TaskSpec("xnli", "0-shot", "brier_score", prefix="xnli_"),
    TaskSpec("anli", "0-shot", "brier_score", prefix="anli_"),
    TaskSpec("logiqa2", "0-shot", "brier_score"),
)
METRICS = ("accuracy", "brier_score")


def score_upper(metric: str) -> float:
    """The largest possible score of ``metric``: 1 for accuracy; 2 for lm-eval's multi-class Brier score (the
    sum over the choices of the squared probability errors)."""
    return 2.0 if metric == "brier_score" else 1.0


def paper_tasks(metric: str, merge_mmlu: bool = True, merge_arithmetic: bool = False,
                mmlu_subjects: list[str] | None = None) -> list[TaskSpec]:
    """The paper's task list for one metric; without ``merge_mmlu`` every MMLU subject is its own task."""
    if metric == "accuracy":
        tasks = list(ACCURACY_TASKS)
        if not merge_mmlu:
            tasks = [t for t in tasks if t.prefix != "mmlu_"]
            for subject in mmlu_subjects or []:
                for setting in ("0-shot", "5-shot"):
                    tasks.append(TaskSpec(f"{subject}_{setting}", setting, "accuracy", parts=(subject,)))
        if merge_arithmetic:
            tasks.append(ARITHMETIC_TASK)
        return tasks
    if metric == "brier_score":
        return list(BRIER_TASKS)
    raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")


def canonical_benchmark(name: str) -> str:
    """The lm-eval name of a benchmark (legacy aliases mapped)."""
    if name in ALIASES:
        return ALIASES[name]
    for old, new in ALIAS_PREFIXES.items():
        if name.startswith(old):
            return new + name[len(old):]
    return name


def resolve_aliases(scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Map aliases to canonical names; where both exist for a model, keep the canonical row.

    Returns the resolved scores and a conflict table (id, benchmark, setting, metric, canonical value,
    alias value, |difference|) so the report can show how much the rule mattered.
    """
    df = scores.copy()
    df["canonical"] = df["benchmark"].map(canonical_benchmark)
    df["is_alias"] = df["canonical"] != df["benchmark"]
    key = ["id", "canonical", "setting", "metric"]
    # canonical rows sort first, so drop_duplicates keeps them by rule, whatever the input order
    df = df.sort_values(key + ["is_alias", "benchmark"], kind="mergesort")
    dup = df.duplicated(key, keep=False)
    conflicts = pd.DataFrame(columns=["id", "benchmark", "setting", "metric", "canonical_value",
                                      "alias_value", "abs_diff"])
    if dup.any():
        both = df[dup]
        canon = both[~both["is_alias"]].set_index(key)["metric_value"]
        alias = both[both["is_alias"]].groupby(key)["metric_value"].first()
        joined = pd.concat([canon.rename("canonical_value"), alias.rename("alias_value")], axis=1).dropna()
        joined["abs_diff"] = (joined["canonical_value"] - joined["alias_value"]).abs()
        conflicts = joined.reset_index().rename(columns={"canonical": "benchmark"})
    df = df.drop_duplicates(key, keep="first")
    df = df.drop(columns=["benchmark", "is_alias"]).rename(columns={"canonical": "benchmark"})
    return df.reset_index(drop=True), conflicts


def build_targets(scores: pd.DataFrame, tasks: list[TaskSpec]) -> pd.DataFrame:
    """Long frame ``task, id, value, n_parts``: one target per (task, model) from alias-resolved scores.

    NaN scores (lm-eval occasionally writes NaN brier scores) are dropped before averaging.
    """
    scores = scores[np.isfinite(scores["metric_value"].astype(float))]
    frames = []
    for task in tasks:
        sel = scores[(scores["setting"] == task.setting) & (scores["metric"] == task.metric)]
        sel = sel[sel["benchmark"].map(task.matches)]
        if sel.empty:
            continue
        agg = sel.groupby("id")["metric_value"].agg(["mean", "size"]).reset_index()
        agg.columns = ["id", "value", "n_parts"]
        agg.insert(0, "task", task.name)
        frames.append(agg)
    if not frames:
        return pd.DataFrame(columns=["task", "id", "value", "n_parts"])
    return pd.concat(frames, ignore_index=True)


def mmlu_subjects(scores: pd.DataFrame) -> list[str]:
    """Distinct MMLU subject benchmark names (after alias resolution)."""
    names = scores["benchmark"].drop_duplicates()
    return sorted(n for n in names if re.match(r"^mmlu_", n))
