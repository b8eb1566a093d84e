"""Resume is exact or refused; --extend keeps the samples and LRs of the steps taken; --max_steps stops early."""
from __future__ import annotations

import json

import pytest
import torch

from pretraining.config import ConfigError
from pretraining.models.run_config import load_run_config
from pretraining.train.train_cli import main as train_main
from pretraining.train import train
from pretraining.data.batches import build_datasets, step_batch
from pretraining.train.metrics import read_metrics
from pretraining.train.schedule import lr_at, lr_at_segments, warmup_warning

TOKENS_PER_STEP = 8 * 64  # tiny overrides: 8 sequences of 64 tokens


def _batches(tiny_data, path, steps, n_steps_planned, tmp_path, seed=1234):
    splits = build_datasets(path, seed=seed, sequence_length=64, split="90,5,5", vocab_size=512, eod_id=0,
                            n_train=n_steps_planned * 8, n_valid=0, n_test=0, cache_dir=str(tmp_path / "cache"))
    return [step_batch(splits.train, s, 0, global_batch=8, micro_batch=8, rank=0, world_size=1) for s in steps]


@pytest.mark.parametrize("source", ["prefix", "mix"])
def test_sample_order_does_not_depend_on_the_budget(tiny_data, tmp_path, source):
    # budgets of 60, 120 and 2000 steps; 2000 x 8 samples is several epochs of the tiny data
    steps = [1, 2, 30, 59, 60]
    ref = _batches(tiny_data, tiny_data[source], steps, 60, tmp_path)
    for budget in (120, 2000):
        other = _batches(tiny_data, tiny_data[source], steps, budget, tmp_path)
        assert all(torch.equal(a, b) for a, b in zip(ref, other, strict=True))
    # the later epochs are reshuffled, not the first epoch replayed, and another seed gives another order
    splits = build_datasets(tiny_data[source], seed=1234, sequence_length=64, split="90,5,5", vocab_size=512,
                            eod_id=0, n_train=2000 * 8, n_valid=0, n_test=0, cache_dir=str(tmp_path / "cache"))
    if source == "prefix":  # one domain: sample n_epoch is the first of the second epoch
        n_epoch = splits.train.lengths[0]
        assert n_epoch < 2000 * 8 / 3
        assert [splits.train[n_epoch + i]["tokens"][:8].tolist() for i in range(4)] != \
            [splits.train[i]["tokens"][:8].tolist() for i in range(4)]
    assert not torch.equal(ref[0], _batches(tiny_data, tiny_data[source], [1], 60, tmp_path, seed=7)[0])


def test_extended_schedule_keeps_the_steps_taken_and_rewarms():
    kw = dict(lr=1e-3, min_lr=1e-4, warmup_steps=20)
    for s in range(60):  # the steps of the original plan keep their LRs
        assert lr_at_segments(s, ends=[60, 120], **kw) == lr_at(s, total_steps=60, **kw)
    assert lr_at_segments(59, ends=[60, 120], **kw) == pytest.approx(1e-4, rel=2e-2)
    rewarm = [lr_at_segments(s, ends=[60, 120], **kw) for s in range(60, 121)]
    assert rewarm[0] == pytest.approx(1e-4 + 9e-4 / 20)  # no jump: starts from min_lr
    assert max(rewarm) == pytest.approx(1e-3) and rewarm[-1] == pytest.approx(1e-4)
    assert warmup_warning(20, 20) and warmup_warning(20, 21) is None and warmup_warning(0, 5) is None


def _args(tiny_config, tiny_data, tiny_overrides, out, *extra, data=None):
    return (["--config", str(tiny_config), "--output", str(out), "--data", data or tiny_data["prefix"],
             "--tokenizer", tiny_data["tokenizer"], "--no_progress", "--set", "training.eval_every=0",
             "--set", "training.checkpoint_every=3", "--set", "training.data_workers=0"]
            + sum((["--set", o] for o in tiny_overrides), []) + list(extra))


def test_resume_refused_with_diff_unless_extend(tiny_config, tiny_data, tiny_overrides, tmp_path, capsys):
    out = tmp_path / "run"
    six = str(6 * TOKENS_PER_STEP)
    assert train_main(_args(tiny_config, tiny_data, tiny_overrides, out, "--train_tokens", six)) == 0
    capsys.readouterr()
    first = read_metrics(out / "metrics.jsonl")
    saved = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    def refused(*extra, data=None) -> str:
        assert train_main(_args(tiny_config, tiny_data, tiny_overrides, out, *extra, data=data)) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1  # one line
        assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == saved  # nothing touched
        return err

    more = str(12 * TOKENS_PER_STEP)
    assert "pass --extend" in refused("--train_tokens", more)
    err = refused("--train_tokens", more, "--extend", "--set", "training.lr=1e-3")
    assert "training.lr: 0.003 -> 0.001" in err and "--extend" not in err.split("differences")[0]
    assert "data.code_text_document" in refused("--train_tokens", str(6 * TOKENS_PER_STEP), data=tiny_data["mix"])
    assert "tokenizer.hash" in refused("--train_tokens", str(6 * TOKENS_PER_STEP),
                                       "--tokenizer", tiny_data["tokenizer"] + "/tokenizer.json")
    assert "cannot shrink" in refused("--train_tokens", str(3 * TOKENS_PER_STEP))
    assert "already planned for 6" in refused("--train_tokens", str(6 * TOKENS_PER_STEP), "--extend")
    assert "--train_tokens: expected a token count" in refused("--train_tokens", "lots", "--extend")

    assert train_main(_args(tiny_config, tiny_data, tiny_overrides, out, "--train_tokens", more, "--extend")) == 0
    assert "resuming after step 6" in capsys.readouterr().err
    ext = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in ext] == list(range(1, 13)) and ext[:6] == first  # the steps taken are kept
    kw = dict(lr=3e-3, min_lr=3e-4, warmup_steps=2)
    assert [r["lr"] for r in ext] == pytest.approx([lr_at_segments(s, ends=[6, 12], **kw) for s in range(12)],
                                                   rel=1e-12)
    info = json.loads((out / "run_info.json").read_text())
    assert info["finished"] and info["steps_done"] == 12 and info["total_steps"] == 12
    assert json.loads((out / "resume.json").read_text())["schedule_ends"] == [6, 12]
    # the extended run's new steps read the samples a 12-step run reads at those steps (checked on the data)
    new = _batches(tiny_data, tiny_data["prefix"], range(7, 13), 12, tmp_path)
    long = _batches(tiny_data, tiny_data["prefix"], range(7, 13), 6000, tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(new, long, strict=True))


def test_max_steps_stops_without_changing_the_schedule(tiny_config, tiny_data, tiny_overrides, tmp_path, capsys):
    out = tmp_path / "run"
    budget = ["--train_tokens", str(10 * TOKENS_PER_STEP)]
    assert train_main(_args(tiny_config, tiny_data, tiny_overrides, out, *budget, "--max_steps", "4")) == 0
    assert "stopped after step 4 of 10" in capsys.readouterr().out
    info = json.loads((out / "run_info.json").read_text())
    assert info["finished"] is False and info["steps_done"] == 4 and info["total_steps"] == 10
    assert train_main(_args(tiny_config, tiny_data, tiny_overrides, out, *budget)) == 0  # no --extend needed
    lrs = [r["lr"] for r in read_metrics(out / "metrics.jsonl")]
    assert lrs == pytest.approx([lr_at(s, lr=3e-3, min_lr=3e-4, warmup_steps=2, total_steps=10) for s in range(10)],
                                rel=1e-12)


def test_warmup_longer_than_run_warns(tiny_config, tiny_data, tiny_overrides, tmp_path):
    cfg = load_run_config(tiny_config, tiny_overrides + ["training.max_steps=2", "training.warmup_steps=5",
                                                         "training.eval_every=0", f"data.path={tiny_data['prefix']}",
                                                         f"data.tokenizer={tiny_data['tokenizer']}"])
    with pytest.warns(UserWarning, match="training.warmup_steps: 5 >= the run's 2 steps"):
        train(cfg, tmp_path / "run", progress=False)


def test_token_counts_take_suffixes(tiny_config):
    cfg = load_run_config(tiny_config, ["training.train_tokens=10B", "training.global_batch_tokens=512K",
                                        "training.global_batch_size=null"])
    assert cfg.training.train_tokens == 10_000_000_000 and cfg.training.global_batch_tokens == 512_000
    with pytest.raises(ConfigError, match="training.train_tokens: expected a token count"):
        load_run_config(tiny_config, ["training.train_tokens=1..5B"])


def test_check_resume_rules(tmp_path):
    from pretraining.train.resume import check_resume, differences, write_state

    fp = {"model": {"dimension": 64}, "training": {"lr": 0.003}, "schedule": {"steps": 6},
          "data": {"d": {"idx_sha256": "a"}}, "tokenizer": {"hash": "t"}}
    assert check_resume(tmp_path, fp, extend=False, has_checkpoint=False) == [6]
    with pytest.raises(ConfigError, match="--extend: .* no checkpointed run"):
        check_resume(tmp_path, fp, extend=True, has_checkpoint=False)
    with pytest.raises(ConfigError, match="no resume.json"):
        check_resume(tmp_path, fp, extend=False, has_checkpoint=True)
    write_state(tmp_path, fp, [6])
    other = {**fp, "data": {"d": {"idx_sha256": "b"}}, "schedule": {"steps": 9}}
    assert differences(fp, other) == ["data.d.idx_sha256: 'a' -> 'b'", "schedule.steps: 6 -> 9"]
    with pytest.raises(ConfigError, match="data.d.idx_sha256: 'a' -> 'b'"):
        check_resume(tmp_path, other, extend=True, has_checkpoint=True)
    # killed before its first checkpoint: nothing to resume, so new settings start afresh
    assert check_resume(tmp_path, other, extend=False, has_checkpoint=False) == [9]
    assert check_resume(tmp_path, {**fp, "schedule": {"steps": 9}}, extend=True, has_checkpoint=True) == [6, 9]
