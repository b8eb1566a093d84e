"""Named task groups, task arguments, the lm-eval spec built from them, and the local task data."""
from __future__ import annotations

import json

import pytest

from pretraining.evaluate.tasks import TASKS_DIR
from pretraining.evaluate.tasks.build_local_tasks import NUM_CHOICES, TASK_FILES, build_items, source_files
from pretraining.evaluate.lm_eval import (EvalError, TaskSpec, UnknownTaskError, lm_eval_spec, load_task_groups,
                                    parse_task_argument)


def test_paper_settings_in_named_groups():
    groups = load_task_groups()
    shots = {s.task: s.num_fewshot for s in groups["leaderboard-v1"].tasks}
    assert shots == {"arc_challenge": 25, "hellaswag": 10, "mmlu": 5, "truthfulqa_mc1": 0, "truthfulqa_mc2": 0,
                     "winogrande": 5, "gsm8k": 5}
    mcq = {s.task: s for s in groups["reasoning-mcq"].tasks}
    assert set(mcq) == {"anli", "xnli", "mathqa", "logiqa2"}
    assert all(s.num_fewshot == 0 and "brier_score" in s.metrics for s in mcq.values())
    assert [s.task for s in groups["lambada"].tasks] == ["lambada_openai", "lambada_standard"]
    assert [(s.task, s.num_fewshot) for s in groups["humaneval"].tasks] == [("humaneval", 0)]


def test_parse_task_argument_expands_groups_and_shots():
    specs = parse_task_argument("njsl-local, arc_easy:5,hellaswag")
    assert specs == [TaskSpec("njsl_stdlib_nextline", 0), TaskSpec("njsl_docstring_continuation", 0),
                     TaskSpec("arc_easy", 5), TaskSpec("hellaswag", None)]
    # a task named twice runs once (lm-eval refuses duplicate names)
    assert parse_task_argument(["lambada", "lambada_openai"]) == list(load_task_groups()["lambada"].tasks)


@pytest.mark.parametrize("arg, message", [
    ("arc_easy:five", "few-shot count after ':' must be a whole number"),
    ("leaderboard-v1:3", "a named group fixes its own few-shot counts"),
    (" , ", "no task given"),
])
def test_parse_task_argument_errors(arg, message):
    with pytest.raises(EvalError, match=message):
        parse_task_argument(arg)


@pytest.mark.parametrize("text, message", [
    ("g: {description: x}\n", "needs a non-empty 'tasks' list"),
    ("g: {tasks: [{task: a, shots: 3}]}\n", r"unknown field\(s\) \['shots'\]"),
    ("g: {tasks: [{task: a, num_fewshot: -1}]}\n", "num_fewshot must be a whole number >= 0"),
    ("g: {tasks: [{task: a, metrics: [f1]}]}\n", "metrics must be a list of"),
    ("g: [1, 2\n", "not valid YAML"),
])
def test_bad_groups_file(tmp_path, text, message):
    path = tmp_path / "groups.yml"
    path.write_text(text)
    with pytest.raises(EvalError, match=message) as err:
        load_task_groups(path)
    assert str(path) in str(err.value)


def test_spec_applies_overrides_to_tasks_groups_and_tags(manager):
    specs = parse_task_argument("reasoning-mcq,mmlu:5,njsl_stdlib_nextline:2")
    spec = lm_eval_spec(specs, manager)
    members = {m.get("task") or m.get("group"): m for m in spec["task"]}
    # anli is an lm-eval tag: listed task by task so the overrides keep the subtasks' own names
    assert {"anli_r1", "anli_r2", "anli_r3"} <= set(members) and "anli" not in members
    assert [x["metric"] for x in members["anli_r1"]["metric_list"]] == ["acc", "brier_score"]
    assert members["xnli"] == {"group": "xnli", "num_fewshot": 0, "metric_list": members["xnli"]["metric_list"]}
    assert members["mmlu"] == {"group": "mmlu", "num_fewshot": 5}
    assert members["njsl_stdlib_nextline"] == {"task": "njsl_stdlib_nextline", "num_fewshot": 2}


def test_unknown_task_is_a_clear_error(manager):
    with pytest.raises(UnknownTaskError, match=r"unknown task 'hellaswagg'.*Did you mean: hellaswag"):
        lm_eval_spec(parse_task_argument("hellaswagg"), manager)


def test_local_items_are_deterministic_and_well_formed(stdlib_dir):
    for kind in ("code", "nl"):
        items = build_items(kind, n=10, seed=3, stdlib_dir=stdlib_dir, max_files=40)
        assert items == build_items(kind, n=10, seed=3, stdlib_dir=stdlib_dir, max_files=40)
        for it in items:
            assert len(it["choices"]) == NUM_CHOICES == len(set(it["choices"]))
            assert (stdlib_dir / it["source"]).is_file()
    with pytest.raises(ValueError, match="kind must be 'code' or 'nl'"):
        build_items("prose")


def test_shipped_local_task_data():
    for name in TASK_FILES.values():
        items = [json.loads(line) for line in (TASKS_DIR / "njsl_local" / name).read_text().splitlines()]
        assert len(items) >= 100
        assert all(0 <= it["label"] < len(it["choices"]) == NUM_CHOICES for it in items)
    assert len(source_files()) > 20
