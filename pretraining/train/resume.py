"""Resume is exact or refused: what a run directory was trained with, and what may change when it resumes.

``resume.json`` in the run directory holds the run's *fingerprint* (model, training, data mix with file hashes,
tokenizer) and the schedule's segment ends. A rerun into the same directory compares fingerprints field by
field: any difference refuses with the list of differences, except

- bookkeeping fields (:data:`MAY_CHANGE`: logging, evaluation and checkpoint cadence, ``max_steps``...),
- a larger planned step count with ``--extend``: the steps already planned keep their samples and LRs, and the
  new steps re-warm then decay (a new schedule segment, see :mod:`pretraining.train.schedule`).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pretraining.config import ConfigError, RunConfig

RESUME_FILE = "resume.json"
# fields a resumed run may change: they neither alter the samples nor the numbers of the steps taken
MAY_CHANGE = ("max_steps", "log_every", "eval_every", "checkpoint_every", "keep_last", "wandb_project",
              "data_workers", "norms_every")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tokenizer_hash(spec: str) -> str | None:
    """sha256 over a local tokenizer's files (folder or file); None for a hub name (identified by the name)."""
    p = Path(spec)
    if p.is_file():
        return _sha256(p)
    if p.is_dir():
        h = hashlib.sha256()
        for f in sorted(q for q in p.rglob("*") if q.is_file()):
            h.update(f.relative_to(p).as_posix().encode() + b"\0" + _sha256(f).encode())
        return h.hexdigest()
    return None


def fingerprint(cfg: RunConfig, schedule_steps: int, vocab: int, eod: int) -> dict:
    """Everything that shapes the numbers of a run, as a nested dict of plain values."""
    from pretraining.data.batches import load_data_mix

    training = {k: v for k, v in cfg.to_dict()["training"].items() if k not in MAY_CHANGE + ("train_tokens",)}
    assert cfg.data.path and cfg.data.tokenizer, "train() checks data.path and data.tokenizer first"
    mix = load_data_mix(cfg.data.path)
    domains = {d.name: {"weight": round(d.weight, 12), "idx_sha256": _sha256(Path(d.path_prefix + ".idx")),
                        "bin_bytes": Path(d.path_prefix + ".bin").stat().st_size} for d in mix.domains}
    tok = cfg.data.tokenizer
    return {"model": cfg.to_dict()["model"], "training": training, "schedule": {"steps": schedule_steps},
            "data": domains, "tokenizer": {"hash": tokenizer_hash(tok) or tok, "vocab_size": vocab, "eod_id": eod}}


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def differences(old: dict, new: dict) -> list[str]:
    """``"section.field: old -> new"`` for every field that differs (missing fields shown as <absent>)."""
    a, b = _flatten(old), _flatten(new)
    return [f"{k}: {a.get(k, '<absent>')!r} -> {b.get(k, '<absent>')!r}"
            for k in sorted(set(a) | set(b)) if a.get(k, "<absent>") != b.get(k, "<absent>")]


def read_state(run_dir: Path) -> dict | None:
    path = Path(run_dir) / RESUME_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def check_resume(run_dir: Path, new: dict, *, extend: bool, has_checkpoint: bool) -> list[int]:
    """The schedule's segment ends for this (re)start of ``run_dir``, or a :class:`ConfigError` with the diff.

    A directory without a checkpoint starts afresh (one segment): nothing of it can be resumed, so nothing is
    corrupted. ``extend`` there is an error (nothing to extend).
    """
    steps = new["schedule"]["steps"]
    state = read_state(run_dir)
    if state is None and has_checkpoint:
        raise ConfigError(f"resume: {run_dir} has checkpoints but no {RESUME_FILE} (written by an older "
                          "trainer), so what it was trained with cannot be checked; use a new output directory")
    if state is None or not has_checkpoint:  # nothing to resume (a run killed before its first checkpoint)
        if extend:
            raise ConfigError(f"--extend: {run_dir} holds no checkpointed run to extend; drop --extend to start one")
        return [steps]
    old, ends = state["fingerprint"], list(state["schedule_ends"])
    diff = differences({k: v for k, v in old.items() if k != "schedule"},
                       {k: v for k, v in new.items() if k != "schedule"})
    if diff:
        raise ConfigError(f"resume: {run_dir} was trained with other settings, refusing to resume it; "
                          f"differences: {'; '.join(diff)}. Use a new output directory (or restore the settings)")
    if steps == ends[-1]:
        if extend:
            raise ConfigError(f"--extend: the run is already planned for {steps} steps; raise "
                              "training.train_tokens (--train_tokens) to extend it")
        return ends
    if steps < ends[-1]:
        raise ConfigError(f"training.train_tokens: {run_dir} is planned for {ends[-1]} steps, the new settings "
                          f"plan {steps}; a run cannot shrink (use --max_steps to stop early)")
    if not extend:
        raise ConfigError(f"training.train_tokens: {run_dir} is planned for {ends[-1]} steps, the new settings "
                          f"plan {steps}; pass --extend to continue it (same samples for the steps taken, the LR "
                          "re-warms then decays to the new end), or use a new output directory")
    return ends + [steps]


def write_state(run_dir: Path, fp: dict, ends: list[int]) -> None:
    from njsl.atomic import write_text_atomic

    write_text_atomic(Path(run_dir) / RESUME_FILE, json.dumps({"fingerprint": fp, "schedule_ends": ends},
                                                               indent=2, sort_keys=True))
