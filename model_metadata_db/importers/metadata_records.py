"""Import the paper's per-model JSON metadata records (``../shared/data/metadata_records/`` layout).

Three kinds, each validated against its JSON schema (read from the records folder at runtime):

* ``model_metadata/*.json`` → a ``model_annotations`` row (architecture fields, ``intermediate_size`` →
  ``ffn_hidden_size``, ``safetensors.total`` → ``total_params`` when not given, batch sizes from the
  pretraining stage) and, when its pretraining stage names a ``dataset_metadata/<data>.json``, the model's
  ``dataset_info`` row (the stage's token count; domain shares from the dataset summary).
* ``dataset_metadata/*.json`` → ``features`` of kind ``dataset`` (summary shares, token count, document
  feature means/stds).
* ``model_scores/*.json`` → ``evaluation_results``. Three layouts occur: ``results.harness.<task>.<N>-shot.
  <metric>``, ``results.harness.<task>.<metric>`` (no shot level) and ``results.harness.<task>.x-shot.
  <metric>`` (shots unknown). A task without a recorded shot count is refused unless ``assume_shots`` is
  given: a number, or ``"standard"`` for the task's standard setting (``DEFAULT_SHOTS``: arc 25, hellaswag 10,
  winogrande/gsm8k/arithmetic/minerva_math 5, drop 3, else 0).

Files are parsed and validated first (no lock held), then written in one transaction under the conflict
policy (conflicts.py): a folder import is all-or-nothing unless ``continue_on_error``.
"""
from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Mapping, Sequence

from ..aliases import canonical_id
from ..conflicts import Incoming
from ..errors import StoreError, StoreFileNotFoundError
from ..report import ImportReport
from ..validation import validate_rows
from .common import check_model_id, read_json

KINDS: dict[str, tuple[str, str]] = {  # kind -> (folder, schema file)
    "model": ("model_metadata", "model_metadata_schema.json"),
    "dataset": ("dataset_metadata", "dataset_metadata_schema.json"),
    "scores": ("model_scores", "model_results_schema.json"),
}
# Standard few-shot settings of the Open LLM Leaderboard / the paper, for records without a shot level.
DEFAULT_SHOTS: dict[str, int] = {"arc_challenge": 25, "arc:challenge": 25, "hellaswag": 10, "winogrande": 5,
                                 "gsm8k": 5, "gsm8k_cot": 5, "asdiv": 5, "drop": 3, "arithmetic": 5,
                                 "minerva_math": 5}
_PREFIX_SHOTS: tuple[tuple[str, int], ...] = (("arithmetic_", 5), ("minerva_math_", 5), ("hendrycksTest-", 5))
# Record metric -> store metric (the release's words).
RECORD_METRICS: dict[str, str] = {"acc": "accuracy", "exact_match": "accuracy", "em": "accuracy"}
_SHOT = re.compile(r"^(\d+)-shot$")
_DOMAIN_KEYS: dict[str, tuple[str, ...]] = {  # store column suffix -> record summary keys, first present wins
    "web": ("percentage_web",), "code": ("percentage_code",), "books": ("percentage_books",),
    "reference": ("percentage_reference", "percentage_encyclopedic"),
    "academic": ("percentage_academic", "percentage_academic_papers"),
}
ANNOTATION_FIELDS = ("dimension", "num_heads", "mlp_ratio", "layer_norm_type", "positional_embeddings",
                     "attention_variant", "biases", "block_type", "activation", "sequence_length", "weight_tying",
                     "vocab_size", "batch_instances", "batch_tokens", "total_params", "is_instruction_tuned",
                     "is_preference_tuned", "num_layers")


# ----------------------------------------------------------------------------- schema validation
# a shot count for every task recorded without one, "standard", or task-name prefix -> "N-shot"
AssumeShots = int | str | Mapping[str, str] | None


@functools.lru_cache(maxsize=8)
def _validator(schema_file: str):
    import jsonschema
    schema = json.loads(Path(schema_file).read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)


SCHEMA_DIR = Path(__file__).resolve().parents[2] / "metadata" / "record_schemas"


def schema_path(kind: str, record_path: Path | None = None) -> Path:
    """The JSON schema of ``kind``: the project's copy in ``metadata/record_schemas/`` (taken over from the
    paper's repository, source named in each file's ``$comment``)."""
    path = SCHEMA_DIR / KINDS[kind][1]
    if not path.is_file():
        raise StoreFileNotFoundError(f"JSON schema {path} is missing; it ships with the project")
    return path


def validate_record(data: Any, kind: str, source: str, record_path: Path | None = None) -> None:
    """Validate against the kind's JSON schema. ``format`` is an annotation in draft-07 and not asserted:
    the shared score files write ``last_updated`` as a datetime where the schema says ``date``."""
    validator = _validator(str(schema_path(kind, record_path)))
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(map(str, err.absolute_path)) or "(top level)"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise StoreError(f"{source}: does not match {KINDS[kind][1]} at {where}: {err.message}{more}")


def detect_kind(path: Path, data: Any) -> str:
    """The record kind from its folder name, else from its keys."""
    for kind, (folder, _) in KINDS.items():
        if path.parent.name == folder:
            return kind
    if isinstance(data, Mapping):
        if "results" in data and "model_name" in data:
            return "scores"
        if "summary" in data:
            return "dataset"
        if "id" in data and ("sha" in data or "config" in data or "dimension" in data):
            return "model"
    raise StoreError(f"{path}: cannot tell the record kind (expected it in model_metadata/, dataset_metadata/ or "
                     "model_scores/, or pass kind=)")


# ----------------------------------------------------------------------------- ids
def record_model_id(name: Any, source: str) -> str:
    """Model id of a scores record: ``org__name`` (the hub's file-name form) becomes ``org/name``."""
    if isinstance(name, str) and "/" not in name and name.count("__") >= 1:
        # A leading "__" was a "/" too: "__data__tir__..." is the path "/data/tir/..." (an alias, or rejected).
        name = name.replace("__", "/")
    if isinstance(name, str):
        name = canonical_id(name.strip())
    return check_model_id(name, source)


def known_ids(store) -> tuple[set[str], set[str]]:
    """(annotated ids, all ids) of the store, for matching ids that differ only in case."""
    annotated = set(store.query("SELECT id FROM model_annotations")["id"])
    scored = set(store.query("SELECT DISTINCT id FROM evaluation_results")["id"])
    return annotated, annotated | scored


def resolve_case(model_id: str, annotated: set[str], everything: set[str], warnings: list[str]) -> str:
    """Use the known spelling when the id differs only in case (``pythia-410M`` vs ``pythia-410m``)."""
    if model_id in annotated:
        return model_id
    hits = sorted({i for i in everything if i.lower() == model_id.lower() and i != model_id})
    if len(hits) == 1:
        warnings.append(f"model id {model_id!r} stored as {hits[0]!r} (same id up to case)")
        return hits[0]
    return model_id


# ----------------------------------------------------------------------------- percentages
def _percent_scale(summary: Mapping[str, Any]) -> dict[str, float]:
    """Domain shares and English share in percent. Records mix fractions (0.82) and percents (82.0), even within
    one file (yi_34b_data: web 0.8083 but reference 1.09): a file whose shares already sum to ~100 is in
    percent; otherwise each value <= 1 is a fraction."""
    raw: dict[str, float] = {}
    for col, keys in _DOMAIN_KEYS.items():
        for key in keys:
            value = summary.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                raw[col] = float(value)
                break
    english = summary.get("percentage_english")
    if isinstance(english, (int, float)) and not isinstance(english, bool):
        raw["english"] = float(english)
    domain_sum = sum(v for k, v in raw.items() if k != "english")
    in_percent = any(v > 1 for k, v in raw.items() if k != "english") and 95 <= domain_sum <= 105
    out = {}
    for key, value in raw.items():
        if value < 0:
            out[key] = value  # -1 = missing; validation keeps it as the release does
        elif in_percent and key != "english":
            out[key] = value
        else:
            out[key] = value * 100 if value <= 1 else value
    return out


def dataset_info_from_summary(model_id: str, summary: Mapping[str, Any], tokens_billions: Any,
                              data_name: str) -> dict[str, Any]:
    """A ``dataset_info`` row from a dataset summary (shares in percent) and the model's token count."""
    shares = _percent_scale(summary)
    row: dict[str, Any] = {"id": model_id, "metadata": {"pretraining_data": data_name}}
    tokens = tokens_billions if tokens_billions is not None else summary.get("total_tokens_billions")
    row["pretraining_summary_total_tokens_billions"] = tokens
    for key, value in shares.items():
        row[f"pretraining_summary_percentage_{key}"] = value
    return row


# ----------------------------------------------------------------------------- model records
def _pretraining_stage(record: Mapping[str, Any]) -> Mapping[str, Any] | None:
    stages = record.get("training_stages") or []
    for stage in stages:
        if stage.get("name") == "pretraining":
            return stage
    return stages[0] if stages else None


def annotation_from_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """The ``model_annotations`` row a model-metadata record describes (only the fields it gives)."""
    row: dict[str, Any] = {"id": record["id"]}
    for name in ANNOTATION_FIELDS:
        if record.get(name) is not None:
            row[name] = record[name]
    if record.get("intermediate_size") is not None:
        row["ffn_hidden_size"] = record["intermediate_size"]
        if "mlp_ratio" not in row and record.get("dimension"):
            row["mlp_ratio"] = record["intermediate_size"] / record["dimension"]
    if "total_params" not in row and (record.get("safetensors") or {}).get("total"):
        row["total_params"] = record["safetensors"]["total"]
    stage = _pretraining_stage(record)
    if stage:
        for name in ("batch_instances", "batch_tokens"):
            if name not in row and stage.get(name):
                row[name] = stage[name]
    stage_names = {s.get("name") for s in record.get("training_stages") or []}
    if "is_instruction_tuned" not in row and stage_names & {"sft", "instruction_tuning"}:
        row["is_instruction_tuned"] = True
    config = record.get("config") or {}
    if config.get("model_type"):
        model_type = config["model_type"].lower()
        row["architecture_family"] = next((f for f in ("mamba", "rwkv", "hyena", "retnet") if f in model_type),
                                          "transformer")
    archs = config.get("architectures") or []
    if any(a.endswith("ForCausalLM") for a in archs):
        row["training_objective"] = "clm"
    if record.get("sha"):  # a Hugging Face hub record
        row["source_url"] = f"https://huggingface.co/{record['id']}"
    return row


def _model_rows(record: Mapping[str, Any], path: Path, report: ImportReport):
    annotation = annotation_from_record(record)
    info = None
    stage = _pretraining_stage(record)
    if stage and stage.get("data"):
        data_file = path.resolve().parent.parent / KINDS["dataset"][0] / f"{stage['data']}.json"
        if data_file.is_file():
            data = read_json(data_file)
            validate_record(data, "dataset", str(data_file), data_file)
            info = dataset_info_from_summary(annotation["id"], data["summary"], stage.get("total_tokens_billions"),
                                             stage["data"])
        else:
            report.warnings.append(f"pretraining data {stage['data']!r}: {data_file.name} not found; "
                                   "no dataset_info row")
    return annotation, info


# ----------------------------------------------------------------------------- dataset records
def dataset_features(record: Mapping[str, Any], path: Path, report: ImportReport) -> dict[str, float]:
    """Dataset-level features of a dataset record (for the ``features`` table, kind ``dataset``)."""
    summary = record["summary"]
    feats: dict[str, float] = {}
    tokens = summary.get("total_tokens_billions")
    if isinstance(tokens, (int, float)) and tokens >= 0:
        feats["total_tokens_billions"] = float(tokens)
    for key, value in _percent_scale(summary).items():
        if value >= 0:
            feats[f"percentage_{key}"] = value
    for stat, values in (summary.get("overall_feature_statistics") or {}).items():
        for agg in ("mean", "std"):
            feats[f"{stat}_{agg}"] = float(values[agg])
    domains = record.get("domains") or []
    if domains:
        feats["num_domains"] = float(len(domains))
    for domain in domains:
        pointer = domain.get("file_pointer")
        if pointer and not (path.parent / pointer).is_file():
            report.warnings.append(f"domain file_pointer {pointer!r} does not exist beside {path.name}")
    return feats


# ----------------------------------------------------------------------------- score records
def _default_shots(task: str) -> int:
    if task in DEFAULT_SHOTS:
        return DEFAULT_SHOTS[task]
    return next((n for prefix, n in _PREFIX_SHOTS if task.startswith(prefix)), 0)


def _shots_for(task: str, assume_shots: AssumeShots, source: str) -> int:
    if assume_shots is None:
        raise _NoShots(task)
    if assume_shots == "standard":
        return _default_shots(task)
    if isinstance(assume_shots, Mapping):  # task-name prefix -> "N-shot" (the paper's benchmark_defaults)
        setting = next((v for prefix, v in assume_shots.items() if task.startswith(prefix)), None)
        match = _SHOT.match(str(setting)) if setting is not None else None
        if match is None:
            raise _NoShots(task)
        return int(match.group(1))
    if isinstance(assume_shots, bool) or not isinstance(assume_shots, int) or assume_shots < 0:
        raise StoreError(f"assume_shots must be a whole number >= 0 or 'standard', got {assume_shots!r}")
    return assume_shots


class _NoShots(Exception):
    pass


def score_rows(record: Mapping[str, Any], model_id: str, source: str, *,
               assume_shots: AssumeShots = None) -> tuple[list[dict[str, Any]], list[str]]:
    """``evaluation_results`` rows of a scores record (all three layouts), and notes.

    A task without a recorded shot count is refused (:class:`StoreError` naming the tasks) unless
    ``assume_shots`` is a number or ``"standard"``.
    """
    try:
        return _score_rows(record, model_id, source, assume_shots)
    except _NoShots:
        tasks = sorted(t for tasks in record["results"].values() if isinstance(tasks, Mapping)
                       for t, p in tasks.items() if isinstance(p, Mapping)
                       and (any(not isinstance(v, Mapping) and k != "timestamp" for k, v in p.items())
                            or any(isinstance(v, Mapping) and not _SHOT.match(k) for k, v in p.items())))
        raise StoreError(f"{source}: the shot count of {len(tasks)} task(s) is not recorded (e.g. {tasks[:3]}); "
                         "refused rather than guessed: pass --assume-shots N (all of them N-shot) or "
                         "--assume-shots standard (arc 25, hellaswag 10, winogrande/gsm8k 5, drop 3, else 0)"
                         ) from None


def _score_rows(record: Mapping[str, Any], model_id: str, source: str,
                assume_shots: AssumeShots) -> tuple[list[dict[str, Any]], list[str]]:
    rows, notes, assumed, nan = [], [], set(), []
    for group, tasks in record["results"].items():
        if not isinstance(tasks, Mapping):
            raise StoreError(f"{source}: results[{group!r}] must be an object of tasks")
        for task, payload in tasks.items():
            if not isinstance(payload, Mapping):
                raise StoreError(f"{source}: results[{group!r}][{task!r}] must be an object")
            levels = {k: v for k, v in payload.items() if isinstance(v, Mapping)}
            flat = {k: v for k, v in payload.items() if not isinstance(v, Mapping)}
            blocks: list[tuple[int, Mapping[str, Any]]] = []
            for key, metrics in levels.items():
                match = _SHOT.match(key)
                if match:
                    blocks.append((int(match.group(1)), metrics))
                else:  # "x-shot": the shot count was not recorded
                    assumed.add(task)
                    blocks.append((_shots_for(task, assume_shots, source), metrics))
            if any(k != "timestamp" for k in flat):
                assumed.add(task)
                blocks.append((_shots_for(task, assume_shots, source), flat))
            for shots, metrics in blocks:
                for metric, value in metrics.items():
                    if metric == "timestamp" or metric.endswith("_stderr"):
                        continue
                    if isinstance(value, bool) or not isinstance(value, (int, float)):
                        raise StoreError(f"{source}: results[{group!r}][{task!r}] metric {metric!r} must be a "
                                         f"number, got {value!r}")
                    if not math.isfinite(value):
                        nan.append(f"{task}/{metric}")
                        continue
                    stderr = metrics.get(f"{metric}_stderr")
                    rows.append({"id": model_id, "benchmark": task, "setting": f"{shots}-shot",
                                 "metric": RECORD_METRICS.get(metric, metric), "metric_value": float(value),
                                 "metric_stderr": float(stderr) if isinstance(stderr, (int, float))
                                 and not isinstance(stderr, bool) else None})
    if nan:
        notes.append(f"{len(nan)} score(s) are NaN and were skipped (e.g. {nan[0]})")
    if assumed:
        first = sorted(assumed)[0]
        notes.append(f"shot count not recorded for {len(assumed)} task(s); --assume-shots {assume_shots} applied "
                     f"(e.g. {first!r} → {_shots_for(first, assume_shots, source)}-shot)")
    return rows, notes


# ----------------------------------------------------------------------------- per file / folder
@dataclass
class ParsedRecord:
    """One record file parsed and validated, ready to write: rows per table with their source and date."""
    path: Path
    kind: str
    batch: dict[str, list[Incoming]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    model_id: str | None = None

    def add(self, table: str, rows: list[dict[str, Any]], updated: str | None = None) -> None:
        self.batch.setdefault(table, []).extend(Incoming(r, str(self.path), updated)
                                                for r in validate_rows(table, rows))


def parse_metadata_record(path: str | Path, kind: str | None = None, *,
                          assume_shots: AssumeShots = None) -> ParsedRecord:
    """Read and validate one record file without touching any store. Raises :class:`StoreError` with the reason."""
    path = Path(path)
    notes: list[str] = []
    data = read_json(path, notes)
    kind = kind or detect_kind(path, data)
    if kind not in KINDS:
        raise StoreError(f"{path}: unknown record kind {kind!r}; use one of {list(KINDS)}")
    source = str(path)
    validate_record(data, kind, source, path)
    parsed = ParsedRecord(path, kind, warnings=notes)
    report = ImportReport(source)
    if kind == "model":
        annotation, info = _model_rows(data, path, report)
        annotation["id"] = check_model_id(canonical_id(str(annotation["id"]).strip()), source)
        parsed.model_id = annotation["id"]
        parsed.add("model_annotations", [annotation])
        if info is not None:
            info["id"] = annotation["id"]
            parsed.add("dataset_info", [info])
    elif kind == "dataset":
        feats = dataset_features(data, path, report)
        if not feats:
            raise StoreError(f"{source}: no usable numbers in 'summary'")
        parsed.add("features", [{"kind": "dataset", "id": path.stem, "feature": k, "value": v,
                                 "source": "metadata_records"} for k, v in feats.items()])
    else:
        model_id = record_model_id(data["model_name"], source)
        parsed.model_id = model_id
        rows, score_notes = score_rows(data, model_id, source, assume_shots=assume_shots)
        if not rows:
            empty = [g for g, tasks in data["results"].items() if not tasks]
            raise StoreError(f"{source}: no scores: 'results' has no tasks" +
                             (f" (results[{empty[0]!r}] is empty)" if empty else ""))
        parsed.warnings += score_notes
        parsed.add("evaluation_results", rows, updated=data.get("last_updated"))
    parsed.warnings += report.warnings
    return parsed


def _resolve_ids(parsed: Sequence[ParsedRecord], annotated: set[str], everything: set[str]) -> None:
    """Give score records the spelling of an id known up to case (store or this import's model records)."""
    annotated = annotated | {p.model_id for p in parsed if p.kind == "model" and p.model_id}
    everything = everything | annotated
    for p in parsed:
        if p.kind != "scores" or not p.model_id:
            continue
        new = resolve_case(p.model_id, annotated, everything, p.warnings)
        if new != p.model_id:
            for item in p.batch.get("evaluation_results", []):
                item.row = {**item.row, "id": new}
            p.model_id = new


def import_metadata_record(store, path: str | Path, kind: str | None = None, *, resolve_case: bool = True,
                           on_conflict: str = "error", assume_shots: AssumeShots = None) -> ImportReport:
    """Import one record file (one transaction, conflict policy ``on_conflict``); :class:`StoreError` on failure."""
    parsed = parse_metadata_record(path, kind, assume_shots=assume_shots)
    if resolve_case:
        _resolve_ids([parsed], *known_ids(store))
    report = ImportReport(str(path), warnings=list(parsed.warnings))
    return store.apply(parsed.batch, on_conflict=on_conflict, source=str(path), report=report)


@dataclass
class RecordsReport:
    """Per-file outcome of a folder import: ``files`` rows of (kind, path, status, reason)."""
    files: list[dict[str, Any]] = field(default_factory=list)
    total: ImportReport = field(default_factory=lambda: ImportReport("metadata_records"))

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for f in self.files:
            out.setdefault(f["kind"], {"imported": 0, "failed": 0})[f["status"]] += 1
        return out

    def failures(self) -> list[dict[str, Any]]:
        return [f for f in self.files if f["status"] == "failed"]


def iter_record_files(root: Path, kinds: Iterable[str]) -> list[tuple[str, Path]]:
    files = []
    for kind in kinds:
        folder = root / KINDS[kind][0]
        if folder.is_dir():
            files += [(kind, p) for p in sorted(folder.glob("*.json"))]
    return files


def parse_records(files: Iterable[tuple[str | None, Path]], *, assume_shots: AssumeShots = None,
                  progress: bool | None = None) -> tuple[list[ParsedRecord], list[dict[str, Any]]]:
    """Parse and validate record files (no store involved): (parsed records, failures with reasons)."""
    from tqdm.auto import tqdm

    parsed, failed = [], []
    files = list(files)
    for kind, path in tqdm(files, desc="records", unit="file", disable=None if progress is None else not progress):
        try:
            parsed.append(parse_metadata_record(path, kind, assume_shots=assume_shots))
        except (StoreError, FileNotFoundError) as err:
            failed.append({"kind": kind or "?", "path": str(path), "status": "failed", "reason": str(err)})
    return parsed, failed


def write_parsed(store, parsed: list[ParsedRecord], *, on_conflict: str = "error",
                 report: ImportReport | None = None) -> ImportReport:
    """Write parsed records into ``store`` in one transaction under the conflict policy."""
    _resolve_ids(parsed, *known_ids(store))
    batch: dict[str, list[Incoming]] = {}
    report = report or ImportReport("metadata_records")
    for p in parsed:
        for table, items in p.batch.items():
            batch.setdefault(table, []).extend(items)
        report.warnings += p.warnings
    return store.apply(batch, on_conflict=on_conflict, source=report.source, report=report)


def import_metadata_records(store, root: str | Path | None = None, *, kinds: Iterable[str] = ("dataset", "model",
                            "scores"), progress: bool | None = None, on_conflict: str = "error",
                            assume_shots: AssumeShots = None,
                            continue_on_error: bool = False) -> RecordsReport:
    """Import every record under ``root`` (default: the shared ``metadata_records``) in one transaction.

    Every file is parsed and validated before the store is written. A bad file stops the import with nothing
    written (the error lists every bad file) unless ``continue_on_error``, which imports the good files and
    lists the bad ones in the report. Values that would change stored ones follow ``on_conflict``.
    """
    from njsl.paths import metadata_records_dir
    root = Path(root) if root is not None else metadata_records_dir()
    if not root.is_dir():
        raise StoreFileNotFoundError(f"metadata records folder {root} does not exist")
    kinds = list(kinds)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise StoreError(f"unknown record kind(s) {unknown}; use {list(KINDS)}")
    files = iter_record_files(root, kinds)
    if not files:
        raise StoreError(f"{root}: no *.json records in {[KINDS[k][0] for k in kinds]}")
    parsed, failed = parse_records(files, assume_shots=assume_shots, progress=progress)
    if failed and not continue_on_error:
        raise StoreError(failure_message(failed, len(files)))
    result = RecordsReport()
    result.files += failed
    write_parsed(store, parsed, on_conflict=on_conflict, report=result.total)
    for p in parsed:
        result.files.append({"kind": p.kind, "path": str(p.path), "status": "imported", "reason": "",
                             "warnings": list(p.warnings)})
    return result


def failure_message(failed: list[dict[str, Any]], n_files: int) -> str:
    """Why an all-or-nothing import wrote nothing: every bad file with its reason."""
    lines = [f"{len(failed)} of {n_files} source file(s) cannot be imported; nothing was written "
             "(--continue-on-error imports the others):"]
    lines += [f"  {f['reason']}" for f in failed[:30]]
    if len(failed) > 30:
        lines.append(f"  ... {len(failed) - 30} more")
    return "\n".join(lines)
