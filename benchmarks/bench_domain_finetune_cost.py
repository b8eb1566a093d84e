"""What partial fine-tuning of all-MiniLM-L6-v2 would cost on this machine (issue 14, session 6; a cost probe,
not a classifier).

The idea: keep the hidden states after layer ``--frozen`` of every document once, then in each CV fold train the
top layers + mean pooling + a linear head with class-weighted cross-entropy. This measures, on ``--docs`` labelled
documents, the CPU time of (a) the frozen part (once per document) and (b) one training epoch of the top layers,
and extrapolates linearly to one CV seed (5 folds x 800 training documents x ``--epochs``), which the brief caps
at 10 minutes. ::

    PYTHONPATH=$PWD nice -n 10 python benchmarks/bench_domain_finetune_cost.py [--docs 64] [--frozen 4]
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    import torch

    from freegens.encoder import TextEncoder
    from freegens.local_model import _labels, _prep, load_labelled
    from njsl.paths import domain_labels_csv

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=64)
    ap.add_argument("--frozen", type=int, default=4, help="layers kept frozen (MiniLM-L6 has 6)")
    ap.add_argument("--epochs", type=int, default=3, help="epochs assumed for the extrapolation")
    ap.add_argument("--max_tokens", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    torch.manual_seed(0)
    frame = load_labelled(domain_labels_csv()).sample(args.docs, random_state=0)
    texts, y = _prep(frame["text"]), _labels(frame)
    classes, codes = np.unique(y, return_inverse=True)
    enc = TextEncoder("bundled", max_tokens=args.max_tokens)
    enc._load()
    model, tok = enc._model, enc._tokenizer
    layers = model.encoder.layer
    batch = tok(texts, truncation=True, max_length=args.max_tokens, padding=True, return_tensors="pt")
    c0 = time.process_time()
    with torch.inference_mode():
        hidden = model(**batch, output_hidden_states=True).hidden_states[args.frozen]
    frozen_s = time.process_time() - c0
    hidden = hidden.clone()
    top = layers[args.frozen:]
    head = torch.nn.Linear(model.config.hidden_size, len(classes))
    params = [p for layer in top for p in layer.parameters()] + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=2e-5)
    weights = torch.tensor(len(codes) / (len(classes) * np.bincount(codes, minlength=len(classes)).clip(min=1)),
                           dtype=torch.float32)
    mask = batch["attention_mask"]
    ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min  # additive, as BERT layers take
    target = torch.tensor(codes)
    c0 = time.process_time()
    for start in range(0, len(texts), args.batch):
        sl = slice(start, start + args.batch)
        h = hidden[sl]
        for layer in top:
            out = layer(h, attention_mask=ext[sl])
            h = out[0] if isinstance(out, tuple) else out
        m = mask[sl].unsqueeze(-1).float()
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1)
        loss = torch.nn.functional.cross_entropy(head(pooled), target[sl], weight=weights)
        opt.zero_grad()
        loss.backward()
        opt.step()
    epoch_s = time.process_time() - c0
    per_doc_frozen, per_doc_epoch = frozen_s / args.docs, epoch_s / args.docs
    seed_s = 1000 * per_doc_frozen + 5 * 800 * args.epochs * per_doc_epoch
    # the frozen part is timed as a full forward pass (all layers): an upper bound of the layers it needs
    print(f"{args.docs} documents, {args.max_tokens} tokens, {args.frozen} frozen layers: frozen part "
          f"{frozen_s:.1f} CPU-s ({per_doc_frozen:.3f}/doc), one training epoch of the top "
          f"{len(top)} layers + head {epoch_s:.1f} CPU-s ({per_doc_epoch:.3f}/doc); one CV seed (1000 documents "
          f"once, 5 folds x 800 x {args.epochs} epochs) ~ {seed_s / 60:.1f} CPU-min, without the inner CV that "
          "--objective macro_f1 adds", flush=True)


if __name__ == "__main__":
    main()
