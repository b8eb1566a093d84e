"""Learning-rate schedule: linear warmup, then cosine decay to the minimum LR (the paper's default).

An extended run (``njsl train --extend``) appends a *segment*: the schedule of the steps already planned is
unchanged, and the new steps re-warm linearly from ``min_lr`` to ``lr`` over ``warmup_steps`` and decay by
cosine to ``min_lr`` at the new end ("re-warm then decay", as in continual pre-training). The LR of a step is
a pure function of the step and the segment ends, so a resumed or extended run never jumps.
"""
from __future__ import annotations

import math
from collections.abc import Sequence


def lr_at(step: int, *, lr: float, min_lr: float, warmup_steps: int, total_steps: int) -> float:
    """LR for optimizer step ``step`` (0-based count of steps already taken).

    Warmup rises linearly to ``lr`` over ``warmup_steps``; cosine then decays to ``min_lr`` at ``total_steps``.
    """
    if warmup_steps and step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * progress))


def lr_at_segments(step: int, *, lr: float, min_lr: float, warmup_steps: int, ends: Sequence[int]) -> float:
    """LR for 0-based ``step`` of a run planned as segments ending at ``ends`` (first = the original run).

    Segment 0 is :func:`lr_at`. A later segment ``[ends[k-1], ends[k])`` re-warms from ``min_lr`` to ``lr`` over
    ``warmup_steps`` (capped to the segment's length), then decays by cosine to ``min_lr`` at ``ends[k]``.
    """
    if len(ends) <= 1 or step < ends[0]:
        return lr_at(step, lr=lr, min_lr=min_lr, warmup_steps=warmup_steps, total_steps=ends[0])
    k = next((i for i in range(1, len(ends)) if step < ends[i]), len(ends) - 1)
    start, end = ends[k - 1], ends[k]
    local, length = step - start, max(1, end - start)
    warm = min(warmup_steps, length)
    if local >= length:
        return min_lr
    if warm and local < warm:
        return min_lr + (lr - min_lr) * (local + 1) / warm
    progress = (local - warm) / max(1, length - warm)
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * progress))


def lr_lambda(*, lr: float, min_lr: float, warmup_steps: int, total_steps: int | None = None,
              ends: Sequence[int] | None = None):
    """Multiplier for ``torch.optim.lr_scheduler.LambdaLR`` (whose base LR is ``lr``).

    ``ends`` (segment ends, see :func:`lr_at_segments`) replaces ``total_steps`` for extended runs.
    """
    if ends:
        segments = list(ends)
    elif total_steps is not None:
        segments = [total_steps]
    else:
        raise ValueError("lr_lambda: give total_steps or the segment ends")

    def fn(step: int) -> float:
        value = lr_at_segments(step, lr=lr, min_lr=min_lr, warmup_steps=warmup_steps, ends=segments)
        return value / lr if lr else 0.0
    return fn


def warmup_warning(warmup_steps: int, total_steps: int) -> str | None:
    """A warning when the warmup does not end before the run does (the LR would never reach its peak)."""
    if warmup_steps and warmup_steps >= total_steps:
        return (f"training.warmup_steps: {warmup_steps} >= the run's {total_steps} steps; the LR never reaches "
                f"its peak and never decays (lower warmup_steps or raise train_tokens)")
    return None
