"""Cost of the norm records (weight/gradient norms per group, activation RMS hooks) next to a training step.

    PYTHONPATH=$PWD python benchmarks/bench_norms.py --dimension 512 --layers 8 --batch 4 --seq 256

CPU times (process time: the machine may be shared), on the same model: a plain step (forward + backward +
AdamW), a step with the activation hooks attached, and building the norms record after it. Prints the
overhead of one norms step; with ``training.norms_every`` N the average overhead per step is that divided by N.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from pretraining.config import ModelConfig
from pretraining.models.registry import build_model
from pretraining.train.distributed import blocks
from pretraining.train.norms import NormTracker


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dimension", type=int, default=512)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = ModelConfig(dimension=args.dimension, num_layers=args.layers, num_heads=args.dimension // 64,
                      ffn_hidden_size=4 * args.dimension, vocab_size=8192, sequence_length=args.seq)
    model = build_model(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    tracker = NormTracker(model, blocks(model), every=1, grad_clip=1.0)
    tokens = torch.randint(0, cfg.vocab_size, (args.batch, args.seq))

    def step(hooks: bool):
        opt.zero_grad(set_to_none=True)
        with tracker.watch(1) if hooks else torch.enable_grad() as acts:
            loss = model(input_ids=tokens, labels=tokens).loss
            loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return acts, float(norm)

    step(False)  # warm-up
    plain, hooked, record = [], [], []
    for _ in range(args.repeats):
        t0 = time.process_time()
        step(False)
        plain.append(time.process_time() - t0)
        t0 = time.process_time()
        acts, norm = step(True)
        hooked.append(time.process_time() - t0)
        t0 = time.process_time()
        rec = tracker.record(1, norm, acts)
        record.append(time.process_time() - t0)
    n_params = sum(p.numel() for p in model.parameters())
    p, h, r = (statistics.median(x) for x in (plain, hooked, record))
    print(f"model {n_params / 1e6:.1f}M params, {args.batch}x{args.seq} tokens/step, {len(rec) - 2} figures/record")
    print(f"CPU time: plain step {p * 1e3:.0f} ms | step with activation hooks {h * 1e3:.0f} ms | "
          f"norms record {r * 1e3:.0f} ms")
    print(f"one norms step costs {(h - p + r) / p * 100:.1f}% of a step; with norms_every=100: "
          f"{(h - p + r) / p:.3f}% per step on average")


if __name__ == "__main__":
    main()
