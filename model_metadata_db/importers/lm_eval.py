"""Import lm-evaluation-harness 0.4.x results JSON into ``evaluation_results``.

Format read (what ``lm_eval --output_path`` writes)::

    {"results": {"arc_challenge": {"alias": ..., "acc,none": 0.43, "acc_stderr,none": 0.014,
                                   "acc_norm,none": 0.46, "acc_norm_stderr,none": 0.015}, ...},
     "group_subtasks": {"mmlu": ["mmlu_stem", ...], ...}, "n-shot": {"arc_challenge": 25, ...},
     "configs": {"arc_challenge": {"num_fewshot": 25, ...}}, "config": {"model_args": "pretrained=org/name,..."}}

Mapping: task → benchmark (the release uses lm-eval 0.4 task names: ``arc_challenge``, ``hellaswag``,
``mmlu_<subject>``, ``truthfulqa_mc2``...), ``n-shot`` → setting ``"N-shot"``, metric key ``acc`` → ``accuracy``,
``acc_norm`` → ``acc_norm``, ``exact_match`` → ``accuracy`` (gsm8k), ``perplexity``/``brier_score``/... unchanged.
Per metric one filter is imported: ``none``, else ``strict-match``, else the first (others are reported).
Group entries (``mmlu``, ``mmlu_stem``...) are aggregates of imported subtasks and are skipped unless asked.
"""
from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from ..aliases import canonical_id
from ..benchmarks import LM_EVAL_METRICS, benchmark_from_lm_eval_task, setting_for_shots
from ..conflicts import Incoming
from ..errors import StoreError
from ..report import ImportReport
from ..validation import validate_score_rows
from .common import check_model_id, read_json
from .leaderboard import read_jsonl, rows_from_leaderboard_v1, rows_from_leaderboard_v2

_FILTER_PREFERENCE = ("none", "strict-match")


def model_id_from_results(data: Mapping[str, Any]) -> str | None:
    """The model id an lm-eval results file names: ``pretrained=`` in ``config.model_args``, else ``model_name``."""
    config = data.get("config") or {}
    args = config.get("model_args")
    if isinstance(args, Mapping):
        if args.get("pretrained"):
            return str(args["pretrained"])
    elif isinstance(args, str):
        for part in args.split(","):
            key, _, value = part.partition("=")
            if key.strip() == "pretrained" and value.strip():
                return value.strip()
    name = data.get("model_name")
    return str(name) if name else None


def _split_metric(key: str) -> tuple[str, str] | None:
    if "," not in key:
        return None
    metric, _, filt = key.partition(",")
    return metric, filt


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _sample_counts(data: Mapping[str, Any], task: str) -> tuple[int | None, int | None]:
    """(items evaluated, items in the task) from lm-eval's ``n-samples`` (0.4.2+) or ``config.limit``."""
    entry = (data.get("n-samples") or {}).get(task)
    if isinstance(entry, Mapping):
        eff, orig = entry.get("effective"), entry.get("original")
        if isinstance(eff, int) and isinstance(orig, int):
            return eff, orig
    limit = (data.get("config") or {}).get("limit")
    if isinstance(limit, (int, float)) and not isinstance(limit, bool) and limit > 0:
        return (int(limit) if limit >= 1 else None), None
    return None, None


def rows_from_lm_eval(data: Any, model_id: str | None = None, *, source: str = "results",
                      include_groups: bool = False,
                      assume_shots: int | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """Score rows of a parsed lm-eval 0.4 results dict, and notes about what was skipped.

    Open LLM Leaderboard v1 files (``config_general`` + ``results`` keyed ``harness|task|shots``) are read as
    such. A task without a shot count is refused unless ``assume_shots`` is given. Partial runs (``--limit``)
    keep their sample counts in ``n_samples``/``n_total``.
    """
    if isinstance(data, Mapping) and isinstance(data.get("config_general"), Mapping):
        return rows_from_leaderboard_v1(data, model_id, source=source)
    results = _results_of(data, source)
    raw_id = model_id if model_id is not None else model_id_from_results(data)
    model_id = check_model_id(canonical_id(raw_id.strip()) if isinstance(raw_id, str) else raw_id, source)
    groups = {g for g, children in (data.get("group_subtasks") or {}).items() if children}
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for task, metrics in sorted(results.items()):
        if not isinstance(metrics, Mapping):
            raise StoreError(f"{source}: results[{task!r}] must be an object of metric values")
        if task in groups and not include_groups:
            notes.append(f"group {task!r} skipped (an aggregate of its subtasks, which are imported)")
            continue
        shots = _shots(data, task, assume_shots, source, notes)
        base = {"id": model_id, "benchmark": benchmark_from_lm_eval_task(task), "setting": setting_for_shots(shots)}
        n_samples, n_total = _sample_counts(data, task)
        rows += [{**base, **row, "n_samples": n_samples, "n_total": n_total}
                 for row in _metric_values(metrics, task, source, notes)]
    return _first_per_store_metric(rows, notes), notes


def _results_of(data: Any, source: str) -> Mapping[str, Any]:
    """The ``results`` object of an lm-eval 0.4 results dict; a :class:`StoreError` for anything else."""
    if not isinstance(data, Mapping) or not isinstance(data.get("results"), Mapping):
        raise StoreError(f"{source}: not an lm-eval results file (no 'results' object); give the results_*.json "
                         "that `lm_eval --output_path` wrote")
    results: Mapping[str, Any] = data["results"]
    if not results:
        raise StoreError(f"{source}: 'results' is empty; the evaluation produced no scores")
    old_style = [t for t, m in results.items() if isinstance(m, Mapping) and m
                 and not any("," in k for k in m if k != "alias") and any(k in m for k in ("acc", "acc_norm", "ppl"))]
    if old_style:
        raise StoreError(f"{source}: metric keys without ',filter' (e.g. task {old_style[0]!r}) are lm-eval 0.3 "
                         "format; only lm-eval 0.4.x results and Open LLM Leaderboard files are supported")
    return results


def _shots(data: Mapping[str, Any], task: str, assume_shots: int | None, source: str, notes: list[str]) -> int:
    """The task's shot count ('n-shot', else configs.num_fewshot, else ``assume_shots`` with a note)."""
    configs = data.get("configs") or {}
    shots = (data.get("n-shot") or {}).get(task, (configs.get(task) or {}).get("num_fewshot"))
    if shots is None:
        if assume_shots is None:
            raise StoreError(f"{source}: task {task!r} has no shot count ('n-shot' / configs.num_fewshot); "
                             "refused rather than guessed: pass --assume-shots N")
        notes.append(f"task {task!r}: no n-shot given; --assume-shots {assume_shots} applied")
        shots = assume_shots
    if isinstance(shots, bool) or not isinstance(shots, int) or shots < 0:
        raise StoreError(f"{source}: n-shot of task {task!r} must be a whole number >= 0, got {shots!r}")
    return shots


def _metric_values(metrics: Mapping[str, Any], task: str, source: str, notes: list[str]) -> list[dict[str, Any]]:
    """``metric``, ``metric_value``, ``metric_stderr`` of each metric of one task (one filter per metric)."""
    by_metric: dict[str, dict[str, Any]] = {}
    for key, value in metrics.items():
        parsed = _split_metric(key)
        if parsed is None or parsed[0].endswith("_stderr"):
            continue
        by_metric.setdefault(parsed[0], {})[parsed[1]] = value
    out = []
    for metric, filters in sorted(by_metric.items()):
        filt = next((f for f in _FILTER_PREFERENCE if f in filters), sorted(filters)[0])
        if len(filters) > 1:
            notes.append(f"task {task!r} metric {metric!r}: filter {filt!r} imported, "
                         f"{sorted(set(filters) - {filt})} skipped")
        value = filters[filt]
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            notes.append(f"task {task!r} metric {metric!r}: no value ({value!r}); skipped")
            continue
        number = _number(value)
        if number is None:
            raise StoreError(f"{source}: results[{task!r}][{metric + ',' + filt!r}] must be a number, "
                             f"got {value!r}")
        stderr = _number(metrics.get(f"{metric}_stderr,{filt}"))  # "N/A" when not computed → missing
        out.append({"metric": LM_EVAL_METRICS.get(metric, metric), "metric_value": number, "metric_stderr": stderr})
    return out


def _first_per_store_metric(rows: list[dict[str, Any]], notes: list[str]) -> list[dict[str, Any]]:
    """acc of "exact_match" and "acc" could both map to "accuracy" for one task: keep the first, report it."""
    seen, unique = set(), []
    for row in rows:
        key = (row["benchmark"], row["setting"], row["metric"])
        if key in seen:
            notes.append(f"{key}: two lm-eval metrics map to the same store metric; the first was kept")
            continue
        seen.add(key)
        unique.append(row)
    return unique


def parse_lm_eval_results(results_json_path: str | Path, model_id: str | None = None, *,
                          include_groups: bool = False, assume_shots: int | None = None
                          ) -> tuple[list[Incoming], list[str]]:
    """Read and validate one results file (lm-eval 0.4, Open LLM Leaderboard v1 or v2 rows) without a store."""

    path = Path(results_json_path)
    json_notes: list[str] = []
    if path.suffix == ".jsonl":
        data: Any = read_jsonl(path)
    else:
        data = read_json(path, json_notes)
    if isinstance(data, list):
        rows, notes = rows_from_leaderboard_v2(data, source=str(path))
        updated = None
    else:
        rows, notes = rows_from_lm_eval(data, model_id, source=str(path), include_groups=include_groups,
                                        assume_shots=assume_shots)
        updated = data.get("date") or (data.get("config_general") or {}).get("end_time")
    if not rows:
        raise StoreError(f"{path}: no numeric scores found in 'results'")
    return [Incoming(r, str(path), None if updated is None else str(updated))
            for r in validate_score_rows(rows)], json_notes + notes


def import_lm_eval_results(store, results_json_path: str | Path, model_id: str | None = None, *,
                           include_groups: bool = False, on_conflict: str = "error",
                           assume_shots: int | None = None) -> ImportReport:
    """Import one results file into ``store`` (one transaction; re-importing is a no-op).

    Reads lm-eval 0.4 results (``model_id`` defaults to ``pretrained=`` of ``config.model_args``), Open LLM
    Leaderboard v1 result files and v2 ``contents`` rows. A score that would change a stored one beyond rounding
    follows ``on_conflict``. Unknown benchmark names are imported and listed in the report's warnings.
    """
    items, notes = parse_lm_eval_results(results_json_path, model_id, include_groups=include_groups,
                                         assume_shots=assume_shots)
    report = ImportReport(str(results_json_path), warnings=list(notes))
    return store.apply({"evaluation_results": items}, on_conflict=on_conflict, source=str(results_json_path),
                       report=report)
