"""The training step as it was before the GPU-ready rewrite (verbatim, four host syncs per step).

Kept as the reference the rewrite is held to: ``tests/trainer/test_step_rewrite.py`` asserts bit-identical
CPU losses against it, and ``benchmarks/bench_trainer.py --cpu_compare`` times both in one run.
Not used by the trainer.
"""
from __future__ import annotations

import math

import torch

from pretraining.models.objectives import PAD_ID
from pretraining.train.distributed import all_reduce_sum, gradient_sync


def reference_train_step(model, optimizer, scheduler, batches, objective, *, generator, mode, amp, grad_clip,
                         world_size) -> tuple[float, int, float]:
    """One optimizer step over this rank's micro-batches. Returns (loss per token, tokens, grad norm)."""
    device = next(model.parameters()).device
    optimizer.zero_grad(set_to_none=True)
    loss_sum, n_tokens = torch.zeros((), device=device), torch.zeros((), device=device)
    for i, tokens in enumerate(batches):
        with gradient_sync(model, mode, enabled=i == len(batches) - 1):
            with amp:
                ls, n = objective(model, tokens.to(device, non_blocking=True), PAD_ID, generator)
            ls.backward()
        loss_sum += ls.detach().float()
        n_tokens += n
    totals = all_reduce_sum(torch.stack([loss_sum, n_tokens.float()]))
    scale = world_size / max(totals[1].item(), 1.0)
    for p in model.parameters():
        if p.grad is not None:
            p.grad.mul_(scale)
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip or float("inf"))
    grad_norm = grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm
    loss = (totals[0] / totals[1].clamp(min=1)).item()
    if math.isfinite(loss):
        optimizer.step()
        scheduler.step()
    return loss, int(totals[1].item()), float(grad_norm)
