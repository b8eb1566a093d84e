"""Weight, gradient and activation norms for the metrics log (a ``"kind": "norms"`` record every N steps).

Parameters are grouped as ``embedding`` (input token/position embeddings), ``layer_<i>`` (the i-th repeated
block), ``head`` (an untied output projection) and ``other`` (final norm, ...). Every figure is an L2 norm over
the group's parameters (or their gradients); activations are the root mean square of each block's output
hidden states over every token of the step's micro-batches, collected by forward hooks that exist only during
the steps that log them.

Cost: one pass over the parameters (and gradients) and one reduction per group, on the logging steps only;
nothing is computed on other steps. Sharded (FSDP2 DTensor) parameters are reduced across ranks — every rank
must call these functions on the same steps.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn


def param_groups(model: nn.Module, blocks: Sequence[nn.Module]) -> dict[str, list[nn.Parameter]]:
    """Unique parameters of ``model`` by group, in a stable order (embedding, layer_0.., head, other)."""
    inner: Any = getattr(model, "module", model)  # DDP keeps the model in .module; HF methods below
    owner: dict[int, str] = {}
    emb = inner.get_input_embeddings() if hasattr(inner, "get_input_embeddings") else None
    head = inner.get_output_embeddings() if hasattr(inner, "get_output_embeddings") else None
    for i, block in enumerate(blocks):
        for p in block.parameters():
            owner.setdefault(id(p), f"layer_{i}")
    embeddings = [m for m in inner.modules() if isinstance(m, nn.Embedding)] + ([emb] if emb is not None else [])
    for module in embeddings:
        for p in module.parameters():
            owner.setdefault(id(p), "embedding")
    if head is not None:
        for p in head.parameters():
            owner.setdefault(id(p), "head")  # a tied head's weight is already the embedding's
    groups: dict[str, list[nn.Parameter]] = {"embedding": []}
    groups.update({f"layer_{i}": [] for i in range(len(blocks))})
    groups.update(head=[], other=[])
    seen: set[int] = set()
    for p in inner.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            groups[owner.get(id(p), "other")].append(p)
    return {k: v for k, v in groups.items() if v}


def _local(t: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """(the local shard of ``t``, whether it is a sharded DTensor)."""
    if hasattr(t, "to_local"):
        return t.to_local(), True
    return t, False


def _group_norms(groups: dict[str, list[torch.Tensor | None]], prefix: str) -> dict[str, float]:
    """L2 norm per group and of everything (``<prefix>/global``); one device→host copy in all."""
    sums, sharded, device = [], False, None
    for tensors in groups.values():
        total = None
        for t in tensors:
            if t is None:
                continue
            local, is_dt = _local(t.detach())
            sharded |= is_dt
            sq = local.float().pow(2).sum()
            total = sq if total is None else total + sq
            device = local.device
        sums.append(total)
    if device is None:
        return {}
    vec = torch.stack([s if s is not None else torch.zeros((), device=device) for s in sums])
    if sharded and torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(vec)
    *values, total = torch.cat([vec, vec.sum()[None]]).sqrt().tolist()
    return {f"{prefix}/global": total, **{f"{prefix}/{name}": v for name, v in zip(groups, values, strict=True)}}


def weight_norms(model: nn.Module, blocks: Sequence[nn.Module]) -> dict[str, float]:
    """``weight_norm/global`` and ``weight_norm/<group>`` (L2 over the group's parameters)."""
    return _group_norms({k: list(v) for k, v in param_groups(model, blocks).items()}, "weight_norm")


def grad_norms(model: nn.Module, blocks: Sequence[nn.Module]) -> dict[str, float]:
    """``grad_norm/global`` and ``grad_norm/<group>`` of the current gradients (call before clipping)."""
    return _group_norms({k: [p.grad for p in v] for k, v in param_groups(model, blocks).items()}, "grad_norm")


class ActivationRMS:
    """Forward hooks recording each block's output RMS while the context is open; removed on exit.

    >>> with ActivationRMS(blocks) as acts:
    ...     loss = objective(model, tokens)          # any number of forwards
    >>> acts.result()                               # {"act_rms/layer_0": ..., ...}
    """

    def __init__(self, blocks: Sequence[nn.Module]):
        self.blocks = list(blocks)
        self._handles: list = []
        self._sq: list[torch.Tensor | None] = [None] * len(self.blocks)
        self._n = [0] * len(self.blocks)

    def _hook(self, index: int):
        def hook(module, inputs, output):
            h = output[0] if isinstance(output, (tuple, list)) else output
            if not torch.is_tensor(h):  # a ModelOutput
                h = getattr(output, "last_hidden_state", None)
            if not torch.is_tensor(h):
                return
            sq = h.detach().float().pow(2).sum()
            self._sq[index] = sq if self._sq[index] is None else self._sq[index] + sq
            self._n[index] += h.numel()

        return hook

    def __enter__(self) -> ActivationRMS:
        self._handles = [b.register_forward_hook(self._hook(i)) for i, b in enumerate(self.blocks)]
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def result(self, reduce: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, float]:
        """``act_rms/layer_<i>``; ``reduce`` (an all-reduce sum) combines ranks' sums and counts."""
        seen = [(i, s) for i, s in enumerate(self._sq) if s is not None]
        if not seen:
            return {}
        vec = torch.stack([torch.stack([s, torch.tensor(float(self._n[i]), device=s.device)]) for i, s in seen])
        if reduce is not None:
            vec = reduce(vec)
        rms = (vec[:, 0] / vec[:, 1].clamp(min=1)).sqrt().tolist()
        return {f"act_rms/layer_{i}": v for (i, _), v in zip(seen, rms, strict=True)}


class NormTracker:
    """The trainer's use of this module: which steps log norms, their activation hooks and their record.

    ``every`` steps (0: never) the record ``{"kind": "norms", "step": s, weight_norm/*, grad_norm/*,
    act_rms/*}`` is built after the optimizer step. Gradient norms are those before clipping:
    ``clip_grad_norm_`` scaled every gradient by one factor, which is undone (the global figure equals the
    train record's ``grad_norm``). ``activations`` False (e.g. compiled blocks, where a hook would trigger a
    recompilation) leaves the activation RMS out.
    """

    def __init__(self, model: nn.Module, blocks: Sequence[nn.Module], every: int, grad_clip: float, *,
                 reduce: Callable[[torch.Tensor], torch.Tensor] | None = None, activations: bool = True):
        self.model, self.blocks, self.every, self.grad_clip = model, list(blocks), every, grad_clip
        self.reduce, self.activations = reduce, activations

    def due(self, step: int) -> bool:
        return self.every > 0 and step % self.every == 0

    def watch(self, step: int) -> ActivationRMS | contextlib.nullcontext:
        """Context for the step's forwards: activation hooks on a norms step, nothing otherwise."""
        if self.due(step) and self.activations:
            return ActivationRMS(self.blocks)
        return contextlib.nullcontext()

    def record(self, step: int, grad_norm: float, acts: ActivationRMS | None = None) -> dict:
        """The norms record of ``step`` (call on every rank after the step; ``grad_norm``: before clipping)."""
        rec: dict = {"kind": "norms", "step": step, **weight_norms(self.model, self.blocks)}
        coef = min(1.0, self.grad_clip / (grad_norm + 1e-6)) if self.grad_clip and math.isfinite(grad_norm) else 1.0
        rec.update({k: v / coef for k, v in grad_norms(self.model, self.blocks).items()})
        if isinstance(acts, ActivationRMS):
            rec.update(acts.result(self.reduce))
        return rec
