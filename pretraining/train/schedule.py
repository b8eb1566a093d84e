"""Learning-rate schedule: linear warmup, then cosine decay to the minimum LR (the paper's default)."""
from __future__ import annotations

import math


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


def lr_lambda(*, lr: float, min_lr: float, warmup_steps: int, total_steps: int):
    """Multiplier for ``torch.optim.lr_scheduler.LambdaLR`` (whose base LR is ``lr``)."""
    def fn(step: int) -> float:
        return lr_at(step, lr=lr, min_lr=min_lr, warmup_steps=warmup_steps, total_steps=total_steps) / lr if lr else 0.0
    return fn
