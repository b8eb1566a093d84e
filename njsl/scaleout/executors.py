"""Run a stage's pipeline on datatrove's Local, Slurm or Ray executor, chosen by typed options.

A *stage* (tagging, entropy, preprocessing) is one or more datatrove pipelines run one after the other
(e.g. "count" with N tasks, then "merge" with one task that needs all of them). :func:`run_stages` hands each
to the chosen executor with its own logging folder, so datatrove's completion markers
(``<logging>/<pipeline>/completions/NNNNN``) make a rerun skip finished tasks.

What datatrove 0.10.1 does not do, and how it is bridged here:

* no dry run for Slurm: :func:`render_slurm` writes what ``SlurmPipelineExecutor.launch_job`` would write
  (pickled executor, ranks, ``launch_script.slurm``) plus a ``submit.sh`` chaining the pipelines with
  ``--dependency=afterok``, without calling ``sbatch``;
* the Local and Ray executors wait for a dependency by polling every two minutes; we run the pipelines in
  order ourselves and check that every task completed before starting the next;
* the Ray executor logs failed tasks and returns; we raise when any task is incomplete;
* ``--shard i/N`` (one task of N per process, as our Slurm arrays did) maps onto the Local executor's
  ``local_tasks=1, local_rank_offset=i``; a later pipeline runs in whichever process finds all tasks done.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ScaleoutError(ValueError):
    """A user-caused problem with executor options or with a scaled-out run."""


class ExecutorOptions(BaseModel):
    """Where and how a stage's tasks run (the ``--executor`` family of flags)."""

    model_config = ConfigDict(extra="forbid")

    executor: Literal["local", "slurm", "ray"] = "local"
    tasks: int = Field(1, ge=1, description="datatrove tasks (input files are dealt to them round-robin)")
    workers: int = Field(-1, description="tasks run at once; -1 = all")
    logging_dir: str | None = Field(None, description="datatrove logs, stats and completion markers")
    shard: tuple[int, int] | None = Field(None, description="run only task i of N (local executor)")
    # Slurm
    partition: str | None = None
    time: str = "24:00:00"
    cpus_per_task: int = Field(1, ge=1)
    mem_per_cpu_gb: float = Field(2.0, gt=0)
    max_array_size: int = Field(1001, description="largest job array the cluster accepts; -1 = no limit")
    qos: str = ""
    venv_path: str | None = Field(None, description="activate script sourced by each Slurm task")
    job_name: str = "njsl"
    dry_run: bool = Field(False, description="Slurm: write the submission scripts, do not call sbatch")
    # Ray
    ray_address: str | None = Field(None, description="address of a running Ray cluster; none = start one here")

    @model_validator(mode="after")
    def _check(self) -> ExecutorOptions:
        if self.workers != -1 and self.workers < 1:
            raise ValueError(f"workers: must be >= 1 or -1 (all tasks at once), got {self.workers}")
        if self.shard is not None:
            i, n = self.shard
            if self.executor != "local":
                raise ValueError("shard: --shard i/N runs one task per process and needs --executor local")
            if not 0 <= i < n:
                raise ValueError(f"shard: i must satisfy 0 <= i < N, got {i}/{n}")
            if self.tasks not in (1, n):
                raise ValueError(f"shard: --shard {i}/{n} means {n} tasks; --tasks {self.tasks} disagrees")
            self.tasks = n
        if self.executor == "slurm" and not self.partition:
            raise ValueError("partition: --executor slurm needs --partition")
        if self.max_array_size == 0 or self.max_array_size < -1:
            raise ValueError(f"max_array_size: must be >= 1 or -1, got {self.max_array_size}")
        return self


def add_executor_args(p: argparse.ArgumentParser, workers_flag: bool = True, shard_flag: bool = True) -> None:
    """The ``--executor`` family of flags shared by ``njsl tag run``, ``njsl entropy`` and ``njsl preprocess``
    (whose own ``--workers``, processes at once, keeps that meaning with an executor: ``workers_flag=False``;
    ``njsl tag run`` has its own ``--shard``: ``shard_flag=False``)."""
    g = p.add_argument_group("scale-out (datatrove executors)")
    g.add_argument("--executor", choices=("local", "slurm", "ray"), default=None,
                   help="run as datatrove pipeline(s) on this executor (default local when --tasks/--workers "
                        "are given)")
    g.add_argument("--tasks", type=int, default=None, help="datatrove tasks; input files are dealt to them")
    if workers_flag:
        g.add_argument("--workers", type=int, default=None, help="tasks run at once (default: all)")
    g.add_argument("--logging_dir", default=None, help="datatrove logs/stats/completions (default: beside the output)")
    g.add_argument("--partition", default=None, help="Slurm partition")
    g.add_argument("--time", default="24:00:00", help="Slurm time limit per task (default 24:00:00)")
    g.add_argument("--cpus_per_task", type=int, default=1, help="Slurm/Ray CPUs per task (default 1)")
    g.add_argument("--mem_per_cpu_gb", type=float, default=2.0, help="Slurm/Ray memory per CPU in GB (default 2)")
    g.add_argument("--max_array_size", type=int, default=1001, help="Slurm array limit (default 1001)")
    g.add_argument("--qos", default="", help="Slurm QOS")
    g.add_argument("--venv_path", default=None, help="Slurm: activate script sourced by each task")
    g.add_argument("--job_name", default=None, help="Slurm job name prefix")
    g.add_argument("--dry_run", action="store_true",
                   help="Slurm: write the submission scripts (and submit.sh) under the logging dir, submit nothing")
    g.add_argument("--ray_address", default=None, help="Ray cluster address (default: start a local one)")
    if shard_flag:
        g.add_argument("--shard", default=None,
                       help="i/N: run only task i of N tasks (local executor; e.g. one Slurm array task each); the "
                            "last one to finish runs the merge")


def wants_scaleout(args: argparse.Namespace, flags: tuple[str, ...] = ("executor", "tasks", "workers")) -> bool:
    """Whether the command line asked for the datatrove path (one of ``flags`` given)."""
    return any(getattr(args, k, None) is not None for k in flags)


def executor_options_from_args(args: argparse.Namespace, job_name: str = "njsl") -> ExecutorOptions:
    """Typed options from the flags of :func:`add_executor_args`; a bad value names its flag."""
    from njsl.documents import parse_shard

    shard = parse_shard(getattr(args, "shard", None))
    raw: dict[str, Any] = {
        "executor": args.executor or "local", "tasks": 1 if args.tasks is None else args.tasks,
        "workers": args.workers if args.workers is not None else -1, "logging_dir": args.logging_dir,
        "shard": shard, "partition": args.partition, "time": args.time, "cpus_per_task": args.cpus_per_task,
        "mem_per_cpu_gb": args.mem_per_cpu_gb, "max_array_size": args.max_array_size, "qos": args.qos,
        "venv_path": args.venv_path, "job_name": args.job_name or job_name, "dry_run": args.dry_run,
        "ray_address": args.ray_address,
    }
    return parse_options(raw)


def parse_options(raw: dict[str, Any]) -> ExecutorOptions:
    try:
        return ExecutorOptions(**raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = err["msg"].removeprefix("Value error, ")
        field = ".".join(str(x) for x in err["loc"])
        if not field:  # a model-level check: its message starts with "<field>: "
            field, _, msg = msg.partition(": ")
        raise ScaleoutError(f"--{field}: {msg}") from None


def fingerprint(*parts: Any) -> str:
    """A short stable hash of a run's request: same command, same logging folder, so completions are reused."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass
class Pipeline:
    """One datatrove pipeline of a stage: its name (logging sub-folder), steps and number of tasks."""

    name: str
    steps: list[Any]
    tasks: int


@dataclass
class StageRun:
    """What :func:`run_stages` did."""

    complete: bool  # every task of every pipeline finished (False: submitted to Slurm, or shards still to run)
    message: str = ""
    scripts: dict[str, str] | None = None  # Slurm dry run: pipeline name -> launch script text


def run_stages(pipelines: list[Pipeline], opts: ExecutorOptions, logging_root: str) -> StageRun:
    """Run the pipelines in order on the executor ``opts`` names; see the module docstring."""
    if opts.executor == "slurm":
        return _run_slurm(pipelines, opts, logging_root)
    if opts.executor == "ray":
        return _run_ray(pipelines, opts, logging_root)
    return _run_local(pipelines, opts, logging_root)


def _workers(opts: ExecutorOptions, tasks: int) -> int:
    return tasks if opts.workers == -1 else min(opts.workers, tasks)


def _incomplete(executor) -> list[int]:
    return executor.get_incomplete_ranks(skip_completed=True)


def _require_complete(executor, name: str) -> None:
    missing = _incomplete(executor)
    if missing:
        shown = ", ".join(map(str, missing[:10]))
        raise ScaleoutError(f"pipeline {name!r}: {len(missing)} task(s) did not complete ({shown}); see the task "
                            f"logs under {executor.logging_dir.resolve_paths('logs')} and rerun to resume")


def _run_local(pipelines: list[Pipeline], opts: ExecutorOptions, logging_root: str) -> StageRun:
    from datatrove.executor import LocalPipelineExecutor

    for k, pl in enumerate(pipelines):
        kwargs: dict[str, Any] = {}
        if opts.shard is not None and k == 0:
            kwargs = {"local_tasks": 1, "local_rank_offset": opts.shard[0]}
        # fork: tasks start in milliseconds and inherit the imported modules; forkserver (datatrove's
        # default) re-imports everything per pool, which on a small machine costs more than a small task.
        ex = LocalPipelineExecutor(pl.steps, tasks=pl.tasks, workers=_workers(opts, pl.tasks),
                                   logging_dir=f"{logging_root}/{pl.name}", start_method="fork", **kwargs)
        ex.run()
        if opts.shard is not None and k == 0:
            missing = _incomplete(ex)
            if missing:
                return StageRun(False, f"task {opts.shard[0]} of {pl.tasks} done; {len(missing)} task(s) of "
                                       f"{pl.name!r} still to run (the last shard to finish runs the rest)")
        _require_complete(ex, pl.name)
    return StageRun(True)


def _run_ray(pipelines: list[Pipeline], opts: ExecutorOptions, logging_root: str) -> StageRun:
    import ray
    from datatrove.executor import RayPipelineExecutor

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=opts.ray_address, include_dashboard=False, log_to_driver=False)
    try:
        for pl in pipelines:
            ex = RayPipelineExecutor(pl.steps, tasks=pl.tasks, workers=_workers(opts, pl.tasks),
                                     logging_dir=f"{logging_root}/{pl.name}", cpus_per_task=opts.cpus_per_task,
                                     mem_per_cpu_gb=opts.mem_per_cpu_gb)
            ex.run()
            _require_complete(ex, pl.name)
    finally:
        if started_here:
            ray.shutdown()
    return StageRun(True)


def _slurm_executors(pipelines: list[Pipeline], opts: ExecutorOptions, logging_root: str) -> list:
    from datatrove.executor import SlurmPipelineExecutor

    out: list = []
    for pl in pipelines:
        out.append(SlurmPipelineExecutor(
            pl.steps, tasks=pl.tasks, time=opts.time, partition=opts.partition, cpus_per_task=opts.cpus_per_task,
            mem_per_cpu_gb=opts.mem_per_cpu_gb, workers=opts.workers, job_name=f"{opts.job_name}-{pl.name}",
            qos=opts.qos, venv_path=opts.venv_path, max_array_size=opts.max_array_size,
            logging_dir=f"{logging_root}/{pl.name}", depends=out[-1] if out else None,
            # datatrove writes f"{gb}G", and Slurm takes whole numbers only: say it in MB
            sbatch_args={"mem-per-cpu": f"{round(opts.mem_per_cpu_gb * 1024)}M"},
        ))
    return out


def _run_slurm(pipelines: list[Pipeline], opts: ExecutorOptions, logging_root: str) -> StageRun:
    executors = _slurm_executors(pipelines, opts, logging_root)
    if opts.dry_run:
        scripts = render_slurm(executors, [pl.name for pl in pipelines], logging_root)
        return StageRun(False, f"wrote the Slurm scripts and {logging_root}/submit.sh (dry run: nothing submitted)",
                        scripts)
    if shutil.which("sbatch") is None:
        raise ScaleoutError("--executor slurm: no 'sbatch' on PATH (run on a Slurm login node, or pass --dry_run "
                            "to write the scripts)")
    executors[-1].run()  # launches its dependencies first, chained with --dependency
    return StageRun(False, f"submitted to Slurm (job {executors[-1].job_id}); rerun the same command after it "
                           "ends to check or resume")


def render_slurm(executors: list, names: list[str], logging_root: str) -> dict[str, str]:
    """Write each executor's pickled pipeline, ranks and launch script as ``launch_job`` would, and a
    ``submit.sh`` that submits them in order, each after the previous one succeeded. Nothing is submitted."""
    import dill
    from datatrove.io import get_datafolder
    from dill import CONTENTS_FMODE

    scripts: dict[str, str] = {}
    submit = ["#!/bin/bash", "# Submits the pipelines in order (written by a --dry_run; datatrove would run these).",
              "set -euo pipefail"]
    prev_var = None
    for ex, name in zip(executors, names, strict=True):
        ex.depends = None  # dependencies are chained by submit.sh below
        ranks = ex.get_incomplete_ranks()
        with ex.logging_dir.open("executor.pik", "wb") as fh:
            dill.dump(ex, fh, fmode=CONTENTS_FMODE)
        with ex.logging_dir.open("ranks_to_run.json", "w") as fh:
            json.dump(ranks, fh)
        n_jobs = max(1, -(-len(ranks) // ex.tasks_per_job))
        max_array = min(n_jobs, ex.max_array_size) if ex.max_array_size != -1 else n_jobs
        text = ex.get_launch_file_contents(
            ex.get_sbatch_args(max_array),
            f"srun -l -n {ex.nodes_per_task} launch_pickled_pipeline {ex.logging_dir.resolve_paths('executor.pik')}")
        with ex.logging_dir.open("launch_script.slurm", "w") as fh:
            fh.write(text)
        scripts[name] = text
        script = ex.logging_dir.resolve_paths("launch_script.slurm")
        var = f"JOB_{name.upper()}"
        for offset in range(max(1, -(-n_jobs // max_array))):
            # as launch_job chains them: each array job after the previous one, so that the next pipeline,
            # which waits for the last, starts only when all of them have ended
            deps = ([f"afterok:${prev_var}"] if prev_var else []) + ([f"afterany:${var}"] if offset else [])
            dep = f" --dependency={','.join(deps)}" if deps else ""
            submit.append(f"{var}=$(sbatch --parsable --export=ALL,RUN_OFFSET={offset}{dep} {script})")
        prev_var = var
    with get_datafolder(logging_root).open("submit.sh", "w") as fh:
        fh.write("\n".join(submit) + "\n")
    return scripts


def local_dir_of(path: str) -> str | None:
    """The local filesystem path behind ``path`` (plain or ``file://``), or None for a remote fsspec URL."""
    from fsspec.core import url_to_fs
    from fsspec.implementations.local import LocalFileSystem

    fs, p = url_to_fs(path)
    return p if isinstance(fs, LocalFileSystem) else None

