"""Evaluate a Hugging Face model folder with lm-evaluation-harness, in the paper's settings.

The paper's settings are named task groups (``pretraining/evaluate/tasks/groups.yml``): ``leaderboard-v1``
(arc_challenge 25-shot, hellaswag 10, mmlu 5, truthfulqa 0, winogrande 5, gsm8k 5), ``reasoning-mcq`` (anli,
xnli, mathqa, logiqa2 0-shot with the Brier score), ``lambada``, ``humaneval`` and the offline ``njsl-local``.
A task argument is a comma-separated list of group names and lm-eval task/group/tag names, each optionally
with a few-shot count: ``leaderboard-v1``, ``arc_challenge:25,hellaswag:10``, ``njsl-local,lambada``.

Everything is run in ONE ``lm_eval.simple_evaluate`` call (one model load): the requested tasks become an
inline lm-eval group whose members carry their own ``num_fewshot``/``metric_list`` overrides. The output
folder then holds what ``lm_eval --output_path --log_samples`` would write, under fixed names:
``results.json`` (lm-eval 0.4 results; read by the store's importer) and ``samples_<task>.jsonl``.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from collections.abc import Iterable, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from njsl.atomic import atomic_open, write_text_atomic

from pretraining.evaluate.tasks import TASKS_DIR

GROUPS_FILE = TASKS_DIR / "groups.yml"
RESULTS_NAME = "results.json"
WRAPPER_GROUP = "njsl_eval"  # the inline group holding the requested tasks; removed from the saved results
# Tokenizer files of the formats transformers' AutoTokenizer reads (fast json, sentencepiece, GPT-2 BPE).
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "spiece.model", "vocab.json", "vocab.txt",
                   "sentencepiece.bpe.model")
# metric_list entries for metric names used in groups.yml (lm-eval's own definitions of these metrics).
METRICS: dict[str, dict[str, Any]] = {
    "acc": {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
    "acc_norm": {"metric": "acc_norm", "aggregation": "mean", "higher_is_better": True},
    "brier_score": {"metric": "brier_score", "aggregation": "brier_score", "higher_is_better": False},
}
_CODE_EXECUTION_TASKS = ("humaneval", "mbpp")


class EvalError(ValueError):
    """A user error in an evaluation request; the message names the bad input and the fix."""


class ModelFolderError(EvalError, FileNotFoundError):
    """The model folder is missing or incomplete (no config.json, no tokenizer)."""


class UnknownTaskError(EvalError):
    """A task or group name that neither groups.yml nor lm-eval's task index knows."""


@dataclass(frozen=True)
class TaskSpec:
    """One lm-eval task (or lm-eval group/tag) with the settings to run it in."""

    task: str
    num_fewshot: int | None = None  # None: the task's own default
    metrics: tuple[str, ...] = ()  # non-empty: replaces the task's metric_list

    def overrides(self) -> dict[str, Any]:
        """lm-eval config overrides for this spec (applied to every subtask of a group/tag)."""
        out: dict[str, Any] = {}
        if self.num_fewshot is not None:
            out["num_fewshot"] = self.num_fewshot
        if self.metrics:
            out["metric_list"] = [dict(METRICS[m]) for m in self.metrics]
        return out


@dataclass(frozen=True)
class TaskGroup:
    name: str
    tasks: tuple[TaskSpec, ...]
    description: str = ""


# ----------------------------------------------------------------------------------------------------
# Named groups and task arguments
# ----------------------------------------------------------------------------------------------------

class _TaskItem(BaseModel):
    """One task of a group: ``{task: NAME, num_fewshot: N, metrics: [...]}``."""

    model_config = ConfigDict(extra="forbid")

    task: Annotated[str, Field(strict=True)]
    num_fewshot: int | None = None
    metrics: list[str] = Field(default_factory=list)

    @field_validator("num_fewshot", mode="before")
    @classmethod
    def _shots(cls, v: Any) -> Any:
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise ValueError(f"num_fewshot must be a whole number >= 0, got {v!r}")
        return v

    @field_validator("metrics", mode="before")
    @classmethod
    def _metrics(cls, v: Any) -> Any:
        v = v or []
        if not isinstance(v, list) or any(m not in METRICS for m in v):
            raise ValueError(f"metrics must be a list of {sorted(METRICS)}, got {v!r}")
        return v


class _TaskGroupBody(BaseModel):
    """A named group of ``groups.yml``: a description and a non-empty list of tasks."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = None
    tasks: Annotated[list[_TaskItem], Field(min_length=1)]


def _group_error(errors: list[Any], where: str) -> str:
    """One message for a group's validation errors (unknown fields listed together, as a user fixes them)."""
    first = errors[0]
    loc = first["loc"]
    item = f"{where} tasks[{loc[1]}]" if len(loc) >= 2 and loc[0] == "tasks" and isinstance(loc[1], int) else None
    extra = sorted(str(e["loc"][-1]) for e in errors if e["type"] == "extra_forbidden" and e["loc"][:-1] == loc[:-1])
    if first["type"] == "extra_forbidden":
        allowed = "task, num_fewshot, metrics" if item else "tasks, description"
        return f"{item or where}: unknown field(s) {extra}; allowed: {allowed}"
    if item is None and loc[:1] in ((), ("tasks",)) and first["type"] != "value_error":
        return f"{where}: needs a non-empty 'tasks' list"
    if first["type"] == "value_error":
        return f"{item or where}: {first['ctx']['error']}"
    return f"{item}: expected {{task: NAME, num_fewshot: N, metrics: [...]}}"


def load_task_groups(path: str | Path = GROUPS_FILE) -> dict[str, TaskGroup]:
    """Read and validate a groups file (``name: {description, tasks: [{task, num_fewshot, metrics}]}``)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalError(f"task groups file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise EvalError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise EvalError(f"{path}: expected a mapping of group name -> {{tasks: [...]}}")
    groups = {}
    for name, body in raw.items():
        try:
            group = _TaskGroupBody.model_validate(body)
        except ValidationError as exc:
            raise EvalError(_group_error(exc.errors(), f"{path}: group {name!r}")) from None
        specs = tuple(TaskSpec(t.task, t.num_fewshot, tuple(t.metrics)) for t in group.tasks)
        groups[str(name)] = TaskGroup(str(name), specs, group.description or "")
    return groups


def parse_task_argument(text: str | Iterable[str], groups: Mapping[str, TaskGroup] | None = None) -> list[TaskSpec]:
    """``"leaderboard-v1,arc_easy:5"`` → task specs (group names expanded; ``task:N`` sets N shots)."""
    groups = load_task_groups() if groups is None else groups
    items = [text] if isinstance(text, str) else list(text)
    parts = [p.strip() for item in items for p in item.split(",") if p.strip()]
    if not parts:
        raise UnknownTaskError("no task given; name a task group (" + ", ".join(groups) + ") or lm-eval tasks")
    specs: list[TaskSpec] = []
    for part in parts:
        name, sep, shots = part.partition(":")
        if name in groups:
            if sep:
                raise EvalError(f"task argument {part!r}: a named group fixes its own few-shot counts; "
                                f"give tasks one by one (task:N) to change them")
            specs += groups[name].tasks
            continue
        n = None
        if sep:
            if not shots.isdigit():
                raise EvalError(f"task argument {part!r}: the few-shot count after ':' must be a whole number")
            n = int(shots)
        specs.append(TaskSpec(name, n))
    seen, unique = set(), []
    for s in specs:  # the same task twice would make lm-eval fail on a duplicate name
        if s.task not in seen:
            seen.add(s.task)
            unique.append(s)
    return unique


# ----------------------------------------------------------------------------------------------------
# Checks before loading anything heavy
# ----------------------------------------------------------------------------------------------------

def is_local_path(model: str) -> bool:
    """A model argument that names a folder (exists, or is spelled like a path) rather than a hub id."""
    return Path(model).exists() or model.startswith((".", "/", "~")) or model.count("/") > 1


def check_model_folder(model: str | Path, tokenizer: str | Path | None = None) -> Path:
    """A local model folder must hold ``config.json``, weights and a tokenizer; the error says what is missing."""
    folder = Path(model).expanduser()
    if not folder.is_dir():
        raise ModelFolderError(f"model folder not found: {folder}; give a Hugging Face model folder "
                               "(e.g. RUN_DIR/hf from `njsl export`) or a hub name")
    if not (folder / "config.json").is_file():
        raise ModelFolderError(f"{folder} has no config.json; it is not a Hugging Face model folder "
                               "(export a checkpoint with `njsl export`)")
    weights = [p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin") or p.name.endswith(".index.json")]
    if not weights:
        raise ModelFolderError(f"{folder} has no weights (*.safetensors / pytorch_model*.bin)")
    if tokenizer is not None and not is_local_path(str(tokenizer)):
        return folder  # a hub tokenizer name: transformers resolves it
    tok_dir = Path(tokenizer).expanduser() if tokenizer is not None else folder
    if not tok_dir.exists():
        raise ModelFolderError(f"tokenizer folder not found: {tok_dir}")
    if tok_dir.is_dir() and not any((tok_dir / f).is_file() for f in TOKENIZER_FILES):
        raise ModelFolderError(
            f"{tok_dir} has no tokenizer (none of {', '.join(TOKENIZER_FILES)}); save the training tokenizer "
            "into the model folder (`njsl export` does) or pass --tokenizer PATH")
    return folder


def task_manager(include_path: str | Path | Iterable[str | Path] | None = None):
    """lm-eval's TaskManager over its own tasks, this project's ``tasks/`` and any ``include_path``."""
    paths = [TASKS_DIR]
    if include_path:
        extra = [include_path] if isinstance(include_path, (str, Path)) else list(include_path)
        for p in extra:
            if not Path(p).is_dir():
                raise EvalError(f"--include_path {p}: not a folder of lm-eval task YAMLs")
            paths.append(Path(p).resolve())
    return _cached_task_manager(tuple(str(p) for p in paths))


@functools.lru_cache(maxsize=4)
def _cached_task_manager(paths: tuple[str, ...]):
    # Indexing lm-eval's ~10k task YAMLs takes seconds; the index is read-only, so one per path set suffices.
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=list(paths))


def lm_eval_spec(specs: list[TaskSpec], manager) -> dict[str, Any]:
    """The inline lm-eval group running ``specs``; unknown names raise :class:`UnknownTaskError`."""
    from lm_eval.tasks._index import Kind

    index = manager.task_index
    members: list[dict[str, Any]] = []
    for spec in specs:
        entry = index.get(spec.task)
        if entry is None:
            close = difflib.get_close_matches(spec.task, manager.all_tasks, n=5, cutoff=0.6)
            hint = f" Did you mean: {', '.join(close)}?" if close else ""
            raise UnknownTaskError(f"unknown task {spec.task!r}: neither a named group ("
                                   f"{', '.join(load_task_groups())}) nor an lm-eval task/group/tag.{hint} "
                                   "List them with `njsl eval --list_groups` / `lm_eval ls tasks`")
        ov = spec.overrides()
        if entry.kind == Kind.GROUP:
            members.append({"group": spec.task, **ov})
        elif entry.kind == Kind.TAG:
            # A tag referenced with overrides would rename its tasks after the tag; list its tasks instead.
            members += [{"task": t, **ov} for t in sorted(entry.tags)]
        else:
            members.append({"task": spec.task, **ov})
    return {"group": WRAPPER_GROUP, "task": members}


def _needs_code_execution(specs: list[TaskSpec]) -> list[str]:
    return [s.task for s in specs if s.task.startswith(_CODE_EXECUTION_TASKS)]


# ----------------------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------------------

@dataclass
class EvalOutput:
    """What an evaluation wrote: the results JSON, the per-task samples, and the parsed results."""

    output_dir: Path
    results_path: Path
    sample_paths: list[Path]
    results: dict[str, Any]


@dataclass
class EvalOptions:
    """lm-eval settings a user can change (the CLI's flags)."""

    batch_size: int | str = 8
    dtype: str = "auto"
    device: str | None = None  # None: cuda when available, else cpu
    limit: int | float | None = None
    log_samples: bool = False
    tokenizer: str | None = None
    include_path: list[str] = dataclasses.field(default_factory=list)
    allow_code_execution: bool = False
    seed: int = 1234
    max_length: int | None = None


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def evaluate_model(model: str | Path, tasks: str | list[TaskSpec], output_dir: str | Path,
                   options: EvalOptions | None = None) -> EvalOutput:
    """Run lm-eval on ``model`` for ``tasks`` and write ``results.json`` (+ samples) into ``output_dir``.

    All checks that need no model (folder, tokenizer, task names, code execution) run before the model is
    loaded, so a bad request fails in seconds and writes nothing.
    """
    opts = options or EvalOptions()
    model = str(model)
    if is_local_path(model):
        model = str(check_model_folder(model, opts.tokenizer).resolve())
    specs = tasks if isinstance(tasks, list) else parse_task_argument(tasks)
    code = _needs_code_execution(specs)
    if code and not opts.allow_code_execution:
        raise EvalError(f"task(s) {', '.join(code)} execute model-written code; pass --allow_code_execution "
                        "to confirm (ideally inside a sandbox)")
    manager = task_manager(opts.include_path)
    spec = lm_eval_spec(specs, manager)
    out_dir = Path(output_dir)

    import lm_eval

    if opts.allow_code_execution:
        os.environ["HF_ALLOW_CODE_EVAL"] = "1"  # HF `evaluate`'s code_eval refuses to run without it
    model_args: dict[str, Any] = {"pretrained": model, "dtype": opts.dtype}
    if opts.tokenizer:
        model_args["tokenizer"] = str(opts.tokenizer)
    if opts.max_length:
        model_args["max_length"] = opts.max_length
    try:
        results = lm_eval.simple_evaluate(
            model="hf", model_args=model_args, tasks=[spec], task_manager=manager,
            batch_size=opts.batch_size, device=opts.device or default_device(), limit=opts.limit,
            log_samples=opts.log_samples, confirm_run_unsafe_code=opts.allow_code_execution,
            random_seed=opts.seed, numpy_random_seed=opts.seed, torch_random_seed=opts.seed,
            fewshot_random_seed=opts.seed)
    except OSError as exc:  # a hub model/dataset not cached while offline, unreadable weights...
        raise EvalError(f"lm-eval could not load the model {model!r} or a task's dataset: {exc}. Offline, only "
                        "local model folders, local tasks (njsl-local, --include_path) and datasets already in "
                        "the Hugging Face cache work") from None
    if results is None:  # non-zero ranks of a distributed run return None
        raise EvalError("lm-eval returned no results (not rank 0?)")
    results = dict(results)
    samples = results.pop("samples", None) or {}
    _drop_wrapper(results)
    results["njsl_eval"] = {"model": model, "tasks": [dataclasses.asdict(s) for s in specs],
                            "limit": opts.limit}
    return write_results(out_dir, results, samples)


def _drop_wrapper(results: dict[str, Any]) -> None:
    """Remove the inline wrapper group so the file reads like a plain ``lm_eval --tasks a,b`` run."""
    for key in ("results", "group_subtasks", "versions", "configs", "higher_is_better", "n-shot", "n-samples"):
        section = results.get(key)
        if isinstance(section, dict):
            section.pop(WRAPPER_GROUP, None)


def write_results(output_dir: str | Path, results: dict[str, Any], samples: Mapping[str, list] | None = None
                  ) -> EvalOutput:
    """Write ``results.json`` and ``samples_<task>.jsonl`` atomically (lm-eval's JSON encoding)."""
    from lm_eval.utils import handle_non_serializable

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    sample_paths = []
    for task, rows in sorted((samples or {}).items()):
        path = out / f"samples_{task}.jsonl"
        with atomic_open(path, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, default=handle_non_serializable, ensure_ascii=False) + "\n")
        sample_paths.append(path)
    # results last: a folder with results.json is a finished evaluation
    results_path = out / RESULTS_NAME
    write_text_atomic(results_path, json.dumps(results, indent=2, default=handle_non_serializable,
                                               ensure_ascii=False))
    return EvalOutput(out, results_path, sample_paths, results)


def score_rows(results: Mapping[str, Any], model_id: str = "unnamed/model") -> list[dict[str, Any]]:
    """The store rows (benchmark, setting, metric, value, stderr) a results dict gives — the importer's mapping."""
    from model_metadata_db.importers.lm_eval import rows_from_lm_eval

    rows, _ = rows_from_lm_eval(results, model_id)
    return rows


def import_results(db: str | Path, results_path: str | Path, model_id: str):
    """Import a results JSON into the store at ``db`` (created when missing); returns the ImportReport."""
    from model_metadata_db.importers import import_lm_eval_results

    store = open_or_create_store(db)
    try:
        return import_lm_eval_results(store, results_path, model_id=model_id)
    finally:
        store.close()


def open_or_create_store(db: str | Path):
    """Open the ``.duckdb`` store at ``db``, creating an empty one when the file does not exist yet."""
    from model_metadata_db import AnalysisStore

    path = Path(db)
    if path.is_dir():
        raise EvalError(f"--db {path}: is a folder (an export); give a .duckdb file to write to "
                        "(import the export into it first with `njsl db import`)")
    return AnalysisStore.from_existing(path) if path.exists() else AnalysisStore.create(path)
