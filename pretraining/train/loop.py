"""The training loop: build, parallelise, resume, then step / evaluate / checkpoint until the budget is spent."""
from __future__ import annotations

import hashlib
import json
import math
import signal
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from njsl.atomic import write_text_atomic
from pretraining.config import ConfigError, RunConfig
from pretraining.data.batches import StepBatches, build_datasets, check_vocab, eval_batches, step_loader
from pretraining.models.counts import flops_per_token, format_params, steps_for_budget
from pretraining.models.moe import inactive_params
from pretraining.models.objectives import PAD_ID, objective_for
from pretraining.models.registry import build_model, count_parameters
from pretraining.train import checkpoint as ckpt
from pretraining.train import resume
from pretraining.train.distributed import (DistInfo, all_reduce_sum, autocast, barrier, blocks, destroy_distributed,
                                           gradient_sync, init_distributed, parallelize, resolve_precision)
from pretraining.train.metrics import MetricsLogger, init_wandb, memory_gib, peak_flops, truncate_metrics
from pretraining.train.norms import NormTracker
from pretraining.train.schedule import lr_lambda, warmup_warning
from tokenization.tokenizer import load_tokenizer


class TrainingDiverged(RuntimeError):
    """The loss became NaN/inf; the message names the step and the last good checkpoint."""

    exit_code = 3  # njsl.cli: a diverged run is neither success nor a bad input


def train_step(model, optimizer, scheduler, batches, loss_fn, *, generator, mode, amp, grad_clip,
               world_size) -> torch.Tensor:
    """One optimizer step over this rank's micro-batches, without a host sync on GPU.

    Returns a device tensor ``[loss per token, tokens, grad norm, skipped]``; read it at log steps only.
    The loss is token-weighted over the whole global batch: each micro-batch back-propagates its loss *sum*,
    and the gradients are divided once by the global token count (padding never counts). A step whose loss
    or gradient norm is NaN/inf is skipped (weights and optimizer state unchanged; ``skipped`` = 1); the LR
    schedule still advances, since the LR is a function of the step.
    """
    device = next(model.parameters()).device
    optimizer.zero_grad(set_to_none=True)
    loss_sum, n_tokens = torch.zeros((), device=device), torch.zeros((), device=device)
    for i, tokens in enumerate(batches):
        with gradient_sync(model, mode, enabled=i == len(batches) - 1):
            with amp:  # forward under autocast (DDP/single device + bf16); backward outside, as PyTorch advises
                ls, n = loss_fn(model, tokens.to(device, non_blocking=True), PAD_ID, generator)
            ls.backward()
        loss_sum += ls.detach().float()
        n_tokens += n
    totals = all_reduce_sum(torch.stack([loss_sum, n_tokens.float()]))
    # DDP/FSDP average gradients over ranks: x world / tokens turns the summed loss into a per-token mean
    _scale_grads(model, world_size / totals[1].clamp(min=1.0))
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip or float("inf"))
    grad_norm = grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm
    loss = totals[0] / totals[1].clamp(min=1)
    ok = torch.isfinite(loss) & torch.isfinite(grad_norm)
    _step_if(optimizer, ok)
    scheduler.step()
    return torch.stack([loss, totals[1], grad_norm.float(), (~ok).float()])


def _scale_grads(model, scale: torch.Tensor) -> None:
    # FSDP2 grads are DTensors sharded alike on every rank: scaling the local shards scales the whole
    grads = [getattr(p.grad, "_local_tensor", p.grad) for p in model.parameters() if p.grad is not None]
    torch._foreach_mul_(grads, scale)


def _step_if(optimizer, ok: torch.Tensor) -> None:
    """``optimizer.step()`` unless ``ok`` is False, decided where the flag lives.

    Fused AdamW (GPU) takes the flag as ``found_inf`` and skips the update in the kernel: no host sync.
    Elsewhere (CPU) the flag is host memory, so reading it costs nothing.
    """
    if optimizer.defaults.get("fused"):
        optimizer.found_inf = (~ok).float()
        optimizer.step()
    elif bool(ok):
        optimizer.step()


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
    tok = load_tokenizer(spec)
    vocab, eod = tok.vocab_size, tok.eod_id
    if eod is None:
        raise ConfigError(f"data.tokenizer: {spec} has no end-of-document (eos) token")
    return vocab, eod


def _restore(ckpt_dir: Path, model, optimizer, scheduler, generator, info: DistInfo) -> tuple[int, int, Path | None]:
    """(step, tokens seen, checkpoint) restored from the latest complete checkpoint; (0, 0, None) if none."""
    if info.is_main:
        ckpt.clean_partial(ckpt_dir)
    barrier()
    last_ckpt = ckpt.latest_checkpoint(ckpt_dir)
    if last_ckpt is None:
        return 0, 0, None
    state = ckpt.load_checkpoint(last_ckpt, model, optimizer, scheduler, generator, info.rank)
    # the optimizer holds the LR the old schedule set for the next step; an extended schedule may differ there
    for group, base, fn in zip(optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas, strict=True):
        group["lr"] = base * fn(scheduler.last_epoch)
    return state["step"], state["tokens_seen"], last_ckpt


def _banner(cfg: RunConfig, p: dict, run_info: dict, where: str, start: int, ends: list[int]) -> str:
    """The one line a run starts with: size, parallelism and device, schedule, resume/extension."""
    m, t, n_params, active = cfg.model, cfg.training, run_info["params"], run_info["active_params"]
    return (f"{cfg.name}: {format_params(n_params)} parameters ({n_params:,}"
            + (f"; {format_params(active)} active per token, {m.moe_top_k} of {m.num_experts} experts"
               if active != n_params else "") + f"), {where}; {p['steps']} steps of "
            f"{p['global_batch']} x {m.sequence_length} tokens ({p['accumulation']} micro-batches of "
            f"{t.micro_batch_size}/rank)" + (f", stopping after step {p['stop_at']}" if p["stop_at"] < p["steps"]
                                             else "") + (f"; resuming after step {start}" if start else "")
            + (f"; extended: schedule segments end at steps {ends}" if len(ends) > 1 else ""))


class _StopFlag:
    """Set by SIGTERM/SIGUSR1 (Slurm preemption): the loop checkpoints and exits at the end of the step."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._old: dict[int, Any] = {}

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
    """Batch arithmetic of a run: global batch, accumulation steps, scheduled steps, stop step, tokens per step.

    ``steps`` (the schedule's length) comes from ``train_tokens``; ``max_steps`` only stops the run early
    (``stop_at``), unless there is no token budget: then it is the schedule's length too.
    """
    m, t = cfg.model, cfg.training
    gb = t.batch_sequences(m.sequence_length)
    per_micro = t.micro_batch_size * world_size
    if gb % per_micro:
        raise ConfigError(f"training.global_batch_size: {gb} sequences is not a multiple of micro_batch_size "
                          f"{t.micro_batch_size} x {world_size} ranks")
    if t.train_tokens:
        steps = steps_for_budget(t.train_tokens, gb, m.sequence_length)
    elif t.max_steps:
        steps = t.max_steps
    else:
        raise ConfigError("training.train_tokens: give a token budget (or training.max_steps)")
    return {"global_batch": gb, "accumulation": gb // per_micro, "steps": steps,
            "stop_at": min(steps, t.max_steps or steps), "tokens_per_step": gb * m.sequence_length}


def train(cfg: RunConfig, run_dir: str | Path, *, progress: bool | None = None, extend: bool = False) -> dict:
    """Train ``cfg`` into ``run_dir`` (resuming from its latest checkpoint). Returns the final run_info.

    Resuming is exact or refused (:mod:`pretraining.train.resume`); ``extend`` continues a run with a larger
    token budget (same samples for the steps taken, a re-warmed schedule for the new ones).
    """
    info = init_distributed()
    try:
        return _train(cfg, Path(run_dir), info, progress, extend)
    finally:
        destroy_distributed()


def _train(cfg: RunConfig, run_dir: Path, info: DistInfo, progress: bool | None, extend: bool) -> dict:
    m, t = cfg.model, cfg.training
    vocab, eod = _resolve_vocab(cfg)
    p = plan(cfg, info.world_size)
    ckpt_dir, metrics_path = run_dir / "checkpoints", run_dir / "metrics.jsonl"
    fp = resume.fingerprint(cfg, p["steps"], vocab, eod)
    ends = resume.check_resume(run_dir, fp, extend=extend, has_checkpoint=ckpt.latest_checkpoint(ckpt_dir) is not None)
    barrier()  # every rank checked the old state before rank 0 replaces it
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(run_dir / "config.yaml", cfg.to_yaml())
        resume.write_state(run_dir, fp, ends)
        if (msg := warmup_warning(t.warmup_steps, ends[0])) is not None:
            warnings.warn(msg, stacklevel=2)
    barrier()

    torch.manual_seed(t.seed)  # identical initial weights on every rank (FSDP then shards them)
    dtype = resolve_precision(t, info.device)
    with torch.device(info.device):
        model = build_model(m)
    n_params = count_parameters(model)
    layer_blocks = blocks(model)  # before DDP wraps it (FSDP2 shards these modules in place)
    model, mode = parallelize(model, t, info, dtype)
    optimizer, scheduler = _optimizer(model, t, ends, info)
    generator = torch.Generator(device=info.device).manual_seed(t.seed + info.rank)
    assert cfg.data.path is not None  # train() checks it first
    splits = build_datasets(cfg.data.path, seed=t.seed, sequence_length=m.sequence_length, split=t.split,
                            vocab_size=vocab, eod_id=eod, n_train=p["steps"] * p["global_batch"],
                            n_valid=t.eval_samples, n_test=t.eval_samples, cache_dir=str(run_dir / "data_cache"))

    start, tokens_seen, last_ckpt = _restore(ckpt_dir, model, optimizer, scheduler, generator, info)
    run_info = _run_info(cfg, run_dir, p, n_params, start, tokens_seen, last_ckpt, finished=start >= p["steps"])
    if info.is_main:
        truncate_metrics(metrics_path, start)
        write_text_atomic(run_dir / "run_info.json", json.dumps(run_info, indent=2))
        print(_banner(cfg, p, run_info, f"{mode} on {info.world_size} x {info.device.type} in "
                      f"{str(dtype).removeprefix('torch.')}", start, ends), file=sys.stderr)
    # a stable wandb id per run directory: a resumed run continues the same wandb run
    wandb_id = f"{run_dir.name}-{hashlib.sha1(str(run_dir.resolve()).encode()).hexdigest()[:8]}"
    wandb_run = init_wandb(t.wandb_project, run_dir, cfg.name, cfg.to_dict(), wandb_id) if info.is_main else None
    norms = NormTracker(model, layer_blocks, t.norms_every, t.grad_clip, activations=not t.compile,
                        reduce=all_reduce_sum if info.distributed else None)
    loop = _Loop(cfg, p, info, run_dir, n_params, model, optimizer, scheduler, generator, splits, mode, dtype,
                 MetricsLogger(metrics_path, info.is_main, wandb_run), norms)
    try:
        return loop.run(start, tokens_seen, last_ckpt, progress)
    finally:
        loop.close()


def _tally(flags: torch.Tensor, stats: torch.Tensor, step: int) -> None:
    """Device-side tallies since the last log step, in ``flags``: [skipped steps, non-finite losses, first such
    step]; no host sync (``stats``: train_step's loss, tokens, grad norm, skipped)."""
    bad = ~torch.isfinite(stats[0])
    flags[0] += stats[3]
    flags[1] += bad.float()
    flags[2] = torch.where(bad, flags[2].clamp(max=float(step)), flags[2])  # no host->device copy


class _Loop:
    """Step / log / evaluate / checkpoint until ``stop_at``. Host syncs happen only at log and checkpoint steps.

    Extension point: ``loss_fn`` (from the objective registry).
    """

    def __init__(self, cfg, p, info, run_dir, n_params, model, optimizer, scheduler, generator, splits, mode, dtype,
                 logger, norms: NormTracker):
        self.cfg, self.p, self.info, self.run_dir, self.n_params = cfg, p, info, run_dir, n_params
        self.model, self.optimizer, self.scheduler, self.generator = model, optimizer, scheduler, generator
        self.splits, self.mode, self.logger = splits, mode, logger
        # the objective's loss, HELM's hierarchical cross-entropy when model.helm is set
        self.loss_fn, self.amp = objective_for(cfg.model, cfg.data.tokenizer), autocast(mode, dtype, info.device)
        self.norms = norms  # norm records every training.norms_every steps
        self.codon_vocab = codon_vocabulary(cfg.data.tokenizer)  # codon tokenizers: codon metrics at evaluation
        self.flops_tok, self.peak = flops_per_token(cfg.model), peak_flops(info.device)
        # a separate gloo group for background checkpoint writes: their collectives never interleave the step's
        group = torch.distributed.new_group(backend="gloo") if info.distributed else None
        self.ckpt = ckpt.AsyncCheckpointer(run_dir / "checkpoints", info.rank, cfg.training.keep_last,
                                           cuda=info.device.type == "cuda", process_group=group)

    def close(self) -> None:
        self.ckpt.close()
        self.logger.close()

    def run(self, start: int, tokens_seen: int, last_ckpt, progress: bool | None) -> dict:
        from tqdm import tqdm

        t, p, info = self.cfg.training, self.p, self.info
        loader = step_loader(StepBatches(self.splits.train, start + 1, p["stop_at"], accumulation=p["accumulation"],
                                         global_batch=p["global_batch"], micro_batch=t.micro_batch_size,
                                         rank=info.rank, world_size=info.world_size),
                             workers=t.data_workers, pin_memory=info.device.type == "cuda")
        flags = torch.tensor([0.0, 0.0, math.inf], device=info.device)
        window_t0, window_steps, run_info = time.perf_counter(), 0, None
        show = None if progress is None else not progress  # progress bar on rank 0 only; None: when a terminal
        with _StopFlag() as stop, tqdm(total=p["stop_at"], initial=start, disable=True if not info.is_main else show,
                                       desc=self.cfg.name, unit="step") as bar:
            for step, batches in enumerate(loader, start + 1):
                lr = self.optimizer.param_groups[0]["lr"]  # the LR this step uses (logged as such)
                with self.norms.watch(step) as acts:
                    stats = train_step(self.model, self.optimizer, self.scheduler, batches, self.loss_fn,
                                       generator=self.generator, mode=self.mode, amp=self.amp,
                                       grad_clip=t.grad_clip, world_size=info.world_size)
                if self.norms.due(step):
                    self.logger.log(self.norms.record(step, float(stats[2]), acts))
                _tally(flags, stats, step)
                tokens_seen += p["tokens_per_step"]
                window_steps += 1
                last = step == p["stop_at"]
                is_ckpt = bool(t.checkpoint_every and step % t.checkpoint_every == 0) or last
                is_log = step % t.log_every == 0 or last
                bar.update(1)
                # the stop flag is agreed on at log/checkpoint steps only (a collective), every step single-process
                stopping = _agree(stop.signal is not None, info) if is_log or is_ckpt or not info.distributed else False
                if is_log or is_ckpt or stopping:
                    values, (skipped, n_bad, first_bad) = stats.tolist(), flags.tolist()  # the host sync
                    if n_bad:
                        if self.ckpt.pending is not None:  # a checkpoint of a good step: keep it
                            last_ckpt, run_info = self._checkpointed()
                        raise TrainingDiverged(f"loss is nan/inf at step {int(first_bad)}; the run stopped. Last "
                                               f"good checkpoint: {last_ckpt or 'none (no checkpoint written yet)'}")
                if is_log:
                    dt = (time.perf_counter() - window_t0) / window_steps
                    window_t0, window_steps = time.perf_counter(), 0
                    record = self._record(step, values, lr, int(skipped), tokens_seen, dt)
                    flags[0] = 0.0  # skipped steps are counted per log record
                    bar.set_postfix(loss=f"{values[0]:.3f}", tok_s=f"{record['tokens_per_s']:,.0f}")
                    # a background checkpoint every rank finished writing becomes the latest
                    if self.ckpt.pending is not None and not _agree(not self.ckpt.done(), info):
                        last_ckpt, run_info = self._checkpointed()
                self._evaluate(step, last)
                if is_ckpt or stopping:
                    self.ckpt.save(step, self.model, self.optimizer, self.scheduler,
                                   {"step": step, "tokens_seen": tokens_seen}, self.generator)
                    if last or stopping:
                        last_ckpt, run_info = self._checkpointed()
                if stopping:
                    if info.is_main:
                        print(f"signal {stop.signal}: checkpointed step {step} to {last_ckpt}; rerun to resume",
                              file=sys.stderr)
                    break
        return run_info or _run_info(self.cfg, self.run_dir, p, self.n_params, start, tokens_seen, last_ckpt,
                                     finished=start >= p["steps"])

    def _record(self, step: int, values: list, lr: float, skipped: int, tokens_seen: int, dt: float) -> dict:
        """Log one train record (``dt``: mean step time since the previous record)."""
        tps, world = self.p["tokens_per_step"] / dt, self.info.world_size
        record = {"kind": "train", "step": step, "loss": values[0], "lr": lr, "grad_norm": values[2],
                  "tokens": int(values[1]), "tokens_seen": tokens_seen, "skipped_steps": skipped, "step_time_s": dt,
                  "tokens_per_s": tps, "tokens_per_s_per_device": tps / world, "flops": self.flops_tok * tokens_seen,
                  "mfu": self.flops_tok * tps / (self.peak * world) if self.peak else None,
                  "memory_gib": memory_gib(self.info.device)}
        self.logger.log(record)
        return record

    def _checkpointed(self):
        """Finish the pending background checkpoint and record it in run_info.json."""
        path = self.ckpt.finish()
        step = int(path.name.removeprefix("step_"))
        run_info = _run_info(self.cfg, self.run_dir, self.p, self.n_params, step, step * self.p["tokens_per_step"],
                             path, finished=step == self.p["steps"])
        if self.info.is_main:
            write_text_atomic(self.run_dir / "run_info.json", json.dumps(run_info, indent=2))
        return path, run_info

    def _evaluate(self, step: int, last: bool) -> None:
        t, splits = self.cfg.training, self.splits
        kw = dict(samples=t.eval_samples, micro_batch=t.micro_batch_size, info=self.info, amp=self.amp, seed=t.seed)
        if splits.valid is not None and t.eval_every and (step % t.eval_every == 0 or last):
            self.logger.log({"kind": "eval", "step": step, **evaluate(self.model, splits.valid, self.loss_fn, **kw),
                             **self._codon_metrics(splits.valid, kw)})
        if splits.test is not None and last:  # held-out test split, once at the end
            result = {**evaluate(self.model, splits.test, self.loss_fn, **kw), **self._codon_metrics(splits.test, kw)}
            self.logger.log({"kind": "test", "step": step,
                             **{k.replace("val_", "test_", 1): v for k, v in result.items()}})

    def _codon_metrics(self, dataset, kw: dict) -> dict:
        """Codon perplexity and codon/amino-acid accuracy (``pretraining.evaluate.codon``) for codon tokenizers."""
        if self.codon_vocab is None:
            return {}
        from pretraining.evaluate.codon import codon_metric_counts, codon_metrics_from_counts

        info = self.info
        n = (min(kw["samples"], len(dataset)) // info.world_size) * info.world_size  # as evaluate(): same samples
        with self.amp:
            counts = codon_metric_counts(self.model, eval_batches(dataset, n, kw["micro_batch"], info.rank,
                                                                  info.world_size),
                                         self.cfg.model.objective, self.codon_vocab, seed=kw["seed"])
        return codon_metrics_from_counts(all_reduce_sum(counts.float()), prefix="val_")


def codon_vocabulary(tokenizer: str | None) -> list[str] | None:
    """Token strings of a codon (3-mer) tokenizer, None for any other tokenizer."""
    from pretraining.models.helm import HelmError, tokenizer_vocabulary

    try:
        return tokenizer_vocabulary(tokenizer) if tokenizer else None
    except HelmError:
        return None


def _resolve_vocab(cfg: RunConfig) -> tuple[int, int]:
    """(tokenizer vocabulary, end-of-document id); fills ``model.vocab_size`` and checks the data fits it."""
    m = cfg.model
    if not cfg.data.path or not cfg.data.tokenizer:
        raise ConfigError("data.path: training needs a data path (mix or .bin/.idx prefix) and data.tokenizer")
    vocab, eod = tokenizer_info(cfg.data.tokenizer)
    if m.vocab_size is None:
        m.vocab_size = vocab
    elif m.vocab_size < vocab:
        raise ConfigError(f"model.vocab_size: {m.vocab_size} is smaller than the tokenizer's {vocab} tokens")
    check_vocab(cfg.data.path, m.vocab_size)
    return vocab, eod


def _optimizer(model, t, ends: list[int], info: DistInfo):
    """AdamW (no weight decay on norms and biases) and the warmup + cosine schedule (segments ``ends``)."""
    decay = [q for q in model.parameters() if q.ndim >= 2]
    no_decay = [q for q in model.parameters() if q.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": t.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=t.lr, betas=(t.beta1, t.beta2),
                                  eps=t.eps, fused=info.device.type == "cuda")
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(
        lr=t.lr, min_lr=t.min_lr, warmup_steps=t.warmup_steps, ends=ends))
    return optimizer, scheduler


def _agree(flag: bool, info: DistInfo) -> bool:
    """True on every rank when any rank's ``flag`` is set (a collective: call it on every rank at once)."""
    if not info.distributed:
        return flag
    t = all_reduce_sum(torch.tensor([float(flag)], device=info.device))
    return bool(t.item() > 0)


def _run_info(cfg: RunConfig, run_dir: Path, p: dict, n_params: int, step: int, tokens_seen: int,
              last_ckpt: Path | None, finished: bool) -> dict:
    return {"model_id": run_dir.name, "config_name": cfg.name, "mix": cfg.data.path,
            "tokenizer": cfg.data.tokenizer, "params": n_params, "steps_done": step, "total_steps": p["steps"],
            "active_params": n_params - inactive_params(cfg.model), "helm": cfg.model.helm,
            "tokens_seen": tokens_seen, "tokens_per_step": p["tokens_per_step"],
            "last_checkpoint": str(last_ckpt) if last_ckpt else None, "finished": finished}
