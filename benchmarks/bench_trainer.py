"""Trainer throughput: tokens/s and MFU of the real training step for model configs, on whatever device.

Uses the trainer's own ``build_model`` / ``parallelize`` / ``train_step`` (FSDP2 + bf16 + compile on GPU,
fp32 on CPU) on token batches from real text (Python's stdlib sources, tokenised with a BPE trained here),
so the figure is the trainer's, not a toy loop's. ``--compare_fp32`` also reports how closely bf16 losses
track fp32 over the first steps. ``--cpu_compare`` times the training loop before and after the GPU-ready
rewrite in one run (the pre-rewrite step, ``pretraining.train.reference_step``, reading samples on the training
thread, against the current step fed by the step-indexed DataLoader) on the same megatron dataset, and checks
that their losses are bit-identical.

    python benchmarks/bench_trainer.py --configs tiny_cpu                      # CPU
    python benchmarks/bench_trainer.py --cpu_compare --steps 20                 # CPU: steps/s before/after
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
from pretraining.train.reference_step import reference_train_step  # noqa: E402
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
        stats = train_step(model, opt, sched, batches, objective, generator=None, mode=mode, amp=amp,
                           grad_clip=t.grad_clip, world_size=info.world_size)
        if info.device.type == "cuda":
            torch.cuda.synchronize()
        losses.append(float(stats[0]))
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


def _write_bin(stream: torch.Tensor, folder: Path) -> str:
    """The token stream as a megatron .bin/.idx (documents end at token 0, the BPE's first id, used as EOD)."""
    import numpy as np
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    prefix = str(folder / "bench_text_document")
    builder = IndexedDatasetBuilder(prefix + ".bin", dtype=np.uint16)
    ends = (stream == 0).nonzero().flatten().tolist()
    start = 0
    for end in ends:
        if end + 1 - start > 1:
            builder.add_document(stream[start:end + 1], [end + 1 - start])
        start = end + 1
    builder.finalize(prefix + ".idx")
    return prefix


def cpu_compare(args, info, stream: torch.Tensor) -> dict:
    """Steps/s of the tiny config's loop before and after the step rewrite, and whether the losses are equal."""
    import tempfile

    from pretraining.data.batches import StepBatches, build_datasets, step_batch, step_loader

    cfg = load_run_config(REPO / "pretraining" / "configs" / "models" / "tiny_cpu.yaml", ["training.precision=fp32"])
    m, t = cfg.model, cfg.training
    m.vocab_size = 8192
    gb, mb, steps = t.global_batch_size, t.micro_batch_size, args.warmup + args.steps
    accumulation = gb // mb
    with tempfile.TemporaryDirectory() as tmp:
        splits = build_datasets(_write_bin(stream, Path(tmp)), seed=t.seed, sequence_length=m.sequence_length,
                                split="100,0,0", vocab_size=8192, eod_id=0, n_train=steps * gb, n_valid=0, n_test=0,
                                cache_dir=tmp)
        out = {}
        for variant in ("before", "after"):
            torch.manual_seed(t.seed)
            model = build_model(m)
            opt = torch.optim.AdamW(model.parameters(), lr=t.lr, betas=(t.beta1, t.beta2), weight_decay=t.weight_decay)
            sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(lr=t.lr, min_lr=t.min_lr,
                                                                     warmup_steps=t.warmup_steps, total_steps=steps))
            objective, amp = get_objective(m.objective), autocast("none", torch.float32, info.device)
            kw = dict(generator=None, mode="none", amp=amp, grad_clip=t.grad_clip, world_size=1)
            losses, t0 = [], time.perf_counter()
            if variant == "before":  # samples read on the training thread, four host reads per step
                for step in range(1, steps + 1):
                    if step == args.warmup + 1:
                        t0 = time.perf_counter()
                    batches = [step_batch(splits.train, step, i, global_batch=gb, micro_batch=mb, rank=0,
                                          world_size=1) for i in range(accumulation)]
                    losses.append(reference_train_step(model, opt, sched, batches, objective, **kw)[0])
            else:  # DataLoader workers read ahead; results stay tensors until read (log steps)
                loader = step_loader(StepBatches(splits.train, 1, steps, accumulation=accumulation, global_batch=gb,
                                                 micro_batch=mb, rank=0, world_size=1),
                                     workers=args.data_workers, pin_memory=False)
                stats = []
                for step, batches in enumerate(loader, 1):
                    if step == args.warmup + 1:
                        t0 = time.perf_counter()
                    stats.append(train_step(model, opt, sched, batches, objective, **kw))
                losses = [float(s[0]) for s in stats]
            out[variant] = {"steps_per_s": args.steps / (time.perf_counter() - t0), "losses": losses}
    out["ratio"] = out["after"]["steps_per_s"] / out["before"]["steps_per_s"]
    out["identical_losses"] = out["before"]["losses"] == out["after"]["losses"]
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
    ap.add_argument("--cpu_compare", action="store_true",
                    help="tiny_cpu: steps/s of the loop before vs after the step rewrite, and loss equality")
    ap.add_argument("--data_workers", type=int, default=2, help="DataLoader workers for --cpu_compare (default 2)")
    args = ap.parse_args(argv)
    info = init_distributed()
    stream = text_tokens(8192, 4_000_000 if info.device.type == "cuda" else 200_000)
    print(f"load average: {Path('/proc/loadavg').read_text().split()[:3]}", file=sys.stderr)
    if args.cpu_compare:
        r = cpu_compare(args, info, stream)
        print(f"tiny_cpu on {_device_name(info)}, {args.steps} timed steps after {args.warmup}: before "
              f"{r['before']['steps_per_s']:.3f} steps/s, after {r['after']['steps_per_s']:.3f} steps/s "
              f"(ratio {r['ratio']:.3f}); losses bit-identical: {r['identical_losses']}")
        return 0 if r["identical_losses"] else 1
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
            gap = max(abs(x - y) for x, y in zip(a, b, strict=True))
            print(f"{name}: bf16 vs fp32 losses over {len(a)} steps: max |diff| {gap:.4f}; "
                  f"bf16 {a[0]:.3f}->{a[-1]:.3f}, fp32 {b[0]:.3f}->{b[-1]:.3f}")
        if args.json:
            with open(args.json, "a", encoding="utf-8") as fh:
                for r in results:
                    fh.write(json.dumps(r) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
