"""Benchmark names the release uses, and how lm-eval-harness task names map onto them.

The release keys scores on (benchmark, setting, metric): e.g. ("arc_challenge", "25-shot", "accuracy"),
("hellaswag", "10-shot", "acc_norm"), ("mmlu_anatomy", "5-shot", "accuracy"), ("mathqa", "0-shot",
"brier_score"), ("lambada_openai", "0-shot", "perplexity"). Older Open-LLM-Leaderboard records use
``arc:challenge``, ``truthfulqa:mc`` and ``hendrycksTest-<subject>``; they are kept as written (the release has
them) and reported by ``njsl db check`` as aliases.
"""
from __future__ import annotations

import re

# Exact benchmark names of the release (families with subtasks are matched by prefix below).
KNOWN_BENCHMARKS: frozenset[str] = frozenset({
    "anli", "arc:challenge", "arc_challenge", "arc_easy", "arithmetic", "asdiv", "boolq", "drop", "fld", "gsm8k",
    "gsm8k_cot", "hellaswag", "humaneval", "lambada_openai", "lambada_standard", "logiqa", "logiqa2", "mathqa",
    "mbpp", "minerva_math", "mmlu", "openbookqa", "piqa", "sciq", "truthfulqa:mc", "truthfulqa_gen",
    "truthfulqa_mc1", "truthfulqa_mc2", "winogrande", "xnli", "wikitext", "triviaqa", "nq_open", "race",
    "copa", "lambada",
})
KNOWN_PREFIXES: tuple[str, ...] = ("anli_r", "arithmetic_", "fld_", "hendrycksTest-", "minerva_math_", "mmlu_",
                                   "xnli_", "truthfulqa_", "lambada_")

# Same benchmark under two names in the release: (older leaderboard name, lm-eval 0.4 name).
BENCHMARK_ALIASES: dict[str, str] = {"arc:challenge": "arc_challenge", "truthfulqa:mc": "truthfulqa_mc2"}

# lm-eval metric key (before the ",filter" suffix) -> the release's metric name.
LM_EVAL_METRICS: dict[str, str] = {
    "acc": "accuracy", "acc_norm": "acc_norm", "exact_match": "accuracy", "em": "em", "f1": "f1",
    "brier_score": "brier_score", "perplexity": "perplexity", "word_perplexity": "word_perplexity",
    "byte_perplexity": "byte_perplexity", "bits_per_byte": "bits_per_byte", "mc1": "mc1", "mc2": "mc2",
    "pass@1": "accuracy", "bleu_max": "bleu_max", "bleu_acc": "bleu_acc", "bleu_diff": "bleu_diff",
    "rouge1_max": "rouge1_max", "rouge1_acc": "rouge1_acc", "rouge1_diff": "rouge1_diff",
    "rouge2_max": "rouge2_max", "rouge2_acc": "rouge2_acc", "rouge2_diff": "rouge2_diff",
    "rougeL_max": "rougeL_max", "rougeL_acc": "rougeL_acc", "rougeL_diff": "rougeL_diff",
}
# lm-eval task name -> release benchmark name, where they differ.
LM_EVAL_TASKS: dict[str, str] = {
    "arc_challenge_25shot": "arc_challenge", "hellaswag_10shot": "hellaswag",
    "minerva_math_counting_and_prob": "minerva_math_counting_and_prob",
    "minerva_math_num_theory": "minerva_math_num_theory",
    "leaderboard_arc_challenge": "arc_challenge", "leaderboard_hellaswag": "hellaswag",
    "leaderboard_winogrande": "winogrande", "leaderboard_gsm8k": "gsm8k",
}
_MMLU_OLD = re.compile(r"^hendrycksTest-(\w+)$")


def is_known_benchmark(name: str) -> bool:
    """True when ``name`` is a benchmark the release (or lm-eval's standard tasks) knows."""
    return name in KNOWN_BENCHMARKS or any(name.startswith(p) and len(name) > len(p) for p in KNOWN_PREFIXES)


def benchmark_from_lm_eval_task(task: str) -> str:
    """The release's benchmark name for an lm-eval 0.4 task name (identity for most tasks)."""
    return LM_EVAL_TASKS.get(task, task)


def canonical_benchmark(name: str) -> str:
    """The lm-eval-0.4 spelling of a benchmark: resolves ``arc:challenge`` and ``hendrycksTest-x`` → ``mmlu_x``."""
    if name in BENCHMARK_ALIASES:
        return BENCHMARK_ALIASES[name]
    match = _MMLU_OLD.match(name)
    return f"mmlu_{match.group(1)}" if match else name


def setting_for_shots(n_shot: int | None) -> str:
    """The release's setting string for a few-shot count: 0 → ``"0-shot"``."""
    return f"{int(n_shot or 0)}-shot"
