"""Screens heads of the offline domain classifier in kernel form (issue 14, session 8) on the shared fineweb labels.

Per seed, the outer stratified 5-fold CV of ``njsl domains cv``; per outer fold the inner stratified 3-fold CV of
``--objective macro_f1`` (:func:`freegens.offsets.inner_splits`, first repeat: the splits ``MacroF1Offsets``
uses). On each inner training part and on the outer training part the model's feature blocks are fitted once and
kept as Gram matrices (:func:`freegens.kernels.fold_blocks`); every configuration is then one n × n solve on a
weighted sum of them (:func:`freegens.kernels.dual_ridge_scores`, = sklearn's ``RidgeClassifier``) or an SVM on
the same kernel, with the rare-class nearest-document rule (+inf, as ``RareClassNeighbours``) and the macro-F1
offsets chosen on the inner out-of-fold scores: ``R1`` (``--objective macro_f1``) or ``boot20`` (averaged over 20
stratified bootstrap resamples, ``--offset_resamples 20``), or on the closed-form leave-one-out scores of the outer
training part (``LOO``, ``LOO boot20``; :func:`freegens.kernels.dual_ridge_loo_scores`: no inner fit).
Configurations (``configs()``):

1. an RBF kernel on the unit-length joint embedding added to the linear kernel (kernel ridge), or an SVM
   (``sklearn.svm.SVC``, precomputed kernel, balanced class weights, one-vs-rest scores) on it;
2. each encoder part's embedding block scaled by 0.5/1/2 (its Gram matrix by the square), fixed or chosen per
   outer fold by the inner CV (``... inner-chosen``: the scale pair whose inner out-of-fold macro-F1 after its
   ``R1`` offsets is highest); the statistics or the similarity block scaled by 0.5 or 2;
3. class weights ``balanced ** p``;
4. ``--windows all|encoder`` (one encoder whose cache holds the token windows): test-time averaging of the scores
   over the first/middle/last token windows of each scored document (training reads the documents);
5. the rare-class rule's nearest document by embedding cosine + ``b`` × TF-IDF cosine (``nn +tfidf b``); ridge
   alpha 3 and 4.

Check: ``ridge a1`` with ``R1`` gives ``njsl domains cv --encoder bundled+mpnet --objective macro_f1``'s figures seed
by seed (0.334 / 0.355 / 0.351 / 0.319 on seeds 0-3); ``ridge a2`` with ``boot20`` (session 7's ``--alpha 2
--offset_resamples 20``) gives 0.335 / 0.355 / 0.351 / 0.349 against 0.337 / 0.355 / 0.351 / 0.349: the dual
solution is exact, sklearn's sparse solver stops at ``tol=1e-4`` (scores differ by ~1e-4), and a few documents
near an offset's threshold move.

    PYTHONPATH=$PWD nice -n 10 python benchmarks/bench_domain_kernels.py --encoder bundled --encoder MPNET_DIR \
        --cache_file MINILM.npz --cache_file MPNET.npz --seeds 0 1 2 3 [--only NAME ...] [--json out.json]
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from bench_domain_stack import cached_encoder
from bench_domain_variance import encoder_seed_args, print_means, score_seed, write_results
from sklearn.model_selection import StratifiedKFold

from freegens.kernels import (
    class_weights,
    doc_features,
    dual_ridge_loo_scores,
    dual_ridge_scores,
    fold_blocks_views,
    rbf_kernel_unit,
)
from freegens.local_model import _labels, _prep, load_labelled
from freegens.offsets import bootstrap_offsets, choose_offsets, inner_splits, macro_f1_from_codes
from freegens.ridge_model import RARE_BELOW
from njsl.paths import domain_labels_csv


@dataclass(frozen=True)
class Config:
    """One head: block scales (Gram factor = scale squared), ridge ``alpha``, an RBF kernel ``rbf * exp(...)``
    with ``gamma``, class weights ``balanced ** power``; ``svc_c`` > 0: an SVM with that C instead of ridge."""
    name: str
    alpha: float = 1.0
    scales: dict[str, float] = field(default_factory=dict)
    rbf: float = 0.0
    gamma: float = 1.0
    power: float = 1.0
    svc_c: float = 0.0
    nn_word: float = 0.0  # the rare-class rule's nearest document by embedding cosine + nn_word * TF-IDF cosine
    group: str = ""  # configurations of one group are also chosen among per outer fold by the inner CV


def configs() -> list[Config]:
    out = [Config("ridge a1"), Config("ridge a2", alpha=2.0), Config("ridge a3", alpha=3.0),
           Config("ridge a4", alpha=4.0)]
    for alpha in (1.0, 2.0):
        for lam in (0.5, 1.0, 2.0):
            out.append(Config(f"ridge a{alpha:g} + rbf {lam:g} g1", alpha=alpha, rbf=lam, gamma=1.0))
        out.append(Config(f"ridge a{alpha:g} + rbf 1 g3", alpha=alpha, rbf=1.0, gamma=3.0))
    for alpha in (1.0, 2.0):
        for beta in (0.5, 1.0):
            out.append(Config(f"ridge a{alpha:g} nn +tfidf {beta:g}", alpha=alpha, nn_word=beta))
    for c in (1.0, 10.0):
        out.append(Config(f"svc C{c:g} lin + rbf 1 g1", rbf=1.0, gamma=1.0, svc_c=c))
    out.append(Config("svc C1 lin", svc_c=1.0))
    for alpha in (1.0, 2.0):
        for s0 in (0.5, 1.0, 2.0):
            for s1 in (0.5, 1.0, 2.0):
                out.append(Config(f"ridge a{alpha:g} emb0 x{s0:g} emb1 x{s1:g}", alpha=alpha,
                                  scales={"embedding:0": s0, "embedding:1": s1}, group=f"scales a{alpha:g}"))
        for block in ("stats", "similarity"):  # the other dense blocks (statistics + cues, description similarities)
            for scale in (0.5, 2.0):
                out.append(Config(f"ridge a{alpha:g} {block} x{scale:g}", alpha=alpha, scales={block: scale}))
        for p in (0.5, 0.75, 1.25):
            out.append(Config(f"ridge a{alpha:g} balanced^{p:g}", alpha=alpha, power=p))
    return out


def head_scores(cfg: Config, blocks: dict, rbf: tuple[np.ndarray, np.ndarray] | None, codes: np.ndarray,
                n_classes: int, loo: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Test scores of one configuration from a fit's Gram blocks (block -> (train Gram, [test × train per view]))
    and the RBF kernel's train/test parts; with several views the scores are averaged over them. With ``loo`` (ridge
    only) also the leave-one-out scores of the training rows (:func:`freegens.kernels.dual_ridge_loo_scores`)."""
    K = sum(cfg.scales.get(b, 1.0) ** 2 * k for b, (k, _) in blocks.items())
    n_views = len(next(iter(blocks.values()))[1])
    Kt = np.vstack([sum(cfg.scales.get(b, 1.0) ** 2 * kts[v] for b, (_, kts) in blocks.items())
                    for v in range(n_views)])
    if cfg.rbf and rbf is not None:
        if n_views > 1:
            raise ValueError("the RBF kernel is computed on the documents only, not on views")
        K, Kt = K + cfg.rbf * rbf[0], Kt + cfg.rbf * rbf[1]
    if cfg.svc_c:
        from sklearn.svm import SVC

        svc = SVC(kernel="precomputed", C=cfg.svc_c, class_weight="balanced", decision_function_shape="ovr")
        svc.fit(K, codes)
        scores = np.full((len(Kt), n_classes), -np.inf)
        scores[:, svc.classes_] = svc.decision_function(Kt)
        return scores.reshape(n_views, -1, n_classes).mean(axis=0), None
    weights = class_weights(codes, n_classes, cfg.power)
    scores = dual_ridge_scores(K, Kt, codes, n_classes, cfg.alpha, weights)
    loo_scores = dual_ridge_loo_scores(K, codes, n_classes, cfg.alpha, weights) if loo else None
    return scores.reshape(n_views, -1, n_classes).mean(axis=0), loo_scores


def fit_scores(texts, dense, emb, codes, train, test, cfgs, n_classes, views=None, loo: bool = False) -> dict:
    """Per configuration, the test scores after fitting on ``train``, the rare-class rule's class at +inf (the
    rule reads the documents' embeddings, whatever the views); with ``loo`` also ``NAME loo``: the leave-one-out
    scores of the training rows, the rule applied as if each row were left out (its nearest other training
    document; its class counted without it)."""
    blocks = fold_blocks_views(texts, dense, train, test, views)
    gammas = {c.gamma for c in cfgs if c.rbf}
    rbfs = {g: (rbf_kernel_unit(emb[train], emb[train], g), rbf_kernel_unit(emb[test], emb[train], g))
            for g in gammas}
    counts = np.bincount(codes[train], minlength=n_classes)
    word_test, word_train = blocks["word"][1][0], blocks["word"][0]  # TF-IDF cosines (rows have unit length)
    rules: dict[float, tuple] = {}
    for beta in {c.nn_word for c in cfgs}:
        nearest = codes[train][(emb[test] @ emb[train].T + beta * word_test).argmax(axis=1)]
        override = np.flatnonzero(counts[nearest] < RARE_BELOW)
        near_loo = over_loo = None
        if loo:
            sims = emb[train] @ emb[train].T + beta * word_train
            np.fill_diagonal(sims, -np.inf)
            near_loo = codes[train][sims.argmax(axis=1)]
            left = counts[near_loo] - (near_loo == codes[train])
            over_loo = np.flatnonzero(left < RARE_BELOW)
        rules[beta] = (nearest, override, near_loo, over_loo)
    out = {}
    for cfg in cfgs:
        nearest, override, near_loo, over_loo = rules[cfg.nn_word]
        scores, loo_scores = head_scores(cfg, blocks, rbfs.get(cfg.gamma), codes[train], n_classes,
                                         loo and not cfg.svc_c)
        scores[override, nearest[override]] = np.inf
        out[cfg.name] = scores
        if loo_scores is not None:
            loo_scores[over_loo, near_loo[over_loo]] = np.inf
            out[f"{cfg.name} loo"] = loo_scores
    return out


def window_views(texts: list[str], encoder, what: str) -> list[tuple[list[str], dict[str, np.ndarray]]]:
    """The first/middle/last token windows of each document (:meth:`freegens.encoder.WindowEncoder.window_texts`)
    as views for :func:`freegens.kernels.fold_blocks_views`: ``all`` every block read from the window's text,
    ``encoder`` only the encoder blocks (similarities, embedding) from the window, TF-IDF and statistics from the
    document. The first window is the document itself (the encoder truncates it to the same tokens)."""
    from freegens.encoder import WindowEncoder

    wins = WindowEncoder(encoder, ("first", "middle", "last")).window_texts(texts)
    doc_stats = doc_features(texts, encoder)["stats"]
    views = []
    for name in ("first", "middle", "last"):
        window = [w[name] for w in wins]
        dense = doc_features(window, encoder)
        if what == "encoder":
            dense["stats"] = doc_stats
            window = texts
        views.append((window, dense))
    return views


def screen(texts, y, dense, emb, cfgs, seeds, boot: int, views=None) -> dict[str, list[dict]]:
    classes = np.unique(y)
    codes = np.searchsorted(classes, y)
    k = len(classes)
    members_of = {g: [c.name for c in cfgs if c.group == g] for g in {c.group for c in cfgs if c.group}}
    groups = sorted(g for g, m in members_of.items() if len(m) > 1)  # a choice needs two candidates
    results: dict[str, list[dict]] = {}
    for seed in seeds:
        t0 = time.process_time()
        rules = ["R1", f"boot{boot}", "LOO", f"LOO boot{boot}"]
        names = [f"{c.name} {r}" for c in cfgs for r in (rules if not c.svc_c else rules[:2])]
        names += [f"{g} inner-chosen {r}" for g in groups for r in rules]
        preds = {n: np.empty(len(y), dtype=object) for n in names}
        chosen: dict[str, list[str]] = {g: [] for g in groups}
        for train, test in StratifiedKFold(n_splits=5, shuffle=True, random_state=seed).split(texts, y):
            kept, splits = next(inner_splits(y[train], 3, seed, 1))
            oof = {c.name: np.zeros((len(train), k)) for c in cfgs}
            for a, b in splits:
                for name, s in fit_scores(texts, dense, emb, codes, train[a], train[b], cfgs, k, views).items():
                    oof[name][b] = s
            outer = fit_scores(texts, dense, emb, codes, train, test, cfgs, k, views, loo=True)
            inner_value = {}
            for cfg in cfgs:
                s, c = oof[cfg.name][kept], codes[train][kept]
                r1 = choose_offsets(s, c)
                inner_value[cfg.name] = macro_f1_from_codes(c, (s + r1).argmax(axis=1), k)
                bt = bootstrap_offsets(s, c, n_boot=boot, seed=seed)
                preds[f"{cfg.name} R1"][test] = classes[(outer[cfg.name] + r1).argmax(axis=1)]
                preds[f"{cfg.name} boot{boot}"][test] = classes[(outer[cfg.name] + bt).argmax(axis=1)]
                if cfg.svc_c:
                    continue
                loo_s = outer[f"{cfg.name} loo"]
                lo = choose_offsets(loo_s, codes[train])
                lb = bootstrap_offsets(loo_s, codes[train], n_boot=boot, seed=seed)
                preds[f"{cfg.name} LOO"][test] = classes[(outer[cfg.name] + lo).argmax(axis=1)]
                preds[f"{cfg.name} LOO boot{boot}"][test] = classes[(outer[cfg.name] + lb).argmax(axis=1)]
            for g in groups:
                best = max(members_of[g], key=lambda m: inner_value[m])  # first (x0.5/x0.5 ...) on ties
                chosen[g].append(best)
                for r in rules:
                    preds[f"{g} inner-chosen {r}"][test] = preds[f"{best} {r}"][test]
        score_seed(preds, y, results, seed)
        for g, picks in chosen.items():
            print(f"{g} inner-chosen, seed {seed}, per outer fold: {picks}", flush=True)
        print(f"seed {seed}: {time.process_time() - t0:.0f} CPU-s", flush=True)
    return results


def main() -> None:
    ap = encoder_seed_args(__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="+", default=None, help="configuration names (default: all of CONFIGS)")
    ap.add_argument("--boot", type=int, default=20, help="bootstrap resamples of the averaged offset rule")
    ap.add_argument("--windows", choices=("all", "encoder"), default=None,
                    help="test-time window averaging (one --encoder, whose cache holds the windows): scores averaged "
                    "over the first/middle/last token windows, every block (all) or the encoder blocks only")
    ap.add_argument("--json", default=None, help="write every configuration's per-seed results here")
    args = ap.parse_args()
    frame = load_labelled(domain_labels_csv())
    texts, y = _prep(frame["text"]), _labels(frame)
    encoder = cached_encoder(args.encoder, args.cache_file, args.max_tokens)
    t0 = time.process_time()
    dense = doc_features(texts, encoder)
    emb = np.asarray(encoder.encode(texts), dtype=float)
    print(f"document features in {time.process_time() - t0:.0f} CPU-s", flush=True)
    cfgs = [c for c in configs() if args.only is None or c.name in args.only]
    if args.only and len(cfgs) != len(args.only):
        raise SystemExit(f"unknown configuration in --only; known: {[c.name for c in configs()]}")
    views = window_views(texts, encoder, args.windows) if args.windows else None
    results = screen(texts, y, dense, emb, cfgs, args.seeds, args.boot, views)
    write_results(args.json, results)
    print_means(results, args.seeds)


if __name__ == "__main__":
    main()
