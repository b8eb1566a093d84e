"""Forward+backward time of one training micro-batch for each (family, mode) preset, with the real objective.

    python benchmarks/bench_architectures.py --preset 20M --batch 2 --seq 256 --threads 1 --families transformer hyena
"""
from __future__ import annotations

import argparse
import time

import torch


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="20M")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--families", nargs="+", default=["transformer", "hyena", "mamba"])
    ap.add_argument("--modes", nargs="+", default=["clm", "mlm"])
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from pretraining.models.architectures import build
    from pretraining.models.json_layout import model_config_from_layout
    from pretraining.models.objectives import get_objective

    for family in args.families:
        for mode in args.modes:
            torch.manual_seed(0)
            layout = {"model_type": family, "mode": mode,
                      "model_config": {"preset": args.preset, "max_position_embeddings": max(512, args.seq)}}
            cfg = model_config_from_layout(layout, vocab_size=73, mask_token_id=4 if mode == "mlm" else None)
            model, objective = build(cfg), get_objective(mode)
            gen = torch.Generator().manual_seed(0)
            tokens = torch.randint(5, 73, (args.batch, args.seq + 1))
            times = []
            for _ in range(args.repeats + 1):  # the first call warms up allocators
                t0 = time.perf_counter()
                loss_sum, n = objective(model, tokens, -1, gen)
                (loss_sum / n).backward()
                times.append(time.perf_counter() - t0)
            best = min(times[1:])
            print(f"{family:<12}{mode:<5}{args.preset:<6} fwd+bwd {best:.2f} s  "
                  f"({args.batch * args.seq / best:,.0f} tokens/s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
