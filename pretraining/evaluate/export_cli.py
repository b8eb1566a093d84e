"""``njsl export RUN_DIR``: a checkpoint -> a Hugging Face folder (config, safetensors, tokenizer).

The work is :func:`pretraining.evaluate.export.export_checkpoint`.
"""
from __future__ import annotations

import argparse
import sys

from pretraining.evaluate.export import export_checkpoint
from njsl.cli import guarded


@guarded
def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", help="trainer run directory (has config.yaml and checkpoints/)")
    ap.add_argument("--output", help="HF folder to write (default RUN_DIR/hf)")
    ap.add_argument("--step", type=int, help="checkpoint step (default: latest)")
    ap.add_argument("--tokenizer", help="tokenizer to bundle (default: the run's)")
    args = ap.parse_args(argv)
    out = export_checkpoint(args.run_dir, args.output, args.step, args.tokenizer)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
