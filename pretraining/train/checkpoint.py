"""Checkpoints with ``torch.distributed.checkpoint`` (DCP): model, optimizer, scheduler, data position, RNG.

Layout: ``checkpoints/step_N/`` (DCP shards + ``trainer_state_rank{r}.pt``) and ``checkpoints/latest`` -> step_N.
Each checkpoint is written into ``step_N.partial`` and renamed when every rank finished, so a run killed
during a save (kill -9) leaves no checkpoint that looks complete; resuming skips and removes partial ones.
The trainer saves with :class:`AsyncCheckpointer` (``dcp.async_save``: staged to CPU, written in the background).
"""
from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import (StateDictOptions, get_model_state_dict, get_state_dict,
                                                     set_model_state_dict, set_state_dict)

from pretraining.train.distributed import barrier

_STEP = re.compile(r"^step_(\d+)$")


def step_dirs(ckpt_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints, oldest first."""
    if not ckpt_dir.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in ckpt_dir.iterdir() if (m := _STEP.match(p.name)) and p.is_dir()]
    return sorted(found)


def latest_checkpoint(ckpt_dir: Path) -> Path | None:
    """The ``latest`` link's target if valid, else the highest complete ``step_N``."""
    link = ckpt_dir / "latest"
    if link.is_symlink() and (ckpt_dir / os.readlink(link)).is_dir():
        return ckpt_dir / os.readlink(link)
    dirs = step_dirs(ckpt_dir)
    return dirs[-1][1] if dirs else None


def _rng_state(generator: torch.Generator | None) -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    if generator is not None:
        state["objective"] = generator.get_state()
    return state


def _set_rng_state(state: dict, generator: torch.Generator | None) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
    if generator is not None and "objective" in state:
        generator.set_state(state["objective"])


def _finish(ckpt_dir: Path, partial: Path, final: Path, rank: int, keep_last: int) -> None:
    """Collective: once every rank wrote its shards, rename ``step_N.partial`` and switch ``latest``."""
    barrier()
    if rank == 0:
        if final.exists():
            shutil.rmtree(final)
        os.replace(partial, final)
        tmp_link = ckpt_dir / ".latest.tmp"
        tmp_link.unlink(missing_ok=True)
        tmp_link.symlink_to(final.name)
        os.replace(tmp_link, ckpt_dir / "latest")  # atomic switch of the pointer
        for _, old in step_dirs(ckpt_dir)[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
    barrier()


def _begin(ckpt_dir: Path, step: int, model, optimizer, scheduler, trainer_state: dict,
           generator: torch.Generator | None, rank: int) -> tuple[Path, Path, dict]:
    final, partial = ckpt_dir / f"step_{step}", ckpt_dir / f"step_{step}.partial"
    if rank == 0:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
    barrier()
    model_sd, optim_sd = get_state_dict(model, optimizer)
    # small per-rank state: torch.save is enough and keeps RNG streams rank-specific
    torch.save({"trainer": trainer_state, "scheduler": scheduler.state_dict(), "rng": _rng_state(generator)},
               partial / f"trainer_state_rank{rank}.pt")
    return final, partial, {"model": model_sd, "optim": optim_sd}


class AsyncCheckpointer:
    """``dcp.async_save`` with staging: the training thread only copies the state into (pinned) CPU memory;
    a background thread writes it, and training goes on.

    The checkpoint stays ``step_N.partial`` until :meth:`finish` (collective) renames it once every rank's write
    is done; the loop calls :meth:`finish_if_done` at log steps (ranks agree on "done" there) and :meth:`finish`
    before the next save, on a stop signal and at the end. A kill before that leaves only a partial folder,
    which resuming removes; the previous checkpoint stays ``latest``.
    """

    def __init__(self, ckpt_dir: Path, rank: int, keep_last: int, *, cuda: bool, process_group=None):
        from torch.distributed.checkpoint.staging import DefaultStager, StagingOptions

        self.ckpt_dir, self.rank, self.keep_last, self.pg = ckpt_dir, rank, keep_last, process_group
        # pinned memory + non-blocking copies on GPU; on CPU the stager still deep-copies (weights move on)
        self.stager = DefaultStager(StagingOptions(cuda, False, False, cuda))
        self.pending: tuple | None = None  # (final, partial, upload future)

    def save(self, step: int, model, optimizer, scheduler, trainer_state: dict,
             generator: torch.Generator | None) -> None:
        """Collective: stage this step's state and start writing it in the background."""
        self.finish()
        final, partial, state = _begin(self.ckpt_dir, step, model, optimizer, scheduler, trainer_state, generator,
                                       self.rank)
        result = dcp.async_save(state, checkpoint_id=str(partial), async_stager=self.stager, process_group=self.pg)
        upload = getattr(result, "upload_completion", result)
        if hasattr(result, "staging_completion"):
            result.staging_completion.result()  # the weights may change only after they were copied
        self.pending = (final, partial, upload)

    def done(self) -> bool:
        """This rank's background write has ended (or nothing is pending)."""
        return self.pending is None or self.pending[2].done()

    def finish(self) -> Path | None:
        """Collective: wait for the pending write and make it the latest checkpoint; returns it (None: none)."""
        if self.pending is None:
            return None
        final, partial, upload = self.pending
        self.pending = None
        upload.result()  # re-raises a failed write here rather than losing it silently
        _finish(self.ckpt_dir, partial, final, self.rank, self.keep_last)
        return final

    def close(self) -> None:
        self.stager.close()


def load_checkpoint(path: Path, model, optimizer, scheduler, generator: torch.Generator | None, rank: int) -> dict:
    """Restore everything saved by :class:`AsyncCheckpointer`; returns the trainer state (step, tokens...)."""
    model_sd, optim_sd = get_state_dict(model, optimizer)
    state: dict[str, Any] = {"model": model_sd, "optim": optim_sd}
    dcp.load(state, checkpoint_id=str(path))
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    rank_file = path / f"trainer_state_rank{rank}.pt"
    if not rank_file.is_file():  # resumed on more ranks than saved: RNG of rank 0, streams then diverge
        rank_file = path / "trainer_state_rank0.pt"
    extra = torch.load(rank_file, weights_only=False)
    scheduler.load_state_dict(extra["scheduler"])
    _set_rng_state(extra["rng"], generator)
    return extra["trainer"]


def load_model_weights(path: Path, model) -> None:
    """Load only the model weights of a checkpoint into a plain (unsharded) model, e.g. for export."""
    sd = get_model_state_dict(model)
    dcp.load({"model": sd}, checkpoint_id=str(path))
    set_model_state_dict(model, sd, options=StateDictOptions(strict=True))


def clean_partial(ckpt_dir: Path) -> None:
    """Remove checkpoints a killed run left half-written."""
    if ckpt_dir.is_dir():
        for p in ckpt_dir.glob("step_*.partial"):
            shutil.rmtree(p, ignore_errors=True)
