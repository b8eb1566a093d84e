"""Trainer throughput: tokens/s and MFU of the real training step for model configs, on whatever device.

Uses the trainer's own ``build_model`` / ``parallelize`` / ``train_step`` (FSDP2 + bf16 + compile on GPU,
fp32 on CPU) on token batches from real text (Python's stdlib sources, tokenised with a BPE trained here),
so the figure is the trainer's, not a toy loop's. ``--compare_fp32`` also reports how closely bf16 losses
track fp32 over the first steps.

    python benchmarks/bench_trainer.py --configs tiny_cpu                      # CPU
    python benchmarks/bench_trainer.py --configs Llama2_220M Llama2_460M Llama2_1B --compile --micro_batch 8
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import sysconfig
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pretraining.models.counts import flops_per_token, format_params  # noqa: E402
from pretraining.models.run_config import load_run_config  # noqa: E402
from pretraining.models.registry import build_model, count_parameters  # noqa: E402
from pretraining.models.objectives import get_objective  # noqa: E402
from pretraining.train.distributed import autocast, init_distributed, parallelize  # noqa: E402
from pretraining.train.loop import train_step  # noqa: E402
from pretraining.train.metrics import memory_gib, peak_flops  # noqa: E402
from pretraining.train.schedule import lr_lambda  # noqa: E402


def text_tokens(vocab_size: int, n_tokens: int) -> torch.Tensor:
    """A token stream from the stdlib's sources and docstrings, tokenised by a BPE trained on them."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    texts, total = [], 0
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, OSError):
            continue
        total += len(texts[-1])
        if total > 6 * n_tokens:
            break
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=min(vocab_size, 8192), show_progress=False))
    ids = [i for enc in tok.encode_batch(texts) for i in enc.ids + [0]]
    while len(ids) < n_tokens:
        ids = ids + ids
    return torch.tensor(ids[:n_tokens], dtype=torch.long)


def bench(name: str, args, info, stream: torch.Tensor, precision: str) -> dict:
    cfg = load_run_config(REPO / "pretraining" / "configs" / "models" / f"{name}.yaml",
                          [f"training.compile={str(args.compile).lower()}", f"training.precision={precision}",
                           f"training.activation_checkpointing={str(args.activation_checkpointing).lower()}"]
                          + ([f"model.sequence_length={args.seq}"] if args.seq else []))
    m, t = cfg.model, cfg.training
    if m.vocab_size is None:
        m.vocab_size = 8192
    torch.manual_seed(0)
    from pretraining.train.distributed import resolve_precision

    dtype = resolve_precision(t, info.device)
    with torch.device(info.device):
        model = build_model(m)
    n_params = count_parameters(model)
    model, mode = parallelize(model, t, info, dtype)
    opt = torch.optim.AdamW(model.parameters(), lr=t.lr, betas=(t.beta1, t.beta2), weight_decay=t.weight_decay,
                            fused=info.device.type == "cuda")
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(lr=t.lr, min_lr=t.min_lr, warmup_steps=10,
                                                             total_steps=1000))
    objective, amp = get_objective(m.objective), autocast(mode, dtype, info.device)
    seq, mb = m.sequence_length, args.micro_batch
    per_step = mb * args.accumulation * seq
    losses, times = [], []
    for step in range(args.warmup + args.steps):
        batches = []
        for i in range(args.accumulation):
            start = ((step * args.accumulation + i) * mb * (seq + 1)) % (len(stream) - mb * (seq + 1))
            batches.append(stream[start:start + mb * (seq + 1)].view(mb, seq + 1))
        if info.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss, _, _ = train_step(model, opt, sched, batches, objective, generator=None, mode=mode, amp=amp,
                                grad_clip=t.grad_clip, world_size=info.world_size)
        if info.device.type == "cuda":
            torch.cuda.synchronize()
        losses.append(loss)
        if step >= args.warmup:
            times.append(time.perf_counter() - t0)
    dt = sorted(times)[len(times) // 2]  # median step: robust to a stray slow step
    tps = per_step / dt
    peak = peak_flops(info.device)
    ftok = flops_per_token(m)
    out = {"config": name, "params": n_params, "params_h": format_params(n_params), "device": _device_name(info),
           "precision": str(dtype).removeprefix("torch."), "mode": mode, "compile": args.compile,
           "activation_checkpointing": args.activation_checkpointing, "micro_batch": mb, "seq": seq,
           "accumulation": args.accumulation, "median_step_s": dt, "tokens_per_s": tps,
           "tflops_per_s": ftok * tps / 1e12, "mfu": ftok * tps / peak if peak else None,
           "memory_gib": memory_gib(info.device), "losses": losses}
    del model, opt
    if info.device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    return out


def _device_name(info) -> str:
    if info.device.type == "cuda":
        return torch.cuda.get_device_name(info.device)
    return f"cpu ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", nargs="+", default=["tiny_cpu"])
    ap.add_argument("--micro_batch", type=int, default=8)
    ap.add_argument("--accumulation", type=int, default=1)
    ap.add_argument("--seq", type=int, help="override the sequence length")
    ap.add_argument("--steps", type=int, default=10, help="timed steps (after --warmup)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--activation_checkpointing", action="store_true")
    ap.add_argument("--compare_fp32", action="store_true", help="also run fp32 and report the loss gap")
    ap.add_argument("--json", help="append results as JSON lines here")
    args = ap.parse_args(argv)
    info = init_distributed()
    stream = text_tokens(8192, 4_000_000 if info.device.type == "cuda" else 200_000)
    print(f"load average: {open('/proc/loadavg').read().split()[:3]}", file=sys.stderr)
    for name in args.configs:
        precisions = ["auto"] + (["fp32"] if args.compare_fp32 else [])
        results = [bench(name, args, info, stream, p) for p in precisions]
        for r in results:
            mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] else "n/a (CPU: no peak)"
            print(f"{name:12s} {r['params_h']:>7s} {r['precision']:8s} {r['mode']:4s} compile={r['compile']!s:5s} "
                  f"mb={r['micro_batch']} seq={r['seq']}: {r['tokens_per_s']:,.0f} tokens/s, "
                  f"{1000 * r['tflops_per_s']:,.1f} GFLOP/s, MFU {mfu}, {r['memory_gib']:.1f} GiB, "
                  f"step {r['median_step_s'] * 1000:.0f} ms on {r['device']}")
        if len(results) == 2:
            a, b = results[0]["losses"], results[1]["losses"]
            gap = max(abs(x - y) for x, y in zip(a, b))
            print(f"{name}: bf16 vs fp32 losses over {len(a)} steps: max |diff| {gap:.4f}; "
                  f"bf16 {a[0]:.3f}->{a[-1]:.3f}, fp32 {b[0]:.3f}->{b[-1]:.3f}")
        if args.json:
            with open(args.json, "a", encoding="utf-8") as fh:
                for r in results:
                    fh.write(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
