"""Process group set-up and model parallelisation (FSDP2 / DDP), compile and activation checkpointing.

Launched by ``torchrun`` (``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` set) it joins the process group — NCCL on
GPU, gloo on CPU; launched as plain ``python`` it runs single-process without a process group.
"""
from __future__ import annotations

import os
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from pretraining.config import ConfigError, TrainingConfig


@dataclass
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return dist.is_available() and dist.is_initialized()


def init_distributed() -> DistInfo:
    """Join the process group when launched by torchrun; pick the device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", device_id=
                                device if device.type == "cuda" else None)
    return DistInfo(rank, world, local_rank, device)


def destroy_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def resolve_precision(cfg: TrainingConfig, device: torch.device) -> torch.dtype:
    """bf16 on GPU and fp32 on CPU by default."""
    if cfg.precision == "bf16" and device.type != "cuda":
        raise ConfigError("training.precision: bf16 needs a GPU; use fp32 (or auto) on CPU")
    if cfg.precision == "fp32" or (cfg.precision == "auto" and device.type != "cuda"):
        return torch.float32
    return torch.bfloat16


def resolve_parallelism(cfg: TrainingConfig, info: DistInfo) -> str:
    """auto: FSDP2 on GPU (any world size; it also applies bf16 mixed precision), DDP on CPU with >1 rank."""
    if cfg.parallelism != "auto":
        if cfg.parallelism == "none" and info.world_size > 1:
            raise ConfigError("training.parallelism: none cannot run with more than one process; use fsdp or ddp")
        return cfg.parallelism
    if info.device.type == "cuda":
        return "fsdp"
    return "ddp" if info.world_size > 1 else "none"


def blocks(model: nn.Module) -> list[nn.Module]:
    """The repeated blocks of a model: modules whose class HF lists in ``_no_split_modules``."""
    names = set(getattr(model, "_no_split_modules", None) or [])
    found = [m for m in model.modules() if type(m).__name__ in names]
    # outermost only: Mamba lists both MambaBlock and its MambaMixer, and FSDP2 shards bottom-up
    inner = {id(c) for m in found for c in m.modules() if c is not m}
    found = [m for m in found if id(m) not in inner]
    if not found:  # families outside HF: every child of the largest ModuleList
        lists = [m for m in model.modules() if isinstance(m, nn.ModuleList)]
        sizes = [len(m) for m in lists]
        found = list(lists[sizes.index(max(sizes))]) if lists else []
    return found


def parallelize(model: nn.Module, cfg: TrainingConfig, info: DistInfo, dtype: torch.dtype) -> tuple[nn.Module, str]:
    """Apply activation checkpointing, compile and FSDP2/DDP (in torchtitan's order). Returns (model, mode)."""
    mode = resolve_parallelism(cfg, info)
    if cfg.activation_checkpointing:
        if not getattr(model, "supports_gradient_checkpointing", False):
            raise ConfigError("training.activation_checkpointing: this model family does not support it")
        # non-reentrant checkpointing composes with FSDP2 and compile
        hf: Any = model  # an HF PreTrainedModel (checked above); nn.Module does not declare the method
        hf.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if cfg.compile:
        for block in blocks(model):
            block.compile()  # per-block, in place: parameter names (checkpoint keys) stay unchanged
    if mode == "fsdp":
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mp = MixedPrecisionPolicy(param_dtype=dtype, reduce_dtype=torch.float32)
        if not (dist.is_available() and dist.is_initialized()):
            # FSDP2 needs a process group even for one GPU (then it only applies mixed precision);
            # an in-process store needs no port
            dist.init_process_group(backend="nccl" if info.device.type == "cuda" else "gloo",
                                    store=dist.HashStore(), rank=0, world_size=1)
        for block in blocks(model):
            fully_shard(block, mp_policy=mp)
        fully_shard(model, mp_policy=mp)
    elif mode == "ddp":
        from torch.nn.parallel import DistributedDataParallel as DDP

        model = DDP(model, device_ids=[info.local_rank] if info.device.type == "cuda" else None)
    return model, mode


def autocast(mode: str, dtype: torch.dtype, device: torch.device):
    """bf16 autocast for DDP/single-device runs; FSDP2 casts parameters itself."""
    if dtype == torch.float32 or mode == "fsdp":
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@contextmanager
def gradient_sync(model: nn.Module, mode: str, enabled: bool):
    """Skip the gradient all-reduce on all but the last micro-batch of an accumulation."""
    wrapped: Any = model  # DDP (no_sync) or an FSDP2 module (set_requires_gradient_sync), by mode
    if mode == "ddp" and not enabled:
        with wrapped.no_sync():
            yield
    else:
        if mode == "fsdp":
            wrapped.set_requires_gradient_sync(enabled)
        yield
