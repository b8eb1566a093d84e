"""The training loop: build, parallelise, resume, then step / evaluate / checkpoint until the budget is spent."""
from __future__ import annotations

import hashlib
import json
import math
import signal
import sys
import time
from pathlib import Path

import torch

from njsl.atomic import write_text_atomic
from pretraining.config import ConfigError, RunConfig
from pretraining.models.counts import flops_per_token, format_params, steps_for_budget
from pretraining.models.registry import build_model, count_parameters
from pretraining.models.objectives import PAD_ID, get_objective
from pretraining.train import checkpoint as ckpt
from pretraining.data.batches import build_datasets, check_vocab, eval_batches, step_batch
from pretraining.train.distributed import (DistInfo, all_reduce_sum, autocast, barrier, destroy_distributed,
                                             gradient_sync, init_distributed, parallelize, resolve_precision)
from pretraining.train.metrics import (MetricsLogger, init_wandb, memory_gib, peak_flops, truncate_metrics)
from pretraining.train.schedule import lr_lambda


class TrainingDiverged(RuntimeError):
    """The loss became NaN/inf; the message names the step and the last good checkpoint."""


def train_step(model, optimizer, scheduler, batches, objective, *, generator, mode, amp, grad_clip,
               world_size) -> tuple[float, int, float]:
    """One optimizer step over this rank's micro-batches. Returns (loss per token, tokens, grad norm).

    The loss is token-weighted over the whole global batch: each micro-batch back-propagates its loss *sum*,
    and the gradients are divided once by the global token count (padding never counts).
    """
    device = next(model.parameters()).device
    optimizer.zero_grad(set_to_none=True)
    loss_sum, n_tokens = torch.zeros((), device=device), torch.zeros((), device=device)
    for i, tokens in enumerate(batches):
        with gradient_sync(model, mode, enabled=i == len(batches) - 1):
            with amp:  # forward under autocast (DDP/single device + bf16); backward outside, as PyTorch advises
                ls, n = objective(model, tokens.to(device, non_blocking=True), PAD_ID, generator)
            ls.backward()
        loss_sum += ls.detach().float()
        n_tokens += n
    totals = all_reduce_sum(torch.stack([loss_sum, n_tokens.float()]))
    # DDP/FSDP average gradients over ranks: x world / tokens turns the summed loss into a per-token mean
    scale = world_size / max(totals[1].item(), 1.0)  # a Python float: FSDP2 grads are DTensors
    for p in model.parameters():
        if p.grad is not None:
            p.grad.mul_(scale)
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip or float("inf"))
    grad_norm = grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm
    loss = (totals[0] / totals[1].clamp(min=1)).item()
    if math.isfinite(loss):  # never step on a diverged loss: the weights stay those of the last good step
        optimizer.step()
        scheduler.step()
    return loss, int(totals[1].item()), float(grad_norm)


@torch.no_grad()
def evaluate(model, dataset, objective, *, samples, micro_batch, info: DistInfo, amp, seed) -> dict:
    """Token-weighted validation loss and perplexity (padding excluded) over the first ``samples`` samples."""
    model.eval()
    generator = torch.Generator(device=info.device).manual_seed(seed)  # same masks each evaluation
    # every rank runs the same number of forwards (FSDP all-gathers are collective)
    n = (min(samples, len(dataset)) // info.world_size) * info.world_size
    totals = torch.zeros(2, device=info.device)
    for tokens in eval_batches(dataset, n, micro_batch, info.rank, info.world_size):
        with amp:
            ls, cnt = objective(model, tokens.to(info.device), PAD_ID, generator)
        totals += torch.stack([ls.float(), cnt.float()])
    totals = all_reduce_sum(totals)
    model.train()
    loss = (totals[0] / totals[1].clamp(min=1)).item()
    name = getattr(objective, "perplexity_name", "perplexity")  # masked LM: "pseudo_perplexity"
    return {"val_loss": loss, f"val_{name}": math.exp(min(loss, 700)), "val_tokens": int(totals[1].item())}


def tokenizer_info(spec: str) -> tuple[int, int]:
    """(vocabulary size, end-of-document id) of a tokenizer (HF name/folder, tokenizer.json, sentencepiece)."""
    try:
        from tokenization.tokenizer import load_tokenizer
    except ImportError:
        load_tokenizer = None
    if load_tokenizer is not None:
        tok = load_tokenizer(spec)
        vocab, eod = tok.vocab_size, tok.eod_id
    else:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(spec)
        vocab, eod = len(tok), tok.eos_token_id
    if eod is None:
        raise ConfigError(f"data.tokenizer: {spec} has no end-of-document (eos) token")
    return vocab, eod


class _StopFlag:
    """Set by SIGTERM/SIGUSR1 (Slurm preemption): the loop checkpoints and exits at the end of the step."""

    def __init__(self):
        self.signal: int | None = None
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGUSR1):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signal = signum

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def plan(cfg: RunConfig, world_size: int) -> dict:
    """Batch arithmetic of a run: global batch, accumulation steps, total steps, tokens per step."""
    m, t = cfg.model, cfg.training
    gb = t.batch_sequences(m.sequence_length)
    per_micro = t.micro_batch_size * world_size
    if gb % per_micro:
        raise ConfigError(f"training.global_batch_size: {gb} sequences is not a multiple of micro_batch_size "
                          f"{t.micro_batch_size} x {world_size} ranks")
    if t.max_steps:
        steps = t.max_steps
    elif t.train_tokens:
        steps = steps_for_budget(t.train_tokens, gb, m.sequence_length)
    else:
        raise ConfigError("training.train_tokens: give a token budget (or training.max_steps)")
    return {"global_batch": gb, "accumulation": gb // per_micro, "steps": steps,
            "tokens_per_step": gb * m.sequence_length}


def train(cfg: RunConfig, run_dir: str | Path, *, progress: bool | None = None) -> dict:
    """Train ``cfg`` into ``run_dir`` (resuming from its latest checkpoint). Returns the final run_info."""
    info = init_distributed()
    try:
        return _train(cfg, Path(run_dir), info, progress)
    finally:
        destroy_distributed()


def _train(cfg: RunConfig, run_dir: Path, info: DistInfo, progress: bool | None) -> dict:
    from tqdm import tqdm

    m, t = cfg.model, cfg.training
    if not cfg.data.path or not cfg.data.tokenizer:
        raise ConfigError("data.path: training needs a data path (mix or .bin/.idx prefix) and data.tokenizer")
    vocab, eod = tokenizer_info(cfg.data.tokenizer)
    if m.vocab_size is None:
        m.vocab_size = vocab
    elif m.vocab_size < vocab:
        raise ConfigError(f"model.vocab_size: {m.vocab_size} is smaller than the tokenizer's {vocab} tokens")
    check_vocab(cfg.data.path, m.vocab_size)
    p = plan(cfg, info.world_size)
    ckpt_dir, metrics_path = run_dir / "checkpoints", run_dir / "metrics.jsonl"
    _write_config(cfg, run_dir, info)

    torch.manual_seed(t.seed)  # identical initial weights on every rank (FSDP then shards them)
    dtype = resolve_precision(t, info.device)
    with torch.device(info.device):
        model = build_model(m)
    n_params = count_parameters(model)
    model, mode = parallelize(model, t, info, dtype)
    decay = [q for q in model.parameters() if q.ndim >= 2]  # no weight decay on norms and biases
    no_decay = [q for q in model.parameters() if q.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": t.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=t.lr, betas=(t.beta1, t.beta2),
                                  eps=t.eps, fused=info.device.type == "cuda")
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(
        lr=t.lr, min_lr=t.min_lr, warmup_steps=t.warmup_steps, total_steps=p["steps"]))
    generator = torch.Generator(device=info.device).manual_seed(t.seed + info.rank)
    splits = build_datasets(cfg.data.path, seed=t.seed, sequence_length=m.sequence_length, split=t.split,
                            vocab_size=vocab, eod_id=eod, n_train=p["steps"] * p["global_batch"], n_valid=t.eval_samples,
                            n_test=t.eval_samples, cache_dir=str(run_dir / "data_cache"))

    if info.is_main:
        ckpt.clean_partial(ckpt_dir)
    barrier()
    start, tokens_seen, last_ckpt = 0, 0, ckpt.latest_checkpoint(ckpt_dir)
    if last_ckpt is not None:
        state = ckpt.load_checkpoint(last_ckpt, model, optimizer, scheduler, generator, info.rank)
        start, tokens_seen = state["step"], state["tokens_seen"]
    run_info = _run_info(cfg, run_dir, p, n_params, start, tokens_seen, last_ckpt, finished=False)
    if info.is_main:
        truncate_metrics(metrics_path, start)
        write_text_atomic(run_dir / "run_info.json", json.dumps(run_info, indent=2))
        print(f"{cfg.name}: {format_params(n_params)} parameters ({n_params:,}), {mode} on {info.world_size} x "
              f"{info.device.type} in {str(dtype).removeprefix('torch.')}; {p['steps']} steps of "
              f"{p['global_batch']} x {m.sequence_length} tokens ({p['accumulation']} micro-batches of "
              f"{t.micro_batch_size}/rank)" + (f"; resuming after step {start}" if start else ""), file=sys.stderr)
    # a stable wandb id per run directory: a resumed run continues the same wandb run
    wandb_id = f"{run_dir.name}-{hashlib.sha1(str(run_dir.resolve()).encode()).hexdigest()[:8]}"
    wandb_run = init_wandb(t.wandb_project, run_dir, cfg.name, cfg.to_dict(), wandb_id) if info.is_main else None
    logger = MetricsLogger(metrics_path, info.is_main, wandb_run)
    objective, amp = get_objective(m.objective), autocast(mode, dtype, info.device)
    flops_tok, peak = flops_per_token(m), peak_flops(info.device)
    step = start
    # progress bar on rank 0 only; None = shown when stderr is a terminal
    show = None if progress is None else not progress
    with _StopFlag() as stop, tqdm(total=p["steps"], initial=start, disable=True if not info.is_main else show,
                                   desc=cfg.name, unit="step") as bar:
        for step in range(start + 1, p["steps"] + 1):
            t0 = time.perf_counter()
            batches = [step_batch(splits.train, step, i, global_batch=p["global_batch"],
                                  micro_batch=t.micro_batch_size, rank=info.rank, world_size=info.world_size)
                       for i in range(p["accumulation"])]
            loss, n_tok, gnorm = train_step(model, optimizer, scheduler, batches, objective, generator=generator,
                                            mode=mode, amp=amp, grad_clip=t.grad_clip, world_size=info.world_size)
            if not math.isfinite(loss):
                raise TrainingDiverged(f"loss is {loss} at step {step}; the run stopped. Last good checkpoint: "
                                       f"{last_ckpt or 'none (no checkpoint written yet)'}")
            if info.device.type == "cuda":
                torch.cuda.synchronize()
            dt = time.perf_counter() - t0
            tokens_seen += p["tokens_per_step"]
            tps = p["tokens_per_step"] / dt
            if step % t.log_every == 0 or step == p["steps"]:
                logger.log({"kind": "train", "step": step, "loss": loss, "lr": scheduler.get_last_lr()[0],
                            "grad_norm": gnorm, "tokens": n_tok, "tokens_seen": tokens_seen, "step_time_s": dt,
                            "tokens_per_s": tps, "tokens_per_s_per_device": tps / info.world_size,
                            "mfu": flops_tok * tps / (peak * info.world_size) if peak else None,
                            "memory_gib": memory_gib(info.device)})
            bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tps:,.0f}")
            bar.update(1)
            if splits.valid is not None and t.eval_every and (step % t.eval_every == 0 or step == p["steps"]):
                logger.log({"kind": "eval", "step": step, **evaluate(
                    model, splits.valid, objective, samples=t.eval_samples, micro_batch=t.micro_batch_size,
                    info=info, amp=amp, seed=t.seed)})
            if splits.test is not None and step == p["steps"]:  # held-out test split, once at the end
                result = evaluate(model, splits.test, objective, samples=t.eval_samples,
                                  micro_batch=t.micro_batch_size, info=info, amp=amp, seed=t.seed)
                logger.log({"kind": "test", "step": step,
                            **{k.replace("val_", "test_", 1): v for k, v in result.items()}})
            stopping = _agree(stop.signal is not None, info)
            if (t.checkpoint_every and step % t.checkpoint_every == 0) or step == p["steps"] or stopping:
                last_ckpt = ckpt.save_checkpoint(ckpt_dir, step, model, optimizer, scheduler,
                                                 {"step": step, "tokens_seen": tokens_seen}, generator,
                                                 info.rank, t.keep_last)
                run_info = _run_info(cfg, run_dir, p, n_params, step, tokens_seen, last_ckpt,
                                     finished=step == p["steps"])
                if info.is_main:
                    write_text_atomic(run_dir / "run_info.json", json.dumps(run_info, indent=2))
            if stopping:
                if info.is_main:
                    print(f"signal {stop.signal}: checkpointed step {step} to {last_ckpt}; rerun to resume",
                          file=sys.stderr)
                break
    logger.close()
    return run_info


def _agree(flag: bool, info: DistInfo) -> bool:
    """True on every rank when any rank got a stop signal (so all ranks join the checkpoint)."""
    if not info.distributed:
        return flag
    t = all_reduce_sum(torch.tensor([float(flag)], device=info.device))
    return bool(t.item() > 0)


def _write_config(cfg: RunConfig, run_dir: Path, info: DistInfo) -> None:
    """Write the resolved config; refuse to resume a run directory trained with another model."""
    import yaml

    path = run_dir / "config.yaml"
    if path.is_file():
        old = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        old_model = {k: v for k, v in (old.get("model") or {}).items() if k != "vocab_size"}
        new_model = {k: v for k, v in cfg.to_dict()["model"].items() if k != "vocab_size"}
        if old_model != new_model:
            diff = sorted(k for k in set(old_model) | set(new_model) if old_model.get(k) != new_model.get(k))
            raise ConfigError(f"model.{diff[0]}: {run_dir} holds a run of another model config (differs in "
                              f"{', '.join(diff)}); use a new output directory")
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, cfg.to_yaml())
    barrier()


def _run_info(cfg: RunConfig, run_dir: Path, p: dict, n_params: int, step: int, tokens_seen: int,
              last_ckpt: Path | None, finished: bool) -> dict:
    return {"model_id": run_dir.name, "config_name": cfg.name, "mix": cfg.data.path,
            "tokenizer": cfg.data.tokenizer, "params": n_params, "steps_done": step, "total_steps": p["steps"],
            "tokens_seen": tokens_seen, "tokens_per_step": p["tokens_per_step"],
            "last_checkpoint": str(last_ckpt) if last_ckpt else None, "finished": finished}
