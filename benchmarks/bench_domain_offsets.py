"""Decision-offset variants for the offline domain classifier's macro-F1 (issue 14, session 4).

For each CV seed and outer fold it fits the linear model on the training part once (test scores) and runs the
inner CV of :class:`freegens.offsets.MacroF1Offsets` on the training part only (inner out-of-fold scores); every
offset rule below is then chosen from the inner scores and applied to the test scores, so the rules are compared
on the same fits. Prints macro-F1 over the 9 labels per seed, the 4-seed mean, seed-0 per-class F1 and seed-0
domain shares. ``njsl domains cv --objective macro_f1`` is the measured path of the rule that was kept (``cd``).

    PYTHONPATH=$PWD nice -n 10 python benchmarks/bench_domain_offsets.py [--encoder bundled] [--seeds 0 1 2 3]
        [--inner_folds 3] [--inner_repeats 1] [--rare_cues 0.1] [--linear_only]

With an encoder the offsets are chosen around the whole decision rule, neighbour rule included (as
``--objective macro_f1`` does); ``--linear_only`` chooses them on the linear model's scores and reports each rule
without (``NAME``) and with (``NAME+nn``) the neighbour rule applied afterwards.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.base import clone
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from freegens.features import domain_features
from freegens.local_model import RARE_BELOW, _labels, _prep, build_pipeline, load_labelled
from freegens.offsets import DEFAULT_GRID, MacroF1Offsets, choose_offsets, macro_f1_from_codes
from njsl.paths import domain_labels_csv


def offset_rules(scores: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Every rule's offsets, chosen from inner out-of-fold ``scores`` and integer labels ``y``."""
    k = scores.shape[1]
    prior = np.bincount(y, minlength=k) / len(y)
    cd = choose_offsets(scores, y)
    taus = np.arange(0, 1.01, 0.05)
    tau = max(taus, key=lambda t: macro_f1_from_codes(y, (scores - t * np.log(prior)).argmax(1), k))
    return {"plain": np.zeros(k), "cd": cd, "cd_half": cd / 2, "cd_1pass": choose_offsets(scores, y, passes=1),
            "cd_nonneg": choose_offsets(scores, y, grid=[g for g in DEFAULT_GRID if g >= 0]),
            "logit_adjust": -tau * np.log(prior)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--encoder", default="none")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--inner_folds", type=int, default=3)
    ap.add_argument("--inner_repeats", type=int, default=1)
    ap.add_argument("--rare_cues", type=float, default=0.0)
    ap.add_argument("--linear_only", action="store_true")
    args = ap.parse_args()
    frame = load_labelled(domain_labels_csv())
    X, y = _prep(frame["text"]), _labels(frame)
    encoder = None
    if args.encoder != "none":
        from freegens.encoder import TextEncoder

        encoder = TextEncoder(args.encoder)
        t0 = time.time()
        encoder.encode(X)  # once; the folds reuse the cache (frozen encoder, no label used)
        print(f"embedded {len(X)} documents in {time.time() - t0:.0f} s")
    results: dict[str, list[tuple[float, np.ndarray]]] = {}
    for seed in args.seeds:
        t0 = time.process_time()
        preds: dict[str, np.ndarray] = {}
        for train, test in StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y):
            X_tr, X_te = [X[i] for i in train], [X[i] for i in test]
            model = build_pipeline(seed=seed, encoder=encoder, rare_cues=args.rare_cues)
            # with an encoder and --linear_only: the pipeline inside RareClassNeighbours
            linear = model.pipeline if args.linear_only and encoder is not None else model
            inner = MacroF1Offsets(clone(linear), inner_folds=args.inner_folds, inner_repeats=args.inner_repeats,
                                   seed=seed)
            scores, codes = inner.inner_scores(X_tr, y[train])
            fitted = clone(linear).fit(X_tr, y[train])
            test_scores, classes = fitted.decision_function(X_te), np.asarray(fitted.classes_, dtype=object)
            nearest = None
            if encoder is not None and args.linear_only:  # the rare-class neighbour rule of RareClassNeighbours
                labels, counts = np.unique(y[train], return_counts=True)
                nn = y[train][(encoder.encode(X_te) @ encoder.encode(X_tr).T).argmax(axis=1)]
                nearest = np.where(np.isin(nn, labels[counts < RARE_BELOW]), nn, None)
            for name, offsets in offset_rules(scores, codes).items():
                pred = classes[(test_scores + offsets).argmax(axis=1)]
                preds.setdefault(name, np.empty(len(y), dtype=object))[test] = pred
                if nearest is not None:
                    preds.setdefault(name + "+nn", np.empty(len(y), dtype=object))[test] = np.where(
                        nearest != None, nearest, pred)  # noqa: E711 (element-wise on an object array)
        for name, pred in preds.items():
            f1 = f1_score(y, pred, labels=sorted(set(y) | set(pred)), average="macro", zero_division=0)
            results.setdefault(name, []).append((float(f1), pred))
        print(f"seed {seed}: {time.process_time() - t0:.0f} CPU-s", flush=True)
    labels = sorted(set(y))
    print(f"\nclasses: {', '.join(labels)}")
    shares = domain_features(list(y), ["en"] * len(y))
    print("label shares: " + " ".join(f"{k[7:-9]} {v:.1f}" for k, v in shares.items() if k.startswith("domain_")))
    for name, runs in results.items():
        f1s = [f for f, _ in runs]
        per = f1_score(y, runs[0][1], labels=labels, average=None, zero_division=0)
        shares = domain_features(list(runs[0][1]), ["en"] * len(y))
        print(f"{name:16s} " + " / ".join(f"{f:.3f}" for f in f1s) + f"  mean {np.mean(f1s):.3f} | per class "
              + " ".join(f"{f:.2f}" for f in per) + " | shares " +
              " ".join(f"{k[7:-9]} {v:.1f}" for k, v in shares.items() if k.startswith("domain_")))


if __name__ == "__main__":
    main()
