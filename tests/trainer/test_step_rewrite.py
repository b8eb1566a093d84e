"""The GPU-ready step (device-side flags, DataLoader workers, async checkpoints) gives the CPU losses of the
step it replaced, bit for bit; non-finite gradient norms skip the step and are counted."""
from __future__ import annotations

import json
import math

import pytest
import torch

from pretraining.models.run_config import load_run_config
from pretraining.models.registry import build_model
from pretraining.models.objectives import OBJECTIVES, causal_lm, get_objective, register_objective
from pretraining.train import train, train_step
from pretraining.data.batches import build_datasets, step_batch
from pretraining.train.distributed import autocast
from pretraining.train.loop import plan, tokenizer_info
from pretraining.train.metrics import read_metrics
from pretraining.train.reference_step import reference_train_step
from pretraining.train.schedule import lr_lambda

STEPS = 6


def _cfg(tiny_config, tiny_data, overrides, *extra):
    return load_run_config(tiny_config, overrides + [f"data.path={tiny_data['prefix']}",
                                                     f"data.tokenizer={tiny_data['tokenizer']}", *extra])


def reference_run(cfg, cache_dir) -> list[tuple[float, float, float]]:
    """(loss, grad norm, LR used) per step from the pre-rewrite step, single process, same data and seed."""
    m, t = cfg.model, cfg.training
    vocab, eod = tokenizer_info(cfg.data.tokenizer)
    m.vocab_size = m.vocab_size or vocab
    p = plan(cfg, 1)
    torch.manual_seed(t.seed)
    model = build_model(m)
    decay = [q for q in model.parameters() if q.ndim >= 2]
    no_decay = [q for q in model.parameters() if q.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": t.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=t.lr, betas=(t.beta1, t.beta2), eps=t.eps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(lr=t.lr, min_lr=t.min_lr, warmup_steps=t.warmup_steps,
                                                             total_steps=p["steps"]))
    gen = torch.Generator().manual_seed(t.seed)
    splits = build_datasets(cfg.data.path, seed=t.seed, sequence_length=m.sequence_length, split=t.split,
                            vocab_size=vocab, eod_id=eod, n_train=p["steps"] * p["global_batch"], n_valid=0,
                            n_test=0, cache_dir=str(cache_dir))
    out = []
    for step in range(1, p["stop_at"] + 1):
        batches = [step_batch(splits.train, step, i, global_batch=p["global_batch"], micro_batch=t.micro_batch_size,
                              rank=0, world_size=1) for i in range(p["accumulation"])]
        lr = opt.param_groups[0]["lr"]
        loss, _, gnorm = reference_train_step(model, opt, sched, batches, get_objective(m.objective), generator=gen,
                                              mode="none", amp=autocast("none", torch.float32, torch.device("cpu")),
                                              grad_clip=t.grad_clip, world_size=1)
        out.append((loss, gnorm, lr))
    return out


def test_new_step_bit_identical_to_reference(tiny_config, tiny_data, tiny_overrides, tmp_path):
    # two DataLoader workers, checkpoints (async) mid-run and logging every 2 steps: none may change a number
    cfg = _cfg(tiny_config, tiny_data, tiny_overrides, f"training.max_steps={STEPS}", "training.eval_every=0",
               "training.checkpoint_every=2", "training.log_every=2", "training.data_workers=2")
    train(cfg, tmp_path / "new", progress=False)
    new = [(r["loss"], r["grad_norm"], r["lr"]) for r in read_metrics(tmp_path / "new" / "metrics.jsonl")]
    ref = reference_run(_cfg(tiny_config, tiny_data, tiny_overrides, f"training.max_steps={STEPS}"), tmp_path / "c")
    assert [r["step"] for r in read_metrics(tmp_path / "new" / "metrics.jsonl")] == [2, 4, 6]
    assert new == ref[1::2]  # exact equality: bit-identical losses, grad norms and LRs
    assert ref[-1][0] < ref[0][0]


class _InfGrad(torch.autograd.Function):
    """Identity forward, infinite backward: a finite loss whose gradient norm is inf."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return g * float("inf")


def _tiny_model():
    from pretraining.config import ModelConfig

    torch.manual_seed(0)
    return build_model(ModelConfig(dimension=32, num_layers=1, num_heads=2, ffn_hidden_size=64, vocab_size=50,
                                   sequence_length=16))


@pytest.mark.parametrize("fused", [False, True])  # fused AdamW: the GPU path, skipping inside the kernel
def test_nonfinite_grad_norm_skips_the_step(fused):
    model = _tiny_model()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=fused)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    tokens = torch.randint(0, 50, (2, 17))
    amp = autocast("none", torch.float32, torch.device("cpu"))

    def inf_grad(model, tokens, pad_id, generator):
        ls, n = causal_lm(model, tokens, pad_id, generator)
        return _InfGrad.apply(ls), n

    kw = dict(generator=None, mode="none", amp=amp, grad_clip=1.0, world_size=1)
    train_step(model, opt, sched, [tokens], causal_lm, **kw)  # one good step: optimizer state exists
    before = {k: v.clone() for k, v in model.state_dict().items()}
    steps_before = [opt.state[q]["step"].clone() for q in model.parameters()]
    stats = train_step(model, opt, sched, [tokens], inf_grad, **kw)
    loss, _, gnorm, skipped = stats.tolist()
    assert math.isfinite(loss) and not math.isfinite(gnorm) and skipped == 1.0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # weights untouched
    assert all(torch.equal(a, opt.state[q]["step"]) for a, q in zip(steps_before, model.parameters(), strict=True))
    assert train_step(model, opt, sched, [tokens], causal_lm, **kw)[3].item() == 0.0  # and training goes on
    assert not all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_skipped_steps_counted_in_log(tiny_config, tiny_data, tiny_overrides, tmp_path):
    calls = {"n": 0}

    @register_objective("inf_grad_at_step_2")
    def _obj(model, tokens, pad_id, generator):
        calls["n"] += 1
        ls, n = causal_lm(model, tokens, pad_id, generator)
        return (_InfGrad.apply(ls) if calls["n"] in (3, 4) else ls), n  # 2 micro-batches per step

    try:
        cfg = _cfg(tiny_config, tiny_data, tiny_overrides, "model.objective=inf_grad_at_step_2",
                   "training.max_steps=4", "training.log_every=2", "training.eval_every=0")
        info = train(cfg, tmp_path / "run", progress=False)
    finally:
        OBJECTIVES.pop("inf_grad_at_step_2")
    recs = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [(r["step"], r["skipped_steps"]) for r in recs] == [(2, 1), (4, 0)]
    assert not math.isfinite(recs[0]["grad_norm"]) and math.isfinite(recs[0]["loss"]) and info["finished"]
    assert json.loads((tmp_path / "run" / "run_info.json").read_text())["steps_done"] == 4


def test_bf16_logits_chunked_cross_entropy_matches_fp32():
    from pretraining.models.objectives import cross_entropy_sum

    torch.manual_seed(0)
    logits = torch.randn(4, 50, 300).bfloat16().requires_grad_(True)
    labels = torch.randint(0, 300, (4, 50)).masked_fill(torch.rand(4, 50) < 0.1, -100)
    chunked = cross_entropy_sum(logits, labels, chunk_tokens=64)  # 200 positions: 4 chunks, recomputed
    chunked.backward()
    g_chunked, logits.grad = logits.grad.clone(), None
    full = torch.nn.functional.cross_entropy(logits.float().reshape(-1, 300), labels.reshape(-1), ignore_index=-100,
                                             reduction="sum")
    full.backward()
    assert chunked.dtype == torch.float32 and logits.grad.dtype == torch.bfloat16
    assert torch.allclose(chunked, full, rtol=1e-5)
    assert torch.allclose(g_chunked.float(), logits.grad.float(), atol=1e-2)


def test_fused_skip_under_fsdp2_sharded_params():
    """The GPU path's skip (fused AdamW ``found_inf``) also holds when the parameters are FSDP2 DTensors."""
    import torch.distributed as dist
    from torch.distributed.fsdp import fully_shard

    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        model = _tiny_model()
        for block in model.model.layers:
            fully_shard(block)
        fully_shard(model)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-2, fused=True)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
        tokens = torch.randint(0, 50, (2, 17))
        kw = dict(generator=None, mode="fsdp", amp=autocast("fsdp", torch.float32, torch.device("cpu")),
                  grad_clip=1.0, world_size=1)

        def inf_grad(model, tokens, pad_id, generator):
            ls, n = causal_lm(model, tokens, pad_id, generator)
            return _InfGrad.apply(ls), n

        def weights():
            return [p.full_tensor().clone() for p in model.parameters()]

        train_step(model, opt, sched, [tokens], causal_lm, **kw)
        before = weights()
        assert train_step(model, opt, sched, [tokens], inf_grad, **kw)[3].item() == 1.0
        assert all(torch.equal(a, b) for a, b in zip(before, weights(), strict=True))
        assert train_step(model, opt, sched, [tokens], causal_lm, **kw)[3].item() == 0.0
        assert not all(torch.equal(a, b) for a, b in zip(before, weights(), strict=True))
    finally:
        dist.destroy_process_group()
