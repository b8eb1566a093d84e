"""``njsl train``: pretrain a model from a YAML config on a data mix (or one .bin/.idx prefix).

Single process by default (CPU or one GPU); ``--nproc_per_node N`` (and ``--nnodes``...) relaunch the same
command under ``torchrun``. Under torchrun (or Slurm's srun + torchrun) each rank runs this module.

    njsl train --config pretraining/configs/models/Llama2_220M.yaml --data mix.txt \\
        --tokenizer meta-llama/Llama-2-7b-hf --output runs/llama220m --set training.train_tokens=2e9
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

from njsl.cli import guarded
from pretraining.models.run_config import load_run_config


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True, help="model/run config YAML (pretraining/configs/models/)")
    ap.add_argument("--output", required=True, help="run directory (checkpoints, metrics, config, run_info)")
    ap.add_argument("--data", help="mix file or .bin/.idx prefix (overrides data.path of the config)")
    ap.add_argument("--tokenizer", help="HF tokenizer name/folder or sentencepiece model (overrides data.tokenizer)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                    help="override a config field, e.g. --set training.train_tokens=1e9 (repeatable)")
    ap.add_argument("--train_tokens", help="token budget, e.g. 2e9, 300M, 10B (shortcut for --set "
                    "training.train_tokens=); it fixes the LR schedule")
    ap.add_argument("--max_steps", type=int, help="stop after this many optimizer steps, the schedule unchanged "
                    "(without a token budget it is the schedule's length)")
    ap.add_argument("--extend", action="store_true", help="continue a run in --output with a larger token budget: "
                    "same samples for the steps taken, the LR re-warms then decays to the new end")
    ap.add_argument("--nproc_per_node", default="1", help="processes per node: a number, or 'gpu' for all GPUs")
    ap.add_argument("--nnodes", type=int, default=1, help="nodes (multi-node: also --node_rank/--master_addr)")
    ap.add_argument("--node_rank", type=int, default=0)
    ap.add_argument("--master_addr", default="127.0.0.1")
    ap.add_argument("--master_port", type=int, default=29500)
    ap.add_argument("--env", help=".env file with WANDB_PROJECT etc. (default: ./.env or the repo's)")
    ap.add_argument("--no_progress", action="store_true", help="no tqdm progress bar")
    ap.add_argument("--dry_run", action="store_true", help="print the resolved config and plan, do not train")
    return ap


def _nproc(value: str) -> int:
    if value == "gpu":
        import torch

        return max(1, torch.cuda.device_count())
    return int(value)


def _relaunch(args, argv: list[str]) -> int:
    """Run this module under torchrun with the same arguments (minus the launcher's own)."""
    skip = {"--nproc_per_node", "--nnodes", "--node_rank", "--master_addr", "--master_port"}
    rest, it = [], iter(argv)
    for a in it:
        key = a.split("=", 1)[0]
        if key in skip:
            if "=" not in a:
                next(it, None)
            continue
        rest.append(a)
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={_nproc(args.nproc_per_node)}",
           f"--nnodes={args.nnodes}", f"--node_rank={args.node_rank}", f"--master_addr={args.master_addr}",
           f"--master_port={args.master_port}", "-m", "pretraining.train.train_cli", *rest]
    if args.nnodes == 1:  # one node: torchrun picks a free port itself
        cmd[3:8] = ["--standalone", cmd[3], "--nnodes=1"]
    return subprocess.call(cmd)


@guarded
def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(prog).parse_args(argv)
    from pretraining.train.env import load_env

    load_env(args.env)
    if "LOCAL_RANK" not in os.environ and (_nproc(args.nproc_per_node) > 1 or args.nnodes > 1):
        return _relaunch(args, argv)
    overrides = list(args.set)
    if args.data:
        overrides.append(f"data.path={args.data}")
    if args.tokenizer:
        overrides.append(f"data.tokenizer={args.tokenizer}")
    if args.train_tokens is not None:
        from njsl.units import parse_token_count

        overrides.append(f"training.train_tokens={parse_token_count(args.train_tokens, '--train_tokens')}")
    if args.max_steps is not None:
        overrides.append(f"training.max_steps={args.max_steps}")
    cfg = load_run_config(args.config, overrides)
    if args.dry_run:
        from pretraining.models.counts import active_param_count, format_params, param_count
        from pretraining.train.loop import plan

        print(cfg.to_yaml())
        if cfg.model.vocab_size:
            n, active = param_count(cfg.model), active_param_count(cfg.model)
            print(f"# parameters: {format_params(n)} ({n:,})" + (
                f"; active per token: {format_params(active)} ({active:,})" if active != n else ""))
        if cfg.training.train_tokens or cfg.training.max_steps:
            print(f"# plan (1 process): {plan(cfg, 1)}")
        return 0
    from pretraining.train import train

    # a diverged run exits 3 (TrainingDiverged.exit_code), a data error 2: njsl.cli.guarded maps them
    info = train(cfg, args.output, progress=False if args.no_progress else None, extend=args.extend)
    if int(os.environ.get("RANK", "0")) == 0:
        state = ("finished" if info["finished"] else
                 f"stopped after step {info['steps_done']} of {info['total_steps']} (rerun to resume)")
        print(f"{info['model_id']}: {state}; {info['tokens_seen']:,} tokens; checkpoint {info['last_checkpoint']}")
    return 0

if __name__ == "__main__":
    sys.exit(main())
