"""Screens a zero-shot prior from the category definitions for the offline domain classifier (issue 14, session 9).

Same protocol as ``bench_domain_kernels.py`` (per seed the outer stratified 5-fold CV of ``njsl domains cv``, per
outer fold the inner 3-fold CV of ``--objective macro_f1``; the ridge model in kernel form on shared Gram blocks; the
rare-class nearest-document rule; offsets ``R1`` and ``boot20``), with the definitions of :mod:`freegens.prior`:

* ``zero-shot D``: argmax of the mean cosine (MiniLM, mpnet) between document and label definitions (set ``D``:
  long / short / both), no labelled document used except by the offsets (``plain``: no offsets, no rare rule);
* ``... prior bB D``: ridge with prior mean ``w0`` on the two encoder blocks
  (:func:`freegens.kernels.prior_fold_scores`), ``w0`` scaled so that the training rows' prior scores ``X w0``
  have standard deviation ``B`` (the scale is label-free and fixed per fold, so the fit is exactly ridge around
  ``w0``);
* ``... + zs gG D``: the ridge scores plus ``G`` × the zero-shot cosines standardised per label on the training rows;
* ``... defblock xS D``: the 9 zero-shot cosines as one more block (standardised, weight 0.1 × S, like the 27
  description similarities);
* ``spread kK`` / ``... + spread L kK``: transductive label spreading (:func:`freegens.kernels.label_spreading`)
  over the K-nearest-neighbour graph of the training and test documents' joint embedding (test labels unused),
  alone or added to the ridge scores with weight L (in units of its standard deviation).

* ``--grid word_vectors`` (session 11): the chosen row with the static word vectors of ``--word_vectors`` (spaCy's
  en_core_web_md: ``md``; :class:`freegens.word_vectors.WordVectors`) as one more block (``embedding:2``,
  standardised, weight 0.02 × S like an encoder part), S = 0.5 / 1 / 2; only in the ridge model (the
  nearest-document rule and the zero-shot similarities keep the two encoders), as ``njsl domains cv --word_vectors``.
* ``--grid wv_pool`` (session 12): the same block with p-means pooling (mean, max, min) instead of the mean.
* ``--grid wv_zs`` (session 12): the md x1 row plus ``zs_md`` x the zero-shot cosines of the word vectors (document vs
  the mean vector of a label's short definitions), standardised per label on the training rows.
* ``--grid nerpos`` (session 12): the md x1 row plus a block of entity-label and POS shares (spaCy's tagger and NER of
  the ``--word_vectors`` model), standardised, weighted like the statistics block (0.1) x S = 0.5 / 1 / 2.
* ``--equal_spread`` (session 12; e.g. with ``--grid md1``): also the offsets chosen after each class's score column
  is rescaled around its mean to the columns' mean spread (:func:`equal_spread`, statistics of the inner
  out-of-fold scores, no label), rows ``eq R1`` / ``eq bootN`` beside ``R1`` / ``bootN`` on the same fits.
* ``--grid s13`` (session 13): the md x1 and p-means x1 rows, then on top of md x1 a degree-2 kernel on the
  statistics block (``poly_stats``), binary-balanced one-vs-rest columns (``column_balanced``), and the mean of the
  md x1 and p-means x1 rows' scores (``average_of``; the CLI's ``--word_vectors_pooling mean+pmeans``).

    PYTHONPATH=$PWD nice -n 10 python benchmarks/bench_domain_prior.py --encoder bundled --encoder MPNET_DIR \\
        --cache_file MINILM.npz --cache_file MPNET.npz --seeds 0 1 2 3 [--only NAME ...] [--json out.json]
        [--grid screen|tune|word_vectors|wv_tune|wv_pool|wv_zs|nerpos|md1|s13] [--word_vectors md] [--equal_spread]
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from bench_domain_stack import cached_encoder
from bench_domain_variance import encoder_seed_args, line, print_means, score_seed, write_results
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from freegens.kernels import (
    class_weights,
    doc_features,
    dual_ridge_target_scores,
    fold_blocks,
    label_spreading,
    prior_fold_scores,
    signed_targets,
)
from freegens.encoder import encoder_parts
from freegens.local_model import _labels, _prep, load_labelled, score_predictions
from freegens.offsets import bootstrap_offsets, choose_offsets, inner_splits
from freegens.prior import DEFINITION_SETS, definition_vectors, label_definitions, zero_shot_scores
from freegens.ridge_model import BLOCK_WEIGHTS, RARE_BELOW
from njsl.paths import domain_labels_csv

MPNET_HALF = {"embedding:1": 0.5}  # session 8's best block scales


@dataclass(frozen=True)
class Config:
    """One head: ridge ``alpha`` and block ``scales`` (``zero_shot``: no ridge), a prior of size ``prior``, ``zs`` ×
    the standardised zero-shot cosines added, or the cosines as a block of scale ``defblock``; definitions ``defs``."""
    name: str
    alpha: float = 1.0
    scales: dict[str, float] = field(default_factory=dict)
    defs: str = "long"
    zero_shot: bool = False
    prior: float = 0.0
    zs: float = 0.0
    defblock: float = 0.0
    spread: float = 0.0  # + spread × label spreading's scores (freegens.kernels.label_spreading), one std
    spread_k: int = 10
    ridge: bool = True  # False: the label spreading scores alone
    nn_word_vectors: bool = False  # the rare-class rule's nearest document also by the word vectors (session 11)
    zs_md: float = 0.0  # + zs_md x the standardised cosines to the definitions in the word-vector space (session 12)
    poly_stats: float = 0.0  # + poly_stats x a degree-2 kernel on the statistics block (session 13)
    column_balanced: bool = False  # each column's positives weighted to half its total weight (session 13)
    average_of: tuple[str, ...] = ()  # the mean of these rows' scores, no fit of its own (session 13)


def configs() -> list[Config]:
    out = [Config("ridge a1 emb1 x0.5", scales=MPNET_HALF), Config("ridge a2", alpha=2.0)]
    for d in DEFINITION_SETS:
        out.append(Config(f"zero-shot {d}", defs=d, zero_shot=True))
        for b in (0.05, 0.1, 0.25, 0.5):
            out.append(Config(f"ridge a1 emb1 x0.5 prior b{b:g} {d}", scales=MPNET_HALF, defs=d, prior=b))
            out.append(Config(f"ridge a2 prior b{b:g} {d}", alpha=2.0, defs=d, prior=b))
        for g in (0.05, 0.1, 0.25):
            out.append(Config(f"ridge a1 emb1 x0.5 + zs g{g:g} {d}", scales=MPNET_HALF, defs=d, zs=g))
        for s in (1.0, 2.0):
            out.append(Config(f"ridge a1 emb1 x0.5 defblock x{s:g} {d}", scales=MPNET_HALF, defs=d, defblock=s))
    for nn in (10, 20):
        out.append(Config(f"spread k{nn}", spread=1.0, spread_k=nn, ridge=False))
        for lam in (0.1, 0.25, 0.5):
            out.append(Config(f"ridge a1 emb1 x0.5 + spread {lam:g} k{nn}", scales=MPNET_HALF, spread=lam,
                              spread_k=nn))
    return out


def tune_configs() -> list[Config]:
    """``--grid tune`` (lead, session 9): the zero-shot boost around the chosen row — ridge alpha, the mpnet block's
    scale, the boost's weight and the definitions — for a choice on 20-seed means instead of 4."""
    return [Config(f"tune a{a:g} m{m:g} zs{g:g} {d}", alpha=a, scales={"embedding:1": m}, defs=d, zs=g)
            for a in (1.0, 1.5, 2.0) for m in (0.5, 0.75) for g in (0.03, 0.05, 0.08) for d in ("short", "both")]


CHOSEN = "ridge a1 emb1 x0.5 + zs g0.05 short"  # session 9's choice, the CLI's --zero_shot configuration
WORD_VECTOR_BLOCK = "embedding:2"
FULL_TEXT_BLOCK = "embedding:3"  # the word vectors of the whole document, not its first 5,000 characters
PMEANS_BLOCK = "embedding:4"  # the word vectors' mean, max and min (WordVectors(pooling="pmeans")), session 12
NERPOS_BLOCK = "stats:1"  # entity-label and POS shares of en_core_web_md (nerpos_shares), weighted as stats; session 12


def block_scale(cfg: Config, block: str) -> float:
    """A block's scale in ``cfg``: as named there, else 1 — except the word-vector block, which a row uses only
    where it names it (so every earlier row means what it meant without ``--word_vectors``)."""
    return cfg.scales.get(block, 0.0 if block in (WORD_VECTOR_BLOCK, FULL_TEXT_BLOCK, PMEANS_BLOCK, NERPOS_BLOCK)
                          else 1.0)


def word_vector_configs() -> list[Config]:
    """The chosen row with the word-vector block at scale S (``--grid word_vectors`` runs the chosen row too)."""
    md1 = {"embedding:1": 0.5, WORD_VECTOR_BLOCK: 1.0}
    return [Config(f"{CHOSEN} + md x{s:g}", scales={"embedding:1": 0.5, WORD_VECTOR_BLOCK: s}, defs="short", zs=0.05)
            for s in (0.5, 1.0, 2.0)] + [
        # --grid wv_tune (session 11, after md x1 held on fresh seeds): four changes around it
        Config(f"{CHOSEN} + md x1 a1.5", alpha=1.5, scales=md1, defs="short", zs=0.05),
        Config(f"{CHOSEN} + md x1 zs0.08", scales=md1, defs="short", zs=0.08),
        Config(f"{CHOSEN} + md x1 nn+md", scales=md1, defs="short", zs=0.05, nn_word_vectors=True),
        Config(f"{CHOSEN} + md full x1", scales={"embedding:1": 0.5, FULL_TEXT_BLOCK: 1.0}, defs="short", zs=0.05)]


def pmeans_configs() -> list[Config]:
    """``--grid wv_pool`` (session 12): the md x1 row, then the p-means block in its place at scale 1/sqrt(3) (the
    same total kernel weight as the mean block: three times its columns) and 1."""
    return [word_vector_configs()[1]] + [
        Config(f"{CHOSEN} + md pmeans x{s:.3g}", scales={"embedding:1": 0.5, PMEANS_BLOCK: s}, defs="short", zs=0.05)
        for s in (3 ** -0.5, 1.0)]


def md_zero_shot_configs() -> list[Config]:
    """``--grid wv_zs`` (session 12): the md x1 row, then the same with the word-vector zero-shot channel."""
    md1 = word_vector_configs()[1]
    return [md1] + [Config(f"{md1.name} + zs_md {g:g}", scales=md1.scales, defs="short", zs=0.05, zs_md=g)
                    for g in (0.025, 0.05)]


def nerpos_configs() -> list[Config]:
    """``--grid nerpos`` (session 12): the md x1 row, then the same plus the entity/POS share block at scale S."""
    md1 = word_vector_configs()[1]
    return [md1] + [Config(f"{md1.name} + nerpos x{s:g}", scales={**md1.scales, NERPOS_BLOCK: s}, defs="short",
                           zs=0.05) for s in (0.5, 1.0, 2.0)]


def s13_configs() -> list[Config]:
    """``--grid s13`` (session 13): the md x1 row, the p-means x1 row, then on top of md x1 the degree-2 kernel on
    the statistics block (x0.5, x1), binary-balanced columns, and the mean of the md x1 and p-means x1 scores."""
    md1, pm1 = word_vector_configs()[1], pmeans_configs()[2]
    return [md1, pm1] + [
        Config(f"{md1.name} + poly2 stats x{c:g}", scales=md1.scales, defs="short", zs=0.05, poly_stats=c)
        for c in (0.5, 1.0)] + [
        Config(f"{md1.name} colbal", scales=md1.scales, defs="short", zs=0.05, column_balanced=True),
        Config("ens md x1 + pmeans x1", defs="short", average_of=(md1.name, pm1.name))]


def nerpos_shares(texts: list[str], model: str) -> np.ndarray:
    """Per text, the share of its tokens inside entities of each NER label, then the share of each universal POS tag
    (spaCy model ``model``'s tagger and NER; ``md``: en_core_web_md)."""
    import spacy

    from freegens.word_vectors import resolve_word_vectors

    nlp = spacy.load(resolve_word_vectors(model), exclude=["parser", "lemmatizer"])
    ents = list(nlp.get_pipe("ner").labels)
    tags = sorted(spacy.parts_of_speech.IDS)
    out = np.zeros((len(texts), len(ents) + len(tags)))
    for i, doc in enumerate(nlp.pipe(texts, batch_size=32)):
        n = max(len(doc), 1)
        for ent in doc.ents:
            out[i, ents.index(ent.label_)] += len(ent) / n
        for tok in doc:
            if tok.pos_ in tags:
                out[i, len(ents) + tags.index(tok.pos_)] += 1 / n
    return out


def fit_scores(texts, dense, emb, zs_all, def_parts, codes, train, test, cfgs, k) -> dict[str, np.ndarray]:
    """Per configuration, the test scores after fitting on ``train`` (the rare-class rule's class at +inf, except
    for the zero-shot heads)."""
    blocks = fold_blocks(texts, dense, train, test)
    counts = np.bincount(codes[train], minlength=k)
    sims = {False: emb[test] @ emb[train].T}
    if any(c.nn_word_vectors for c in cfgs):  # the cosine of [MiniLM, mpnet, md] / sqrt(3): the parts' mean cosine
        wv = dense[WORD_VECTOR_BLOCK]
        sims[True] = (2 * sims[False] + wv[test] @ wv[train].T) / 3
    rule = {key: codes[train][sim.argmax(axis=1)] for key, sim in sims.items()}
    zs, priors = {}, {}
    for d in {c.defs for c in cfgs} | ({"md"} if any(c.zs_md for c in cfgs) else set()):
        sc = StandardScaler().fit(zs_all[d][train])  # label-free, on the training rows
        zs[d] = (sc.transform(zs_all[d][train]), sc.transform(zs_all[d][test]))
        if any(c.prior for c in cfgs) and d != "md":
            parts, defined = def_parts[d]
            priors[d] = (prior_fold_scores(dense, parts, defined, train, test), defined)
    spread = {}
    for nn in {c.spread_k for c in cfgs if c.spread}:
        both = np.concatenate([train, test])  # transductive: the test rows are in the graph, unlabelled
        f = label_spreading(emb[both], np.arange(len(train)), codes[train], k, nn)
        spread[nn] = f[len(train):] / f.std()
    weights = class_weights(codes[train], k)
    Y = signed_targets(codes[train], k)
    out = {}
    for cfg in cfgs:
        if cfg.zero_shot:
            out[cfg.name] = zs_all[cfg.defs][test].copy()
            continue
        if not cfg.ridge:
            out[cfg.name] = spread[cfg.spread_k].copy()
            continue
        if cfg.average_of:
            out[cfg.name] = np.mean([out[name] for name in cfg.average_of], axis=0)
            continue
        K, Kt = config_kernels(cfg, blocks, zs)
        P_tr, P_te = np.zeros((len(train), k)), np.zeros((len(test), k))
        if cfg.prior:
            blocks_p, defined = priors[cfg.defs]
            for b, (p_tr, p_te) in blocks_p.items():
                P_tr, P_te = P_tr + block_scale(cfg, b) * p_tr, P_te + block_scale(cfg, b) * p_te
            factor = cfg.prior / P_tr[:, defined].std()
            P_tr, P_te = factor * P_tr, factor * P_te
        scores = ridge_scores(K, Kt, Y - P_tr, cfg, weights, codes[train]) + P_te
        if cfg.zs:
            scores = scores + cfg.zs * zs[cfg.defs][1]
        if cfg.zs_md:
            scores = scores + cfg.zs_md * zs["md"][1]
        if cfg.spread:
            scores = scores + cfg.spread * spread[cfg.spread_k]
        nearest = rule[cfg.nn_word_vectors]
        override = np.flatnonzero(counts[nearest] < RARE_BELOW)
        scores[override, nearest[override]] = np.inf
        out[cfg.name] = scores
    return out


def config_kernels(cfg: Config, blocks: dict, zs: dict) -> tuple[np.ndarray, np.ndarray]:
    """The row's training and test-by-training Gram matrices: its scaled blocks, the definition block and the
    degree-2 statistics kernel ``poly_stats`` x w^2 (S S')^2 / d (S: the standardised statistics; session 13)."""
    K = sum(block_scale(cfg, b) ** 2 * kk for b, (kk, _) in blocks.items())
    Kt = sum(block_scale(cfg, b) ** 2 * kt for b, (_, kt) in blocks.items())
    if cfg.defblock:
        f_tr, f_te = (BLOCK_WEIGHTS["similarity"] * cfg.defblock * z for z in zs[cfg.defs])
        K, Kt = K + f_tr @ f_tr.T, Kt + f_te @ f_tr.T
    if cfg.poly_stats:
        w2, (kk, kt) = BLOCK_WEIGHTS["stats"] ** 2, blocks["stats"]
        d = np.trace(kk / w2) / len(kk)  # the standardised block's mean squared row norm: its non-constant columns
        K, Kt = K + cfg.poly_stats * w2 * (kk / w2) ** 2 / d, Kt + cfg.poly_stats * w2 * (kt / w2) ** 2 / d
    return K, Kt


def ridge_scores(K: np.ndarray, Kt: np.ndarray, targets: np.ndarray, cfg: Config, weights: np.ndarray,
                 codes: np.ndarray) -> np.ndarray:
    """The dual ridge fit's test scores; ``column_balanced``: one solve per class column, the rows of that class
    weighted up so that they carry half the column's total weight (binary balance per one-vs-rest column)."""
    if not cfg.column_balanced:
        return dual_ridge_target_scores(K, Kt, targets, cfg.alpha, weights)
    out = np.empty((Kt.shape[0], targets.shape[1]))
    for j in range(targets.shape[1]):
        pos = codes == j
        sw = weights.copy()
        sw[pos] *= weights[~pos].sum() / weights[pos].sum()
        out[:, j] = dual_ridge_target_scores(K, Kt, targets[:, [j]], cfg.alpha, sw)[:, 0]
    return out


def equal_spread(inner: np.ndarray, outer: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both score matrices with each class column rescaled around its mean to the columns' mean spread, mean and
    spread per column from ``inner``'s finite values (``--equal_spread``, session 12; +inf stays +inf)."""
    finite = np.where(np.isfinite(inner), inner, np.nan)
    mu, sd = np.nanmean(finite, axis=0), np.nanstd(finite, axis=0)
    factor = np.where(sd > 0, sd.mean() / np.where(sd > 0, sd, 1.0), 1.0)
    return mu + (inner - mu) * factor, mu + (outer - mu) * factor


def screen(texts, y, dense, emb, zs_all, def_parts, cfgs, seeds, boot: int,
           spread: bool = False) -> dict[str, list[dict]]:
    classes = np.unique(y)
    codes = np.searchsorted(classes, y)
    k = len(classes)
    results: dict[str, list[dict]] = {}
    for d in sorted({c.defs for c in cfgs if c.zero_shot}):  # no fit, no offsets: one figure for every seed
        res = score_predictions(y, classes[zs_all[d].argmax(axis=1)])
        results[f"zero-shot {d} plain"] = [res] * len(seeds)
        print(line(f"zero-shot {d} plain", res), flush=True)
    for seed in seeds:
        t0 = time.process_time()
        rules = ("R1", f"boot{boot}") + (("eq R1", f"eq boot{boot}") if spread else ())
        names = [f"{c.name} {r}" for c in cfgs for r in rules]
        preds = {n: np.empty(len(y), dtype=object) for n in names}
        for train, test in StratifiedKFold(n_splits=5, shuffle=True, random_state=seed).split(texts, y):
            kept, splits = next(inner_splits(y[train], 3, seed, 1))
            oof = {c.name: np.zeros((len(train), k)) for c in cfgs}
            for a, b in splits:
                fit = fit_scores(texts, dense, emb, zs_all, def_parts, codes, train[a], train[b], cfgs, k)
                for name, s in fit.items():
                    oof[name][b] = s
            outer = fit_scores(texts, dense, emb, zs_all, def_parts, codes, train, test, cfgs, k)
            for cfg in cfgs:
                s, c = oof[cfg.name][kept], codes[train][kept]
                r1 = choose_offsets(s, c)
                bt = bootstrap_offsets(s, c, n_boot=boot, seed=seed)
                preds[f"{cfg.name} R1"][test] = classes[(outer[cfg.name] + r1).argmax(axis=1)]
                preds[f"{cfg.name} boot{boot}"][test] = classes[(outer[cfg.name] + bt).argmax(axis=1)]
                if spread:
                    s_eq, o_eq = equal_spread(s, outer[cfg.name])
                    r1, bt = choose_offsets(s_eq, c), bootstrap_offsets(s_eq, c, n_boot=boot, seed=seed)
                    preds[f"{cfg.name} eq R1"][test] = classes[(o_eq + r1).argmax(axis=1)]
                    preds[f"{cfg.name} eq boot{boot}"][test] = classes[(o_eq + bt).argmax(axis=1)]
        score_seed(preds, y, results, seed)
        print(f"seed {seed}: {time.process_time() - t0:.0f} CPU-s", flush=True)
    return results


GRIDS = {"screen": configs, "tune": tune_configs,
         "word_vectors": lambda: [c for c in configs() if c.name == CHOSEN] + word_vector_configs()[:3],
         "wv_tune": lambda: [word_vector_configs()[1]] + word_vector_configs()[3:],
         "wv_pool": pmeans_configs, "wv_zs": md_zero_shot_configs, "nerpos": nerpos_configs,
         "md1": lambda: [word_vector_configs()[1]], "s13": s13_configs}


def main() -> None:
    ap = encoder_seed_args(__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="+", default=None, help="configuration names (default: all of configs())")
    ap.add_argument("--boot", type=int, default=20, help="bootstrap resamples of the averaged offset rule")
    ap.add_argument("--json", default=None, help="write every configuration's per-seed results here")
    ap.add_argument("--grid", choices=tuple(GRIDS), default="screen",
                    help="screen: the session-9 screen (configs()); tune: tune_configs() around the chosen row; "
                         "word_vectors / wv_tune: word_vector_configs(); wv_pool: pmeans_configs(); wv_zs: "
                         "md_zero_shot_configs(); nerpos: nerpos_configs(); md1: the md x1 row; s13: "
                         "s13_configs() (these seven need --word_vectors)")
    ap.add_argument("--word_vectors", default=None, help="md or a spaCy model folder: the embedding:2 block")
    ap.add_argument("--equal_spread", action="store_true",
                    help="also the offsets chosen on equal-spread scores (rows 'eq R1', 'eq bootN'; equal_spread())")
    args = ap.parse_args()
    known = configs() + tune_configs() + word_vector_configs() + pmeans_configs()[1:] + md_zero_shot_configs()[1:] \
        + nerpos_configs()[1:] + s13_configs()[2:] if args.only \
        else GRIDS[args.grid]()
    cfgs = [c for c in known if args.only is None or c.name in args.only]
    if args.only and len(cfgs) != len(args.only):
        raise SystemExit(f"unknown configuration in --only; known: {[c.name for c in known]}")
    for i, cfg in enumerate(cfgs):   # an averaged row reads its members' scores, computed before it
        if set(cfg.average_of) - {c.name for c in cfgs[:i]}:
            raise SystemExit(f"{cfg.name!r} averages {list(cfg.average_of)}: run them too (with --only, name them)")
    frame = load_labelled(domain_labels_csv())
    texts, y = _prep(frame["text"]), _labels(frame)
    classes = list(np.unique(y))
    encoder = cached_encoder(args.encoder, args.cache_file, args.max_tokens)
    t0 = time.process_time()
    dense = doc_features(texts, encoder)
    emb = np.asarray(encoder.encode(texts), dtype=float)
    doc_parts = [v for n, v in dense.items() if n.startswith("embedding:")]
    zs_all, def_parts = {}, {}
    for d in DEFINITION_SETS:
        defs = label_definitions(d)
        parts, defined = {}, None
        for name in (n for n in dense if n.startswith("embedding:")):
            parts[name], defined = definition_vectors(lambda t, n=name: encoder_parts(encoder, t)[n], defs, classes)
        def_parts[d] = (parts, defined)
        zs_all[d] = zero_shot_scores(doc_parts, list(parts.values()), defined)
    if args.word_vectors:  # after the definitions: the zero-shot similarities keep the two encoders
        from freegens.word_vectors import WordVectors

        vectors = WordVectors(args.word_vectors)
        dense[WORD_VECTOR_BLOCK] = vectors.encode(texts)
        dense[FULL_TEXT_BLOCK] = vectors.encode([str(t) for t in frame["text"]])
        if args.grid in ("wv_pool", "s13") or args.only:
            dense[PMEANS_BLOCK] = WordVectors(args.word_vectors, pooling="pmeans").encode(texts)
        # the word-vector zero-shot channel: the short definitions' md vectors (the cosine of an all-zero row is 0)
        parts, defined = definition_vectors(vectors.encode, label_definitions("short"), classes)
        zs_all["md"] = np.nan_to_num(zero_shot_scores([dense[WORD_VECTOR_BLOCK]], [parts], defined))
        if args.grid == "nerpos" or args.only:
            dense[NERPOS_BLOCK] = nerpos_shares(texts, args.word_vectors)
    elif args.grid in ("word_vectors", "wv_tune", "wv_pool", "wv_zs", "nerpos", "md1", "s13"):
        raise SystemExit(f"--grid {args.grid} needs --word_vectors md|PATH")
    print(f"document features and definitions in {time.process_time() - t0:.0f} CPU-s", flush=True)
    results = screen(texts, y, dense, emb, zs_all, def_parts, cfgs, args.seeds, args.boot, args.equal_spread)
    write_results(args.json, results)
    print_means(results, args.seeds)


if __name__ == "__main__":
    main()
