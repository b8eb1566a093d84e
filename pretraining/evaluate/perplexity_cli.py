"""``njsl perplexity MODEL DATA``: held-out perplexity of a Hugging Face causal LM on a .bin/.idx or jsonl.

The computation is :func:`pretraining.evaluate.perplexity.perplexity`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pretraining.evaluate.perplexity import perplexity
from njsl.cli import guarded


@guarded
def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="Hugging Face model folder (e.g. RUN_DIR/hf) or hub name")
    ap.add_argument("data", help=".bin/.idx prefix or documents (jsonl/parquet/arrow)")
    ap.add_argument("--seq_len", type=int, help="window length (default: the model's max positions, <= 2048)")
    ap.add_argument("--batch_size", type=int, default=8)
    ap.add_argument("--text_column", default="text")
    ap.add_argument("--limit", type=int, help="first N documents only")
    ap.add_argument("--objective", default="clm", help="registered objective (clm; mlm gives a pseudo-perplexity)")
    ap.add_argument("--device", default="cuda" if _cuda() else "cpu")
    ap.add_argument("--output", help="write the result JSON here too")
    args = ap.parse_args(argv)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not Path(args.model).exists() and "/" not in args.model:
        raise FileNotFoundError(f"model {args.model} not found")
    tok = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model).to(args.device).eval()
    seq = args.seq_len or min(getattr(model.config, "max_position_embeddings", 2048) or 2048, 2048)
    result = perplexity(model, tok, args.data, seq_len=seq, batch_size=args.batch_size,
                        text_column=args.text_column, limit=args.limit, objective=args.objective,
                        device=args.device)
    text = json.dumps(result, indent=2)
    if args.output:
        from njsl.atomic import write_text_atomic

        write_text_atomic(args.output, text)
    print(text)
    return 0


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


if __name__ == "__main__":
    sys.exit(main())
