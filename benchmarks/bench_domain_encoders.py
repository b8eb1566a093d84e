"""Sentence encoders for the offline domain classifier, compared by `njsl domains cv`'s own code (issue 14, session 5).

Embeds the 1,000 labelled documents once per encoder (optionally kept in an ``.npz`` so that a rerun skips it), then
runs :func:`freegens.local_model.cross_validate` — the function behind ``njsl domains cv`` — for every seed and
objective, so each printed figure is what ``njsl domains cv --seed S --encoder E --objective O`` prints. Two or more
``--encoder`` values are concatenated (:class:`freegens.encoder.ConcatEncoder`).

    PYTHONPATH=$PWD nice -n 10 python benchmarks/bench_domain_encoders.py --encoder mpnet [--encoder bundled]
        [--max_tokens 256] [--seeds 0 1 2 3] [--objectives shares macro_f1] [--cache_dir DIR]
"""
from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np

from freegens.encoder import make_encoder
from freegens.local_model import _prep, cross_validate, load_labelled
from njsl.paths import domain_labels_csv


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--encoder", action="append", required=True, help="bundled, mpnet, PATH or ORG/NAME; repeat to "
                    "concatenate")
    ap.add_argument("--max_tokens", type=int, default=256)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--objectives", nargs="*", default=["shares", "macro_f1"], choices=["shares", "macro_f1"])
    ap.add_argument("--cache_dir", default=None, help="keep each encoder's embeddings here (.npz per encoder)")
    args = ap.parse_args()
    frame = load_labelled(domain_labels_csv())
    texts = _prep(frame["text"])
    encoder = make_encoder(args.encoder, max_tokens=args.max_tokens)
    parts = getattr(encoder, "encoders", [encoder])
    files = [Path(args.cache_dir) / (hashlib.sha1(f"{e.spec}\0{e.max_tokens}".encode()).hexdigest()[:16] + ".npz")
             for e in parts] if args.cache_dir else [None] * len(parts)
    for part, file in zip(parts, files, strict=True):
        if file is not None and file.is_file():
            print(f"{file}: {part.load_cache(file)} embeddings of {part.spec!r}")
    t0, c0 = time.time(), time.process_time()
    encoder.encode(texts)  # once; every fold reuses the cache (a frozen encoder uses no label)
    for part, file in zip(parts, files, strict=True):
        if file is None:
            continue
        file.parent.mkdir(parents=True, exist_ok=True)
        part.save_cache(file)
    print(f"encoder {encoder.spec!r}, {args.max_tokens} tokens: embedded {len(texts)} documents in "
          f"{time.time() - t0:.0f} s wall, {time.process_time() - c0:.0f} CPU-s", flush=True)
    for objective in args.objectives:
        rows = []
        for seed in args.seeds:
            t0 = time.process_time()
            res = cross_validate(frame, folds=5, seed=seed, encoder=encoder, objective=objective)
            rows.append(res)
            per = " ".join(f"{k} {v['f1-score']:.2f}" for k, v in res["per_class"].items())
            print(f"{objective} seed {seed}: macro-F1 {res['macro_f1']:.3f}, paper protocol "
                  f"{res['paper_protocol']['macro_f1']:.3f}, accuracy {res['accuracy']:.3f}, shares gap "
                  f"{res['shares_gap']:.1f} ({time.process_time() - t0:.0f} CPU-s) | F1 {per}", flush=True)
        mean = {k: float(np.mean([r[k] for r in rows])) for k in ("macro_f1", "accuracy", "shares_gap")}
        print(f"{objective} mean over seeds {args.seeds}: macro-F1 {mean['macro_f1']:.3f} ("
              + " / ".join(f"{r['macro_f1']:.3f}" for r in rows) + "), paper protocol "
              f"{np.mean([r['paper_protocol']['macro_f1'] for r in rows]):.3f}, accuracy {mean['accuracy']:.3f}, "
              f"shares gap {mean['shares_gap']:.1f}", flush=True)
        first = rows[0]
        print(f"  seed {args.seeds[0]} per class P/R/F1: " + "; ".join(
            f"{k} {v['precision']:.2f}/{v['recall']:.2f}/{v['f1-score']:.2f}" for k, v in first["per_class"].items()))
        print(f"  seed {args.seeds[0]} shares (labels -> predicted): " + " ".join(
            f"{k[7:-9]} {first['shares']['labels'][k]:.1f}->{first['shares']['predicted'][k]:.1f}"
            for k in first["shares"]["labels"] if k.startswith("domain_")), flush=True)


if __name__ == "__main__":
    main()
