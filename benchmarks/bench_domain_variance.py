"""Screens variance reduction for the offline domain classifier (issue 14, session 7) on the shared fineweb labels.

``--mode heads`` (ideas 1, 2, 4 of the session): per seed, the outer stratified 5-fold CV of ``njsl domains cv``;
in each outer fold the features of the ridge model (TF-IDF, statistics, cues, encoder blocks) are fitted once per
inner training part of ``--repeats`` differently shuffled inner 3-fold CVs (:func:`freegens.offsets.inner_splits`,
the splits ``MacroF1Offsets`` uses, repeat r shuffled with seed + r) and once on the outer training part; on each
fit several linear *heads* are trained on the same feature matrix — the ridge classifier of the model (alpha 1),
ridge with alpha 0.5 and 2, and :class:`freegens.ridge_model.BaggedRidge` (``--bags`` stratified bootstrap
resamples) — and the rare-class nearest-document rule is applied to each (+inf, as ``RareClassNeighbours``). Per
head, the macro-F1 offsets are chosen from the inner out-of-fold scores of the first repeat only (``R1``: the
model of ``--objective macro_f1``), of the first 2 or 3 repeats stacked (``pool2``/``pool3``) or chosen per repeat
and averaged (``mean2``/``mean3``), averaged over 20 stratified bootstrap resamples of the inner out-of-fold rows of
the first repeat or of all three stacked (``boot20``, ``boot20 pool3``; :func:`freegens.offsets.bootstrap_offsets`,
no refit), or not at all (``argmax``). ``ridge R1`` is ``njsl domains cv --objective macro_f1`` exactly (checked
against its figures). ``--mode cv`` runs ``cross_validate`` with ``--alpha``/``--offset_resamples`` (the CLI's
path) for that check.

``--mode augment`` (idea 3): ``cross_validate``'s protocol with the ridge model (``--objective macro_f1``) whose
linear part is :class:`freegens.ridge_model.WindowAugmented`: the middle and last token windows of the training
documents of classes under ``--augment_below`` training documents (``all``: every class) as extra training rows;
the first ``--encoder`` cuts and embeds the windows (its cache file must hold them).

    PYTHONPATH=$PWD nice -n 10 python benchmarks/bench_domain_variance.py --encoder bundled --encoder MPNET_DIR \
        --cache_file MINILM.npz --cache_file MPNET.npz --seeds 0 1 2 3 [--mode heads]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from bench_domain_stack import cached_encoder
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from freegens.encoder import WindowEncoder
from freegens.local_model import _labels, _prep, build_pipeline, cross_validate, load_labelled, score_predictions
from freegens.offsets import combine_offsets, inner_splits
from freegens.ridge_model import RARE_BELOW, BaggedRidge, WindowAugmented
from njsl.paths import domain_labels_csv

#: offset rules per head: name -> (repeats used, how combined); None: plain argmax
RULES: dict[str, tuple[int, str] | None] = {"argmax": None, "R1": (1, "pool"), "pool2": (2, "pool"),
                                            "pool3": (3, "pool"), "mean2": (2, "mean"), "mean3": (3, "mean"),
                                            "boot20": (1, "boot"), "boot20 pool3": (3, "boot")}


def offsets_by_rule(parts: list, how: tuple[int, str] | None, seed: int):
    """The offsets of one rule from the inner repeats' (scores, labels); ``boot``: :func:`bootstrap_offsets`
    (20 resamples) of the first ``how[0]`` repeats stacked."""
    if how is None:
        return 0.0
    if how[1] == "boot":
        return combine_offsets(parts[:how[0]], resamples=20, seed=seed)
    return combine_offsets(parts[:how[0]], how[1])


def heads(model, bags: int, seed: int, names: list[str] | None = None) -> dict:
    """The linear heads fitted on each feature matrix: the model's own ridge classifier and its variants (those
    in ``names``, all when None)."""
    ridge = model.pipeline.named_steps["clf"]
    every = {"ridge": ridge, "ridge a0.5": clone(ridge).set_params(alpha=0.5),
             "ridge a2": clone(ridge).set_params(alpha=2.0), "bag": BaggedRidge(alpha=1.0, n_bags=bags, seed=seed)}
    return {k: v for k, v in every.items() if names is None or k in names}


def head_scores(model, texts: list[str], emb: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray,
                head_set: dict) -> dict[str, np.ndarray]:
    """Per head, the decision scores of ``test`` after fitting the features once on ``train``; the neighbour
    rule's class gets +inf (``RareClassNeighbours.decision_function``)."""
    features = clone(model.pipeline.named_steps["features"])
    f_train = features.fit_transform([texts[i] for i in train], y[train])
    f_test = features.transform([texts[i] for i in test])
    classes, counts = np.unique(y[train], return_counts=True)
    rare = classes[counts < model.rare_below]
    nearest = y[train][(emb[test] @ emb[train].T).argmax(axis=1)]
    override = np.isin(nearest, rare)
    out = {}
    for name, head in head_set.items():
        fitted = clone(head).fit(f_train, y[train])
        if not np.array_equal(np.asarray(fitted.classes_, dtype=object), classes):
            raise RuntimeError("a head's classes are not the sorted training labels")
        scores = np.array(fitted.decision_function(f_test), dtype=float)
        scores[np.flatnonzero(override), np.searchsorted(classes, nearest[override])] = np.inf
        out[name] = scores
    return out


def screen_heads(texts: list[str], y: np.ndarray, encoder, args) -> dict[str, list[dict]]:
    """Out-of-fold predictions of every head x offset rule per seed, scored like ``njsl domains cv``."""
    emb = encoder.encode(texts)
    classes = np.unique(y)
    results: dict[str, list[dict]] = {}
    for seed in args.seeds:
        t0 = time.process_time()
        model = build_pipeline(encoder=encoder, seed=seed)  # RareClassNeighbours around the pipeline
        head_set = heads(model, args.bags, seed, args.heads)
        rules = {r: RULES[r] for r in args.rules}
        preds = {f"{h} {r}": np.empty(len(y), dtype=object) for h in head_set for r in rules}
        for train, test in StratifiedKFold(n_splits=5, shuffle=True, random_state=seed).split(texts, y):
            parts: dict[str, list] = {h: [] for h in head_set}
            for kept, splits in inner_splits(y[train], 3, seed, args.repeats):
                oof = {h: np.zeros((len(train), len(classes))) for h in head_set}
                for a, b in splits:
                    for h, s in head_scores(model, texts, emb, y, train[a], train[b], head_set).items():
                        oof[h][b] = s
                codes = np.searchsorted(classes, y[train][kept])
                for h in head_set:
                    parts[h].append((oof[h][kept], codes))
            outer = head_scores(model, texts, emb, y, train, test, head_set)
            for h in head_set:
                for rule, how in rules.items():
                    offsets = offsets_by_rule(parts[h], how, seed)
                    preds[f"{h} {rule}"][test] = classes[(outer[h] + offsets).argmax(axis=1)]
        score_seed(preds, y, results, seed)
        print(f"seed {seed}: {time.process_time() - t0:.0f} CPU-s", flush=True)
    return results


def screen_augment(texts: list[str], y: np.ndarray, encoder, args) -> dict[str, list[dict]]:
    """``cross_validate``'s out-of-fold predictions of the ridge model (macro_f1) with window rows added."""
    windows_of = WindowEncoder(next(iter(getattr(encoder, "encoders", [encoder]))), ("first", "middle", "last"))
    results: dict[str, list[dict]] = {}
    for below in args.augment_below:
        name = f"augment classes below {below}" if below != "all" else "augment all classes"
        for seed in args.seeds:
            t0 = time.process_time()
            model = build_pipeline(encoder=encoder, seed=seed, objective="macro_f1")
            inner = model.estimator  # RareClassNeighbours: the neighbour rule stays on the documents
            inner.set_params(pipeline=WindowAugmented(inner.pipeline, windows_of,
                                                      classes_below=None if below == "all" else int(below)))
            cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
            res = score_predictions(y, cross_val_predict(model, texts, y, cv=cv))
            results.setdefault(name, []).append(res)
            print(line(f"{name} seed {seed}", res) + f" ({time.process_time() - t0:.0f} CPU-s)", flush=True)
    return results


def run_cv(frame, encoder, args) -> dict[str, list[dict]]:
    """``cross_validate`` (what ``njsl domains cv --objective macro_f1 --alpha A --offset_resamples N`` runs) per
    seed: the check that the option gives the screen's figures."""
    name = f"cross_validate alpha {args.alpha:g} offset_resamples {args.offset_resamples}"
    weights = tuple(float(w) for w in args.encoder_weights.split(",")) if args.encoder_weights else None
    if weights or args.zero_shot:
        name += f" encoder_weights {args.encoder_weights} zero_shot {args.zero_shot:g} {args.definitions}"
    results: dict[str, list[dict]] = {name: []}
    for seed in args.seeds:
        t0 = time.process_time()
        res = cross_validate(frame, folds=5, seed=seed, encoder=encoder, objective="macro_f1", alpha=args.alpha,
                             offset_resamples=args.offset_resamples, encoder_weights=weights,
                             zero_shot=args.zero_shot, definitions=args.definitions)
        results[name].append(res)
        print(line(f"{name} seed {seed}", res) + f" ({time.process_time() - t0:.0f} CPU-s)", flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(results[name], indent=2))
    return results


def line(name: str, res: dict) -> str:
    per = " ".join(f"{k} {v['f1-score']:.2f}" for k, v in res["per_class"].items())
    return (f"{name}: macro-F1 {res['macro_f1']:.3f}, paper protocol {res['paper_protocol']['macro_f1']:.3f}, "
            f"accuracy {res['accuracy']:.3f}, shares gap {res['shares_gap']:.1f} | F1 {per}")


def score_seed(preds: dict, y, results: dict[str, list[dict]], seed: int) -> None:
    """Score one seed's out-of-fold predictions of every configuration (``preds``: name -> labels), add them to
    ``results`` and print a :func:`line` each."""
    for name, pred in preds.items():
        res = score_predictions(y, pred)
        results.setdefault(name, []).append(res)
        print(line(f"{name} seed {seed}", res), flush=True)


def write_results(path: str | None, results: dict[str, list[dict]]) -> None:
    """With ``--json PATH``: every configuration's per-seed figures (macro-F1, accuracy, shares, per class)."""
    if path:
        keys = ("macro_f1", "accuracy", "shares_gap", "paper_protocol", "per_class", "shares")
        Path(path).write_text(json.dumps({n: [{k: r[k] for k in keys} for r in rows] for n, rows in results.items()},
                                         indent=1))


def print_means(results: dict[str, list[dict]], seeds: list[int]) -> None:
    """Per configuration, the means over the seeds of what :func:`line` prints per seed."""
    print("means over seeds", seeds)
    for name, rows in results.items():
        mean = {k: np.mean([r[k] for r in rows]) for k in ("macro_f1", "accuracy", "shares_gap")}
        print(f"  {name}: macro-F1 {mean['macro_f1']:.3f} (" + " / ".join(f"{r['macro_f1']:.3f}" for r in rows)
              + f"), paper protocol {np.mean([r['paper_protocol']['macro_f1'] for r in rows]):.3f}, accuracy "
              f"{mean['accuracy']:.3f}, shares gap {mean['shares_gap']:.1f}")


def encoder_seed_args(description: str) -> argparse.ArgumentParser:
    """A parser with the options the domain screens share: the encoders, their cache files, tokens and seeds."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--encoder", action="append", required=True, help="bundled, mpnet, PATH; repeat to concatenate")
    ap.add_argument("--cache_file", action="append", default=[], help="per --encoder, in order: its .npz cache")
    ap.add_argument("--max_tokens", type=int, default=256)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    return ap


def main() -> None:
    ap = encoder_seed_args(__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=("heads", "augment", "cv"), default="heads",
                    help="cv: cross_validate (njsl domains cv) with --objective macro_f1, --alpha, --offset_resamples")
    ap.add_argument("--alpha", type=float, default=1.0, help="with --mode cv")
    ap.add_argument("--offset_resamples", type=int, default=0, help="with --mode cv")
    ap.add_argument("--json", default=None, help="with --mode cv: write cross_validate's results (a list) here")
    ap.add_argument("--encoder_weights", default=None, help="with --mode cv: e.g. 1,0.5")
    ap.add_argument("--zero_shot", type=float, default=0.0, help="with --mode cv")
    ap.add_argument("--definitions", default="short", help="with --mode cv (with --zero_shot)")
    ap.add_argument("--bags", type=int, default=10)
    ap.add_argument("--heads", nargs="+", default=None, choices=["ridge", "ridge a0.5", "ridge a2", "bag"],
                    help="the heads to fit (default: all)")
    ap.add_argument("--rules", nargs="+", default=list(RULES), choices=list(RULES), help="offset rules")
    ap.add_argument("--repeats", type=int, default=3, choices=(1, 2, 3))
    ap.add_argument("--augment_below", nargs="+", default=[str(RARE_BELOW), "all"])
    args = ap.parse_args()
    frame = load_labelled(domain_labels_csv())
    texts, y = _prep(frame["text"]), _labels(frame)
    encoder = cached_encoder(args.encoder, args.cache_file, args.max_tokens)
    t0 = time.process_time()
    encoder.encode(texts)
    print(f"embedded in {time.process_time() - t0:.0f} CPU-s", flush=True)
    if args.mode == "cv":
        results = run_cv(frame, encoder, args)
    else:
        results = screen_heads(texts, y, encoder, args) if args.mode == "heads" else screen_augment(
            texts, y, encoder, args)
    print_means(results, args.seeds)


if __name__ == "__main__":
    main()
