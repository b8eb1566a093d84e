"""Open LLM Leaderboard result files, read as what they are.

* **v1** result files (``results_<date>.json`` of the ``open-llm-leaderboard/details`` repos): ``config_general``
  names the model (``model_name``) and ``results`` is keyed ``harness|<task>|<shots>`` with bare metric keys
  (``acc``, ``acc_norm``, ``mc1``, ``mc2``, ``em``, ``f1``) and ``<metric>_stderr``. Tasks keep the leaderboard's
  names, which the release uses too (``arc:challenge``, ``hellaswag``, ``hendrycksTest-<subject>``,
  ``truthfulqa:mc``, ``winogrande``, ``gsm8k``, ``drop``); the shot count is the third part of the key.
  The ``all`` aggregate is skipped.
* **v2** ``contents`` rows (a JSON list or JSONL of rows as in the ``open-llm-leaderboard/contents`` dataset):
  ``fullname`` is the model id and ``<Task> Raw`` the raw score (a fraction) of each v2 task. They are stored as
  v2 tasks (``leaderboard_bbh`` …), never as the v1 benchmarks: the v2 tasks are different (harder) datasets.
  The normalised columns (``BBH`` …, rescaled between the random baseline and 100) are not imported.
"""
from __future__ import annotations

import json
import math
import numbers
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from ..aliases import canonical_id
from ..errors import StoreError
from .common import check_model_id

V1_METRICS = {"acc": "accuracy", "acc_norm": "acc_norm", "mc1": "mc1", "mc2": "mc2", "em": "accuracy", "f1": "f1"}
# v2 column -> (benchmark, setting, metric): the leaderboard's lm-eval tasks and their shot counts.
V2_TASKS: dict[str, tuple[str, str, str]] = {
    "IFEval Raw": ("leaderboard_ifeval", "0-shot", "accuracy"),
    "BBH Raw": ("leaderboard_bbh", "3-shot", "acc_norm"),
    "MATH Lvl 5 Raw": ("leaderboard_math_hard", "4-shot", "accuracy"),
    "GPQA Raw": ("leaderboard_gpqa", "0-shot", "acc_norm"),
    "MUSR Raw": ("leaderboard_musr", "0-shot", "acc_norm"),
    "MMLU-PRO Raw": ("leaderboard_mmlu_pro", "5-shot", "accuracy"),
}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        return None
    return float(value)


def rows_from_leaderboard_v1(data: Mapping[str, Any], model_id: str | None = None, *,
                             source: str = "results") -> tuple[list[dict[str, Any]], list[str]]:
    """Score rows of an Open LLM Leaderboard v1 result file."""
    config = data["config_general"]
    raw_id = model_id if model_id is not None else config.get("model_name")
    model_id = check_model_id(canonical_id(raw_id.strip()) if isinstance(raw_id, str) else raw_id, source)
    results = data.get("results")
    if not isinstance(results, Mapping) or not results:
        raise StoreError(f"{source}: Open LLM Leaderboard file without 'results'")
    rows, notes = [], []
    for key, metrics in results.items():
        if key == "all":
            continue
        parts = key.split("|")
        if len(parts) != 3 or not parts[2].isdigit() or not isinstance(metrics, Mapping):
            raise StoreError(f"{source}: results key {key!r} is not 'harness|<task>|<shots>'")
        task, shots = parts[1], int(parts[2])
        for metric, value in metrics.items():
            if metric.endswith("_stderr"):
                continue
            name = V1_METRICS.get(metric)
            if name is None:
                notes.append(f"{key}: metric {metric!r} not imported")
                continue
            number = _number(value)
            if number is None:
                raise StoreError(f"{source}: results[{key!r}][{metric!r}] must be a number, got {value!r}")
            rows.append({"id": model_id, "benchmark": task, "setting": f"{shots}-shot", "metric": name,
                         "metric_value": number, "metric_stderr": _number(metrics.get(f"{metric}_stderr"))})
    return rows, notes


def rows_from_leaderboard_v2(rows_in: list[Any], *, source: str = "contents") -> tuple[list[dict[str, Any]],
                                                                                       list[str]]:
    """Score rows of Open LLM Leaderboard v2 ``contents`` rows (one per model)."""
    rows, notes = [], []
    for i, entry in enumerate(rows_in):
        if not isinstance(entry, Mapping) or "fullname" not in entry:
            raise StoreError(f"{source}: row {i} is not an Open LLM Leaderboard v2 contents row (no 'fullname')")
        model_id = check_model_id(canonical_id(str(entry["fullname"]).strip()), f"{source} row {i}")
        found = False
        for column, (bench, setting, metric) in V2_TASKS.items():
            if entry.get(column) is None:
                continue
            number = _number(entry[column])
            if number is None:
                raise StoreError(f"{source} row {i} ({model_id}): {column!r} must be a number, got {entry[column]!r}")
            rows.append({"id": model_id, "benchmark": bench, "setting": setting, "metric": metric,
                         "metric_value": number, "metric_stderr": None})
            found = True
        if not found:
            notes.append(f"{source} row {i} ({model_id}): no '<Task> Raw' score")
    return rows, notes


def read_jsonl(path: Path) -> list[Any]:
    """Rows of a JSONL file; a bad line is named."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise StoreError(f"{path}: line {n} is not JSON ({err.msg})") from None
    return out
