"""A learned stack for the offline domain classifier (``--model stack``; issue 14, session 6).

Several base models each give per-class scores (:data:`BASES`): the TF-IDF ridge classifier
(:func:`freegens.ridge_model.build_pipeline` without an encoder), the ridge model with the encoder's blocks and its
nearest-neighbour rule, a logistic regression on each encoder's embedding, the k nearest training documents' class
votes and the shrunk class centroids (cosine, per encoder), plus the category-description similarities (no labels
needed, used as they are). A meta-classifier learns how to combine them: a multinomial logistic regression, or
(the default) :class:`TiedMeta` with one weight per base model. Its training rows are *out-of-fold* base scores:
an inner stratified CV of the training data only, so the meta-classifier sees what the base models say about
documents they were not trained on (scores on their own training documents would be over-confident, the 1-NN
vote trivially right). The base models are then refitted on all the training data for prediction.

Optionally (``tune_offsets=True``, ``--objective macro_f1``) per-class offsets for macro-F1
(:func:`freegens.offsets.choose_offsets`) are chosen on out-of-fold *meta* scores: a second CV of the meta
classifier on the same out-of-fold base scores (cheap: no base model is refitted).
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from .encoder import joint_embedding
from .ridge_model import RARE_BELOW, build_pipeline, shrunk_centroid_similarity

#: Base-model blocks the stack can use (``bases``): ``tfidf`` the TF-IDF ridge scores; ``emb_lr`` a logistic
#: regression per encoder embedding; ``knn`` the k-nearest-neighbour class-vote fractions per encoder; ``centroid``
#: the cosine to shrunk class centroids per encoder; ``sim`` the category-description similarities; ``ridge_enc``
#: the scores of the ridge model with the encoder's blocks (``--model ridge --encoder``, without its neighbour rule);
#: ``nn_rare`` its neighbour rule as a block (1 for the class of the nearest training document when that class is
#: rare, :data:`freegens.ridge_model.RARE_BELOW`).
BASES = ("tfidf", "emb_lr", "knn", "centroid", "sim", "ridge_enc", "nn_rare")
#: The defaults of ``--model stack`` are the best stack of the session-6 screens (4-seed mean 0.329 with
#: ``--objective macro_f1``; the ridge model alone: 0.340; benchmarks/RESULTS.md).
DEFAULT_BASES = ("ridge_enc", "nn_rare")
#: Meta-classifiers: ``lr`` (free multinomial logistic regression on the standardised blocks) or ``tied``
#: (:class:`TiedMeta`).
META_KINDS = ("lr", "tied")


def _parts(encoder) -> list:
    """The single encoders behind ``encoder`` (a :class:`freegens.encoder.ConcatEncoder` has several, a
    :class:`freegens.encoder.WindowEncoder` one per window)."""
    if not hasattr(encoder, "encoders"):
        return [encoder]
    return [single for part in encoder.encoders for single in _parts(part)]


def _full_scores(scores: np.ndarray, cols: np.ndarray, n_classes: int, fill: float) -> np.ndarray:
    """Scores over a subset of classes (``cols``) placed into all ``n_classes`` columns, ``fill`` elsewhere."""
    out = np.full((scores.shape[0], n_classes), fill, dtype=float)
    out[:, cols] = scores.reshape(scores.shape[0], -1) if scores.ndim == 2 else np.column_stack([-scores, scores])
    return out


def knn_votes(train: np.ndarray, codes: np.ndarray, test: np.ndarray, n_classes: int, k: int) -> np.ndarray:
    """Share of each class among the ``k`` most cosine-similar training rows (rows are unit vectors)."""
    sims = test @ train.T
    k = min(k, train.shape[0])
    nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    votes = np.zeros((test.shape[0], n_classes))
    np.add.at(votes, (np.repeat(np.arange(test.shape[0]), k), codes[nearest].ravel()), 1.0)
    return votes / k


class StackedDomainModel(ClassifierMixin, BaseEstimator):
    """Base models' out-of-fold class scores -> multinomial logistic regression (balanced class weights).

    ``encoder`` (a :class:`freegens.encoder.TextEncoder` or ``ConcatEncoder``; None leaves only ``tfidf``) gives the
    embeddings; ``bases`` names the blocks (:data:`BASES`); ``inner_folds`` the inner CV (lowered to the smallest
    class count, at least 2; a singleton class only trains); ``C`` the meta-classifier's inverse regularisation;
    ``k`` the neighbours voted; ``shrink`` the centroid shrinkage; ``tune_offsets`` per-class macro-F1 offsets on the
    meta scores; ``class_weight`` the meta-classifier's (:data:`CLASS_WEIGHTS`); ``meta`` ``lr`` (a free
    multinomial logistic regression) or ``tied`` (:class:`TiedMeta`: one weight per block).
    """

    def __init__(self, encoder=None, bases: tuple[str, ...] = DEFAULT_BASES, inner_folds: int = 5, C: float = 1.0,
                 k: int = 10, shrink: float = 5.0, emb_C: float = 1.0, alpha: float = 1.0,
                 tune_offsets: bool = False, class_weight: str = "balanced", meta: str = "tied", seed: int = 0):
        self.encoder = encoder
        self.bases = bases
        self.inner_folds = inner_folds
        self.C = C
        self.k = k
        self.shrink = shrink
        self.emb_C = emb_C
        self.alpha = alpha
        self.tune_offsets = tune_offsets
        self.class_weight = class_weight
        self.meta = meta
        self.seed = seed

    # --- base models -------------------------------------------------------------------------------------------
    def _check(self) -> None:
        bad = [b for b in self.bases if b not in BASES]
        if bad or not self.bases:
            raise ValueError(f"bases must be a non-empty subset of {BASES}, got {self.bases!r}")
        if self.meta not in META_KINDS:
            raise ValueError(f"meta must be one of {META_KINDS}, got {self.meta!r}")
        meta_class_weight(np.zeros(1, dtype=int), self.class_weight)  # checks the name
        if self.encoder is None and set(self.bases) - {"tfidf"}:
            raise ValueError(f"bases {sorted(set(self.bases) - {'tfidf'})} need an encoder (--encoder)")

    def _embeddings(self, X: list[str]) -> list[np.ndarray]:
        return [e.encode(X) for e in _parts(self.encoder)] if self.encoder is not None else []

    def _fit_bases(self, X: list[str], codes: np.ndarray, embs: list[np.ndarray]) -> dict:
        """Fitted base models on (X, codes); embeddings ``embs`` are those of X (one array per encoder)."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        fitted: dict = {"codes": codes, "embs": embs, "classes": np.unique(codes)}
        if "tfidf" in self.bases:
            fitted["tfidf"] = build_pipeline(alpha=self.alpha, seed=self.seed).fit(X, codes)
        if "ridge_enc" in self.bases:
            fitted["ridge_enc"] = build_pipeline(alpha=self.alpha, seed=self.seed, encoder=self.encoder).pipeline.fit(
                X, codes)
        if "emb_lr" in self.bases:
            fitted["emb_lr"] = [make_pipeline(StandardScaler(), LogisticRegression(
                C=self.emb_C, class_weight="balanced", max_iter=2000)).fit(e, codes) for e in embs]
        return fitted

    def _base_features(self, fitted: dict, X: list[str], embs: list[np.ndarray], n_classes: int) -> np.ndarray:
        """The meta-classifier's input for documents X (embeddings ``embs``) from fitted base models."""
        blocks: list[tuple[str, np.ndarray]] = []
        cols = fitted["classes"]
        if "tfidf" in self.bases:
            # a class absent from this fit's training part scores like a very unlikely class
            blocks.append(("tfidf", _full_scores(np.asarray(fitted["tfidf"].decision_function(X), float), cols,
                                                 n_classes, -1.5)))
        if "ridge_enc" in self.bases:
            blocks.append(("ridge_enc", _full_scores(np.asarray(fitted["ridge_enc"].decision_function(X), float),
                                                     cols, n_classes, -1.5)))
        if "nn_rare" in self.bases:
            # the nearest training document by the cosine of the joint embedding
            nearest = fitted["codes"][(joint_embedding(embs) @ joint_embedding(fitted["embs"]).T).argmax(axis=1)]
            counts = np.bincount(fitted["codes"], minlength=n_classes)
            block = np.zeros((len(X), n_classes))
            rare = (counts[nearest] > 0) & (counts[nearest] < RARE_BELOW)
            block[np.flatnonzero(rare), nearest[rare]] = 1.0
            blocks.append(("nn_rare", block))
        if "emb_lr" in self.bases:
            for i, (model, e) in enumerate(zip(fitted["emb_lr"], embs, strict=True)):
                blocks.append((f"emb_lr{i}", _full_scores(model.predict_log_proba(e), cols, n_classes, -10.0)))
        for i, (train, e) in enumerate(zip(fitted["embs"], embs, strict=True)):
            if "knn" in self.bases:
                blocks.append((f"knn{i}", knn_votes(train, fitted["codes"], e, n_classes, self.k)))
            if "centroid" in self.bases:
                sims = shrunk_centroid_similarity(train, fitted["codes"], e, n_classes, self.shrink)
                sims[:, np.setdiff1d(np.arange(n_classes), cols)] = -1.0
                blocks.append((f"centroid{i}", sims))
        if "sim" in self.bases:
            from .encoder import CATEGORY_DESCRIPTIONS

            descriptions = [d for group in CATEGORY_DESCRIPTIONS.values() for d in group]
            for i, (e, enc) in enumerate(zip(embs, _parts(self.encoder), strict=True)):
                sims = e @ enc.encode(descriptions).T
                if self.meta == "tied":  # one column per class, like every other block
                    blocks.append((f"simk{i}", class_similarity(sims, self.classes_)))
                else:
                    blocks.append((f"sim{i}", sims))
        # which columns are which block: the benchmark screens subsets of blocks on the same fits
        self.block_names_ = [name for name, b in blocks for _ in range(b.shape[1])]
        return np.hstack([b for _, b in blocks])

    def out_of_fold_features(self, X: list[str], codes: np.ndarray, embs: list[np.ndarray],
                             n_classes: int) -> np.ndarray:
        """The base features of every training document from base models fitted without it (inner CV)."""
        from sklearn.model_selection import StratifiedKFold

        counts = np.bincount(codes, minlength=n_classes)
        kept = counts[codes] >= 2  # a singleton class cannot be held out; its document only trains
        folds = max(2, min(self.inner_folds, int(counts[counts >= 2].min())))
        idx = np.flatnonzero(kept)
        oof: np.ndarray | None = None
        cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.seed)
        for tr, te in cv.split(idx, codes[idx]):
            train = np.concatenate([idx[tr], np.flatnonzero(~kept)])
            test = idx[te]
            fitted = self._fit_bases([X[i] for i in train], codes[train], [e[train] for e in embs])
            part = self._base_features(fitted, [X[i] for i in test], [e[test] for e in embs], n_classes)
            if oof is None:
                oof = np.zeros((len(X), part.shape[1]))
            oof[test] = part
        assert oof is not None
        self.oof_rows_ = idx
        return oof

    # --- meta-classifier ---------------------------------------------------------------------------------------
    def _meta(self, codes: np.ndarray):
        if self.meta == "tied":
            return TiedMeta(self.n_classes_, C=self.C, class_weight=self.class_weight)
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(
            C=self.C, class_weight=meta_class_weight(codes, self.class_weight), max_iter=5000))

    def fit(self, X, y) -> StackedDomainModel:
        """Inner CV for the out-of-fold base scores, the meta-classifier on them, then the base models on all."""
        self._check()
        X, y = list(X), np.asarray(y, dtype=object)
        self.classes_, codes = np.unique(y, return_inverse=True)
        n_classes = self.n_classes_ = len(self.classes_)
        embs = self._embeddings(X)
        oof = self.out_of_fold_features(X, codes, embs, n_classes)
        rows = self.oof_rows_
        self.meta_ = self._meta(codes[rows]).fit(oof[rows], codes[rows])
        self.offsets_ = np.zeros(n_classes)
        if self.tune_offsets:
            self.offsets_ = self._choose_offsets(oof[rows], codes[rows], n_classes)
        self.bases_ = self._fit_bases(X, codes, embs)
        return self

    def _choose_offsets(self, Z: np.ndarray, codes: np.ndarray, n_classes: int) -> np.ndarray:
        from sklearn.model_selection import StratifiedKFold

        from .offsets import choose_offsets

        counts = np.bincount(codes, minlength=n_classes)
        folds = max(2, min(3, int(counts[counts > 0].min())))
        scores = np.full((len(codes), n_classes), -np.inf)
        for tr, te in StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.seed).split(Z, codes):
            scores[te] = meta_scores(self._meta(codes[tr]).fit(Z[tr], codes[tr]), Z[te], n_classes)
        return choose_offsets(scores, codes)

    def decision_function(self, X) -> np.ndarray:
        """Meta scores (n x classes, columns in ``classes_`` order), offsets included."""
        X = list(X)
        Z = self._base_features(self.bases_, X, self._embeddings(X), self.n_classes_)
        return meta_scores(self.meta_, Z, self.n_classes_) + self.offsets_

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(axis=1)]

    @property
    def offsets(self) -> dict[str, float] | None:
        """The fitted macro-F1 offsets by class name (None unless ``tune_offsets``), as saved in ``model.json``."""
        if not self.tune_offsets:
            return None
        return {str(c): float(o) for c, o in zip(self.classes_, self.offsets_, strict=True)}


#: Class weights of the meta-classifier: ``balanced`` (n / (classes * n_class)), ``sqrt`` (its square root: half
#: way on a log scale) or ``none``.
CLASS_WEIGHTS = ("balanced", "sqrt", "none")


def meta_class_weight(codes: np.ndarray, rule: str) -> dict | None:
    """The ``class_weight`` argument of the meta logistic regression for integer labels ``codes``."""
    if rule not in CLASS_WEIGHTS:
        raise ValueError(f"class_weight must be one of {CLASS_WEIGHTS}, got {rule!r}")
    if rule == "none":
        return None
    classes, counts = np.unique(codes, return_counts=True)
    weights = len(codes) / (len(classes) * counts)
    return {int(c): float(w if rule == "balanced" else np.sqrt(w)) for c, w in zip(classes, weights, strict=True)}


def class_similarity(sims: np.ndarray, classes) -> np.ndarray:
    """Per class, the highest similarity to one of its :data:`freegens.encoder.CATEGORY_DESCRIPTIONS` (columns
    of ``sims`` in that dict's order); a class without descriptions (``unknown``: "none of these") gets minus the
    highest similarity to any description."""
    from .encoder import CATEGORY_DESCRIPTIONS

    out = np.zeros((sims.shape[0], len(classes)))
    start = 0
    where = {}
    for name, group in CATEGORY_DESCRIPTIONS.items():
        where[name] = slice(start, start + len(group))
        start += len(group)
    for j, name in enumerate(classes):
        out[:, j] = sims[:, where[str(name)]].max(axis=1) if str(name) in where else -sims.max(axis=1)
    return out


class TiedMeta(BaseEstimator):
    """A meta-classifier with one weight per base block, shared by all classes, and one bias per class:
    ``score_k = sum_b w_b * Z_b[:, k] + bias_k`` (a conditional logit), fitted by class-weighted cross-entropy
    with an L2 penalty ``1 / (2 C)`` on the block weights.

    Each block is a per-class score (``n_classes`` columns) from one base model; a free multinomial logistic
    regression on all of them has blocks x classes^2 weights to learn from 4-7 documents of a rare class, this
    one n_blocks + n_classes. Blocks are divided by their standard deviation so the weights are comparable.
    """

    def __init__(self, n_classes: int = 2, C: float = 1.0, class_weight: str = "balanced"):
        self.n_classes = n_classes
        self.C = C
        self.class_weight = class_weight

    def _blocks(self, Z: np.ndarray) -> np.ndarray:
        if Z.shape[1] % self.n_classes:
            raise ValueError(f"{Z.shape[1]} columns are not whole blocks of {self.n_classes} classes")
        return Z.reshape(Z.shape[0], -1, self.n_classes)  # n x blocks x classes

    def fit(self, Z: np.ndarray, codes: np.ndarray) -> TiedMeta:
        from scipy.optimize import minimize
        from scipy.special import log_softmax

        B = self._blocks(np.asarray(Z, float))
        self.scale_ = B.std(axis=(0, 2)).clip(min=1e-9)
        B = B / self.scale_[None, :, None]
        n, nb, nc = B.shape
        weights = meta_class_weight(codes, self.class_weight) or {}
        sw = np.array([weights.get(int(c), 1.0) for c in codes])
        sw = sw / sw.sum()
        onehot = np.zeros((n, nc))
        onehot[np.arange(n), codes] = 1.0
        lam = 1.0 / (2 * self.C)

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            w, b = theta[:nb], theta[nb:]
            logp = log_softmax(np.einsum("nbk,b->nk", B, w) + b, axis=1)
            resid = (np.exp(logp) - onehot) * sw[:, None]  # d loss / d logits
            grad = np.concatenate([np.einsum("nk,nbk->b", resid, B) + 2 * lam * w, resid.sum(axis=0)])
            return float(-(sw * (logp * onehot).sum(axis=1)).sum() + lam * w @ w), grad

        start = np.concatenate([np.ones(nb) / nb, np.zeros(nc)])
        res = minimize(loss, start, jac=True, method="L-BFGS-B")
        self.coef_, self.intercept_ = res.x[:nb], res.x[nb:]
        self.classes_ = np.arange(nc)
        return self

    def decision_function(self, Z: np.ndarray) -> np.ndarray:
        B = self._blocks(np.asarray(Z, float)) / self.scale_[None, :, None]
        return np.einsum("nbk,b->nk", B, self.coef_) + self.intercept_


def meta_scores(meta, Z: np.ndarray, n_classes: int) -> np.ndarray:
    """A fitted meta-classifier's scores over all ``n_classes`` integer-coded classes (-inf for a class it never
    saw: a singleton class left out of the inner CV)."""
    return _full_scores(np.asarray(meta.decision_function(Z), float), np.asarray(meta.classes_), n_classes, -np.inf)
