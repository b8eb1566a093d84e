"""HELM vs cross-entropy on synthetic coding sequences (CPU): held-out codon perplexity and accuracies.

    PYTHONPATH=$PWD python benchmarks/helm_vs_ce.py --steps 300 --seeds 0 1 --alphas 0.2 0.6

Same model, data order and seed for every loss; only the training loss differs. Data: ``synthetic_mrna``
(an "organism" with Markov amino-acid transitions and skewed codon usage), 3-mer tokens; held-out sequences
come from the same organism. Metrics: ``pretraining.evaluate.codon`` (perplexity is plain cross-entropy for all).
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from pretraining.evaluate.codon import codon_metric_counts, codon_metrics_from_counts, encode_sequences
from tokenization.kmer import parse_kmer_name
from tokenization.special_tokens import MASK
from pretraining.config import ModelConfig
from pretraining.models.registry import build_model
from pretraining.models.objectives import objective_for
from pretraining.data.synthetic_mrna import optimal_next_codon, synthetic_coding_sequences

TOKENIZER = "3mer"
WINDOW = 64
SEED = 7  # the synthetic organism


def model_config(mode: str, alpha: float | None, vocab_size: int, mask_id: int) -> ModelConfig:
    arch = dict(activation="gelu", layer_norm_type="layernorm", positional_embeddings="learned", biases="all")
    return ModelConfig(dimension=64, num_layers=2, num_heads=2, ffn_hidden_size=256, vocab_size=vocab_size,
                       sequence_length=WINDOW, objective=mode, **arch, helm=alpha is not None,
                       helm_alpha=alpha if alpha is not None else 0.2,
                       extra={"mask_token_id": mask_id} if mode == "mlm" else {})


def run(mode: str, alpha: float | None, seed: int, train: torch.Tensor, held_out: torch.Tensor, steps: int,
        batch: int, lr: float) -> dict:
    vocab = parse_kmer_name(TOKENIZER).vocabulary()
    cfg = model_config(mode, alpha, len(vocab), vocab.index(MASK))
    torch.manual_seed(seed)
    model = build_model(cfg)
    objective = objective_for(cfg, TOKENIZER)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 30))
    order = torch.Generator().manual_seed(seed)
    masks = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for _ in range(steps):
        rows = train[torch.randint(len(train), (batch,), generator=order)]
        loss, n = objective(model, rows, -1, masks)
        (loss / n).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
    seconds = time.perf_counter() - t0
    counts = codon_metric_counts(model, held_out.split(64), mode, vocab, seed=1234)
    return {**codon_metrics_from_counts(counts), "train_s": seconds}


def mean_sd(values: list[float]) -> str:
    spread = f" ± {statistics.stdev(values):.3f}" if len(values) > 1 else ""
    return f"{statistics.mean(values):.3f}{spread}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modes", nargs="+", default=["clm", "mlm"])
    ap.add_argument("--alphas", nargs="+", type=float, default=[0.2, 0.6])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--train_sequences", type=int, default=4000)
    ap.add_argument("--held_out_sequences", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train = encode_sequences(synthetic_coding_sequences(args.train_sequences, seed=SEED, offset=0), TOKENIZER, WINDOW)
    held = encode_sequences(synthetic_coding_sequences(args.held_out_sequences, seed=SEED, offset=1), TOKENIZER, WINDOW)
    keys = ("codon_perplexity", "codon_accuracy", "amino_acid_accuracy", "synonymous_error_share")
    print(f"| mode | loss | {' | '.join(keys)} | train s/run |")
    print("|---|---|" + "---|" * (len(keys) + 1))
    for mode in args.modes:
        for alpha in [None, *args.alphas]:
            results = [run(mode, alpha, s, train, held, args.steps, args.batch, args.lr) for s in args.seeds]

            name = "cross-entropy" if alpha is None else f"HELM α={alpha}"
            secs = statistics.mean(r["train_s"] for r in results)
            print(f"| {mode} | {name} | {' | '.join(mean_sd([r[k] for r in results]) for k in keys)} | {secs:.0f} |",
                  flush=True)
    print(f"\n{len(args.seeds)} seeds (mean ± sd), {args.steps} steps × {args.batch} sequences, held-out "
          f"{results[0]['codon_positions']} codon positions per run")
    best = optimal_next_codon(SEED)
    print("ceiling, clm, true model at interior positions: " + ", ".join(f"{k} {v:.3f}" for k, v in best.items()))


if __name__ == "__main__":
    main()
