"""Metrics: JSONL log per step/eval (rank 0), optional wandb, MFU and memory figures."""
from __future__ import annotations

import json
import os
import resource
from pathlib import Path

import torch

# Dense bf16 peak FLOP/s per GPU (vendor datasheets, no sparsity). MFU is None where the peak is unknown.
PEAK_BF16_FLOPS = {"H100": 989.4e12, "H200": 989.4e12, "H800": 989.4e12, "GH200": 989.4e12,
                   "A100": 312e12, "A800": 312e12, "L40S": 362e12, "A10G": 125e12, "B200": 2250e12}


def peak_flops(device: torch.device) -> float | None:
    """Peak bf16 FLOP/s of ``device`` ($NJSL_PEAK_FLOPS overrides); None on CPU/unknown GPUs."""
    if os.environ.get("NJSL_PEAK_FLOPS"):
        return float(os.environ["NJSL_PEAK_FLOPS"])
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, value in PEAK_BF16_FLOPS.items():
        if key in name:
            return value
    return None


def memory_gib(device: torch.device) -> float:
    """Peak memory of this process: CUDA allocator peak on GPU, max RSS on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


class MetricsLogger:
    """Appends one JSON object per line to ``metrics.jsonl`` (flushed each line) and mirrors it to wandb."""

    def __init__(self, path: Path, enabled: bool, wandb_run=None):
        self.path, self.enabled, self.wandb = path, enabled, wandb_run
        # held open for the whole run (one line per step), closed by close()
        self._fh = open(path, "a", encoding="utf-8") if enabled else None  # noqa: SIM115

    def log(self, record: dict) -> None:
        if self._fh is None:  # disabled (not rank 0)
            return
        self._fh.write(json.dumps(record) + "\n")
        self._fh.flush()
        if self.wandb is not None:
            self.wandb.log({k: v for k, v in record.items() if k != "step" and v is not None}, step=record["step"])

    def close(self) -> None:
        if self._fh:
            self._fh.close()
        if self.wandb is not None:
            self.wandb.finish()


def truncate_metrics(path: Path, last_step: int) -> None:
    """Drop records after ``last_step`` (a run resumed from that checkpoint logs them again)."""
    if not path.is_file():
        return
    from njsl.atomic import write_text_atomic

    keep = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:  # a line cut by kill -9
            continue
        if rec.get("step", 0) <= last_step:
            keep.append(line)
    write_text_atomic(path, "".join(k + "\n" for k in keep))


def read_metrics(path: str | Path, kind: str | None = "train") -> list[dict]:
    """Records of ``metrics.jsonl`` (``kind`` train|eval|None for all); a line cut by a killed run is skipped."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:  # a line cut by kill -9
            continue
        if isinstance(rec, dict) and (kind is None or rec.get("kind") == kind):
            out.append(rec)
    return out


def init_wandb(project: str | None, run_dir: Path, name: str, config: dict, run_id: str | None):
    """A wandb run when a project is configured (``WANDB_MODE=offline`` works without network), else None."""
    project = project or os.environ.get("WANDB_PROJECT")
    if not project:
        return None
    import wandb

    return wandb.init(project=project, name=name, dir=str(run_dir), config=config, id=run_id, resume="allow",
                      entity=os.environ.get("WANDB_ENTITY") or None)
