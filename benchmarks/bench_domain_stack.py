"""Screens the learned stack of the offline domain classifier (issue 14, session 6) on the shared fineweb labels.

Per seed, the outer stratified 5-fold CV of ``njsl domains cv`` (same splits); in each outer fold one
:class:`freegens.stack.StackedDomainModel` with every base block is fitted on the training part (inner CV inside
it), and then the meta-classifier is refitted on subsets of its out-of-fold base features (``--screen``: CONFIGS or
CONFIGS2) — so many meta-level configurations are compared on the same base fits. ``--check`` runs
``cross_validate(model="stack", objective="macro_f1")`` (what ``njsl domains cv --model stack --objective
macro_f1`` runs) with the stack's defaults, which must print the figure of the same configuration in screen 2.
``--ridge RULE`` runs the ridge model instead (``njsl domains cv --rare_rule RULE``), ``--windows`` wraps the first
encoder in :class:`freegens.encoder.WindowEncoder`.

    PYTHONPATH=$PWD nice -n 10 python benchmarks/bench_domain_stack.py --encoder bundled --encoder mpnet
        [--cache_file MINILM.npz --cache_file MPNET.npz] [--seeds 0 1 2 3]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from freegens.encoder import ConcatEncoder, WindowEncoder, make_encoder
from freegens.local_model import _labels, _prep, cross_validate, load_labelled
from freegens.stack import BASES, StackedDomainModel, class_similarity, meta_scores
from njsl.paths import domain_labels_csv

#: name -> (blocks used (prefixes of the block names), meta C, meta class weights, offsets, meta)
_ALL = ("tfidf", "emb_lr", "knn", "centroid", "sim")
CONFIGS: dict[str, tuple[tuple[str, ...], float, str, bool, str]] = {}
#: the second screen: the ridge model with the encoder's blocks and its neighbour rule as base blocks
CONFIGS2: dict[str, tuple[tuple[str, ...], float, str, bool, str]] = {}
for _w in ("balanced", "sqrt", "none"):
    for _off in (False, True):
        _tag = f"{_w}{' +offsets' if _off else ''}"
        for _C in (1.0, 10.0):
            CONFIGS2[f"tied ridge_enc+nn_rare C={_C}, {_tag}"] = (("ridge_enc", "nn_rare"), _C, _w, _off, "tied")
            CONFIGS2[f"tied ridge_enc+nn_rare+emb_lr+knn+simk C={_C}, {_tag}"] = (
                ("ridge_enc", "nn_rare", "emb_lr", "knn", "simk"), _C, _w, _off, "tied")
            CONFIGS2[f"tied ridge_enc+nn_rare+tfidf+emb_lr C={_C}, {_tag}"] = (
                ("ridge_enc", "nn_rare", "tfidf", "emb_lr"), _C, _w, _off, "tied")
        CONFIGS2[f"lr ridge_enc+nn_rare, {_tag}"] = (("ridge_enc", "nn_rare"), 0.1, _w, _off, "lr")
        CONFIGS2[f"lr ridge_enc+nn_rare+emb_lr+sim, {_tag}"] = (("ridge_enc", "nn_rare", "emb_lr", "sim"), 0.1, _w,
                                                                _off, "lr")
for _w in ("balanced", "sqrt", "none"):
    for _off in (False, True):
        _tag = f"{_w}{' +offsets' if _off else ''}"
        CONFIGS[f"lr tfidf only, {_tag}"] = (("tfidf",), 0.1, _w, _off, "lr")
        CONFIGS[f"lr tfidf+emb_lr+sim, {_tag}"] = (("tfidf", "emb_lr", "sim"), 0.1, _w, _off, "lr")
        CONFIGS[f"lr tfidf+emb_lr+knn+sim, {_tag}"] = (("tfidf", "emb_lr", "knn", "sim"), 0.1, _w, _off, "lr")
        CONFIGS[f"lr tfidf+emb_lr+centroid+sim, {_tag}"] = (("tfidf", "emb_lr", "centroid", "sim"), 0.1, _w, _off, "lr")
        CONFIGS[f"lr all five, {_tag}"] = (_ALL, 0.1, _w, _off, "lr")
        CONFIGS[f"lr all five C=1, {_tag}"] = (_ALL, 1.0, _w, _off, "lr")
        for _C in (0.1, 1.0, 10.0):
            CONFIGS[f"tied tfidf+emb_lr C={_C}, {_tag}"] = (("tfidf", "emb_lr"), _C, _w, _off, "tied")
            CONFIGS[f"tied tfidf+emb_lr+knn+simk C={_C}, {_tag}"] = (("tfidf", "emb_lr", "knn", "simk"), _C, _w, _off,
                                                                     "tied")
            CONFIGS[f"tied all five C={_C}, {_tag}"] = (("tfidf", "emb_lr", "knn", "centroid", "simk"), _C, _w, _off,
                                                        "tied")


def cached_encoder(specs: list[str], cache_files: list[str], max_tokens: int = 256):
    """The encoder of ``specs`` (:func:`make_encoder`), each part's in-memory cache filled from its ``.npz`` in
    ``cache_files`` (in order; kept by ``bench_domain_encoders.py --cache_dir``), whatever folder the file names
    as its spec: the same weights may sit in another folder here."""
    encoder = make_encoder(specs, max_tokens=max_tokens)
    for part, file in zip(getattr(encoder, "encoders", [encoder]), cache_files, strict=False):
        with np.load(file, allow_pickle=False) as data:
            if int(data["max_tokens"]) != part.max_tokens:
                raise SystemExit(f"{file}: {int(data['max_tokens'])} tokens, not {part.max_tokens}")
            part._cache.update(zip(data["keys"].tolist(), data["vectors"], strict=True))
            print(f"{file}: {len(data['keys'])} embeddings of {str(data['spec'])!r} for {part.spec!r}")
    return encoder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--encoder", action="append", required=True, help="bundled, mpnet, PATH; repeat to concatenate")
    ap.add_argument("--max_tokens", type=int, default=256)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--cache_file", action="append", default=[], help="per --encoder, in order: an .npz kept by "
                    "bench_domain_encoders.py --cache_dir with that encoder's document embeddings (read whatever "
                    "folder the file names as its spec: the same weights may sit in another folder here)")
    ap.add_argument("--windows", default=None, help="e.g. first,middle,last: the first --encoder embeds these token "
                    "windows of each text, concatenated (freegens.encoder.WindowEncoder)")
    ap.add_argument("--save_cache", default=None, help="write the first encoder's embeddings (all windows) here")
    ap.add_argument("--embed_only", action="store_true", help="stop after embedding (with --save_cache)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--shrink", type=float, default=5.0)
    ap.add_argument("--screen", type=int, choices=(1, 2), default=1, help="1: CONFIGS, 2: CONFIGS2")
    ap.add_argument("--check", action="store_true", help="also run cross_validate(model='stack', "
                    "objective='macro_f1') per seed")
    ap.add_argument("--ridge", nargs="*", default=None, metavar="RULE", help="instead of the stack screen, run the "
                    "ridge model (njsl domains cv --model ridge) with these rare-class rules (nn, centroid)")
    ap.add_argument("--objectives", nargs="*", default=["macro_f1"], choices=["shares", "macro_f1"],
                    help="with --ridge")
    args = ap.parse_args()
    frame = load_labelled(domain_labels_csv())
    texts, y = _prep(frame["text"]), _labels(frame)
    encoder = cached_encoder(args.encoder, args.cache_file, args.max_tokens)
    first = list(getattr(encoder, "encoders", [encoder]))[0]  # a TextEncoder: its cache holds every window
    if args.windows:
        parts = list(getattr(encoder, "encoders", [encoder]))
        parts[0] = WindowEncoder(parts[0], tuple(args.windows.split(",")))
        encoder = parts[0] if len(parts) == 1 else ConcatEncoder(parts)
    t0, c0 = time.time(), time.process_time()
    encoder.encode(texts)
    print(f"embedded in {time.time() - t0:.0f} s wall, {time.process_time() - c0:.0f} CPU-s", flush=True)
    if args.save_cache:
        first.save_cache(args.save_cache)
    if args.embed_only:
        return
    if args.ridge is not None:
        return run_ridge(frame, encoder, args)
    classes, codes = np.unique(y, return_inverse=True)
    configs = CONFIGS if args.screen == 1 else CONFIGS2
    results: dict[str, list[float]] = {name: [] for name in configs}
    for seed in args.seeds:
        t0 = time.process_time()
        preds = {name: np.zeros(len(y), dtype=int) for name in configs}
        cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
        for train, test in cv.split(texts, y):
            bases = BASES if args.screen == 2 else _ALL  # screen 1 ran before ridge_enc/nn_rare existed
            # meta="lr" emits the raw similarities; their per-class form (what "tied" uses) is added below
            model = StackedDomainModel(encoder, bases=bases, seed=seed, k=args.k, shrink=args.shrink, meta="lr")
            Xtr = [texts[i] for i in train]
            ctr = codes[train]
            embs = model._embeddings(Xtr)
            oof = model.out_of_fold_features(Xtr, ctr, embs, len(classes))
            rows = model.oof_rows_
            fitted = model._fit_bases(Xtr, ctr, embs)
            Xte = [texts[i] for i in test]
            Zte = model._base_features(fitted, Xte, model._embeddings(Xte), len(classes))
            # the per-class form of the description similarities (what meta="tied" uses) beside the raw one
            names = list(model.block_names_)
            sim_cols = {n: [j for j, m in enumerate(names) if m == n] for n in set(names) if n.startswith("sim")}
            for n, cols in sorted(sim_cols.items()):
                oof = np.hstack([oof, class_similarity(oof[:, cols], classes)])
                Zte = np.hstack([Zte, class_similarity(Zte[:, cols], classes)])
                names += [f"simk{n[3:]}"] * len(classes)
            names = np.array(names)
            for name in configs:
                blocks, C, weight, offsets, meta_kind = configs[name]
                cols = np.flatnonzero([any(n.startswith(b) and not (b == "sim" and n.startswith("simk"))
                                           for b in blocks) for n in names])
                sub = StackedDomainModel(encoder, C=C, class_weight=weight, meta=meta_kind, seed=seed)
                sub.n_classes_ = len(classes)
                meta = sub._meta(ctr[rows]).fit(oof[rows][:, cols], ctr[rows])
                off = sub._choose_offsets(oof[rows][:, cols], ctr[rows], len(classes)) if offsets else 0.0
                preds[name][test] = (meta_scores(meta, Zte[:, cols], len(classes)) + off).argmax(axis=1)
        for name in configs:
            f1 = f1_score(codes, preds[name], labels=range(len(classes)), average="macro", zero_division=0)
            per = f1_score(codes, preds[name], labels=range(len(classes)), average=None, zero_division=0)
            results[name].append(float(f1))
            print(f"seed {seed} {name}: macro-F1 {f1:.3f} | " + " ".join(
                f"{c} {v:.2f}" for c, v in zip(classes, per, strict=True)), flush=True)
        print(f"seed {seed}: {time.process_time() - t0:.0f} CPU-s", flush=True)
        if args.check:
            res = cross_validate(frame, folds=5, seed=seed, encoder=encoder, model="stack", objective="macro_f1")
            print(f"seed {seed} cross_validate(model='stack', objective='macro_f1') with the stack's defaults "
                  f"(screen 2: tied ridge_enc+nn_rare C=1.0, balanced +offsets): macro-F1 {res['macro_f1']:.3f}",
                  flush=True)
    print("means over seeds", args.seeds)
    for name, vals in results.items():
        print(f"  {name}: {np.mean(vals):.3f} (" + " / ".join(f"{v:.3f}" for v in vals) + ")")


def run_ridge(frame, encoder, args) -> None:
    """``cross_validate`` of the ridge model per rare-class rule, objective and seed (what ``njsl domains cv``
    prints)."""
    for rule in args.ridge:
        for objective in args.objectives:
            rows = []
            for seed in args.seeds:
                t0 = time.process_time()
                res = cross_validate(frame, folds=5, seed=seed, encoder=encoder, objective=objective, rare_rule=rule)
                rows.append(res)
                per = " ".join(f"{k} {v['f1-score']:.2f}" for k, v in res["per_class"].items())
                print(f"ridge rare_rule={rule} {objective} seed {seed}: macro-F1 {res['macro_f1']:.3f}, paper protocol "
                      f"{res['paper_protocol']['macro_f1']:.3f}, accuracy {res['accuracy']:.3f}, shares gap "
                      f"{res['shares_gap']:.1f} ({time.process_time() - t0:.0f} CPU-s) | F1 {per}", flush=True)
            print(f"ridge rare_rule={rule} {objective} mean over seeds {args.seeds}: macro-F1 "
                  f"{np.mean([r['macro_f1'] for r in rows]):.3f} (" + " / ".join(f"{r['macro_f1']:.3f}" for r in rows)
                  + f"), paper protocol {np.mean([r['paper_protocol']['macro_f1'] for r in rows]):.3f}, accuracy "
                  f"{np.mean([r['accuracy'] for r in rows]):.3f}, shares gap "
                  f"{np.mean([r['shares_gap'] for r in rows]):.1f}", flush=True)


if __name__ == "__main__":
    main()
