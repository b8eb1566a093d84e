"""The ridge domain model behind ``njsl domains --model ridge``: word TF-IDF + layout statistics + category cue
counts (+ optionally a sentence encoder's embedding and its similarity to the category descriptions), a ridge
classifier, the rare-class rules and the macro-F1 offsets. :mod:`freegens.local_model` trains, saves and
cross-validates it; :mod:`freegens.stack` uses it as a base model.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin

_STOPWORDS = frozenset(["the", "of", "and", "to", "a", "in", "is", "that", "for", "it", "as", "with", "was", "on",
                        "be", "by", "this", "are", "at", "from", "or", "have", "an", "not", "but", "you", "he",
                        "she", "they", "we", "his", "her", "their", "its"])


class ShapeFeatures:
    """Twelve layout statistics of a text (symbol/digit/upper-case shares, indented lines, lines ending like
    code, line and word length, stop-word share, distinct-word share, length, questions, newlines).

    They separate code, incoherent text and academic prose with few examples, where n-grams need many.
    A plain sklearn-compatible transformer (fit does nothing), defined at module level so joblib can pickle it.
    """

    def fit(self, X, y=None):
        return self

    def get_params(self, deep: bool = True) -> dict:
        return {}

    def set_params(self, **params) -> ShapeFeatures:
        return self

    def transform(self, X) -> np.ndarray:
        return np.array([_feature_row(self.features, t) for t in X], dtype=float)

    @staticmethod
    def features(text: str) -> list[float]:
        lines = [ln for ln in text.splitlines() if ln.strip()] or [""]
        words = text.split() or [""]
        n = max(len(text), 1)
        return [sum(not c.isalnum() and not c.isspace() for c in text) / n, sum(c.isdigit() for c in text) / n,
                sum(c.isupper() for c in text) / n, sum(ln.startswith((" ", "\t")) for ln in lines) / len(lines),
                sum(ln.rstrip().endswith((";", "{", "}", ":", ")")) for ln in lines) / len(lines),
                float(np.mean([len(ln) for ln in lines])) / 100, float(np.mean([len(w) for w in words])) / 10,
                sum(w.lower() in _STOPWORDS for w in words) / len(words), len(set(words)) / len(words),
                float(np.log1p(len(text))) / 10, text.count("?") / len(lines), 100 * text.count("\n") / n]


@lru_cache(maxsize=16_384)
def _feature_row(features: Callable[[str], list[float]], text: str) -> tuple[float, ...]:
    # A pure function of the text, asked for the same documents again and again: every CV fold, every inner fold of
    # the macro-F1 offsets and every member of a ScoreAverage transforms them anew (a 5-fold `njsl domains cv` with
    # --objective macro_f1 asked ~17 times per document, and these regexes were most of its time).
    return tuple(features(text))


class DocStats(ShapeFeatures):
    """:class:`ShapeFeatures` plus the category cue counts (:mod:`freegens.cues`) and the share of lines that
    look like code (:func:`data_tagging.code_features.code_line_share`)."""

    @staticmethod
    def features(text: str) -> list[float]:
        from data_tagging.code_features import code_line_share

        from .cues import cue_features

        return ShapeFeatures.features(text) + cue_features(text) + [code_line_share(text)]


class RareClassCues(ShapeFeatures):
    """The cues written from the paper's definitions of incoherent, media and specific_datasets
    (:func:`freegens.cues.rare_class_cues`) as a transformer."""

    @staticmethod
    def features(text: str) -> list[float]:
        from .cues import rare_class_cues

        return rare_class_cues(text)


def _scale(X, weight: float):
    return X * weight


def scaled(weight: float):
    """A transformer multiplying a feature block by ``weight``, so dense standardised statistics do not drown
    the TF-IDF rows (a module-level function, so the fitted pipeline pickles)."""
    from sklearn.preprocessing import FunctionTransformer

    return FunctionTransformer(_scale, kw_args={"weight": weight})


class EncoderFeatures(BaseEstimator):
    """A frozen sentence encoder as a transformer: the document embeddings (``what="embedding"``) or their cosine
    similarity to each of :data:`freegens.encoder.CATEGORY_DESCRIPTIONS` (``what="similarity"``).

    Fit does nothing (the encoder is pretrained); the scaler after it is fitted inside each fold.
    """

    def __init__(self, encoder=None, what: str = "embedding"):
        self.encoder = encoder
        self.what = what

    def fit(self, X, y=None):
        return self

    def transform(self, X) -> np.ndarray:
        from .encoder import CATEGORY_DESCRIPTIONS

        emb = self.encoder.encode(list(X))
        if self.what == "embedding":
            return emb
        descriptions = [d for group in CATEGORY_DESCRIPTIONS.values() for d in group]
        return emb @ self.encoder.encode(descriptions).T


#: What the classifier's decisions are tuned for: ``shares`` (plain argmax of the ridge scores; the predicted
#: domain shares stay close to the labels') or ``macro_f1`` (per-class offsets chosen by an inner CV of the training
#: data, :class:`freegens.offsets.MacroF1Offsets`: rare classes predicted more often).
OBJECTIVES = ("shares", "macro_f1")


#: The weight each feature block of :func:`build_pipeline` gets after standardising (the TF-IDF rows are
#: L2-normalised, not standardised); :mod:`freegens.kernels` builds the same blocks as Gram matrices.
BLOCK_WEIGHTS: dict[str, float] = {"word": 1.0, "stats": 0.1, "similarity": 0.1, "embedding": 0.02}


def word_vectorizer():
    """The ridge model's word 1-2-gram TF-IDF (English stop words removed), unfitted."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=50_000, sublinear_tf=True,
                           stop_words="english")


class PartWeights(TransformerMixin, BaseEstimator):
    """Multiplies the standardised embedding block's columns by one weight per encoder part (``--encoder_weights``;
    e.g. ``1,0.5`` for ``bundled+mpnet``: the mpnet part at half weight, measured best in issue 14's session 8)."""

    def __init__(self, encoder=None, weights: tuple[float, ...] = ()):
        self.encoder = encoder
        self.weights = weights

    def fit(self, X, y=None) -> PartWeights:
        parts = list(getattr(self.encoder, "encoders", [self.encoder]))
        check_part_weights(self.weights, len(parts))
        self.column_weights_ = np.concatenate([np.full(p.dim, float(w)) for p, w in zip(parts, self.weights,
                                                                                          strict=True)])
        if len(self.column_weights_) != X.shape[1]:
            raise ValueError(f"the encoder's parts have {len(self.column_weights_)} columns, the block {X.shape[1]}")
        return self

    def transform(self, X) -> np.ndarray:
        return np.asarray(X) * self.column_weights_


def check_part_weights(weights, n_parts: int) -> None:
    """``--encoder_weights``: one positive weight per encoder part, else a ValueError naming the option."""
    if len(weights) != n_parts or any(not w > 0 for w in weights):
        raise ValueError(f"--encoder_weights {','.join(f'{w:g}' for w in weights)}: need {n_parts} positive "
                         f"weight(s), one per encoder part")


def build_pipeline(alpha: float = 1.0, seed: int = 0, encoder=None, rare_cues: float = 0.0,
                   objective: str = "shares", rare_rule: str = "nn", offset_resamples: int = 0,
                   encoder_weights: tuple[float, ...] | None = None, zero_shot: float = 0.0,
                   definitions: str = "short", word_vectors=None, word_vectors_weight: float = 1.0):
    """The untrained sklearn pipeline: word 1-2-gram TF-IDF (English stop words removed) + standardised document
    statistics and category cues (weight 0.1), a ridge classifier with balanced class weights.

    ``objective="macro_f1"`` wraps the linear model in :class:`freegens.offsets.MacroF1Offsets` (its offsets
    averaged over ``offset_resamples`` bootstrap resamples of the inner out-of-fold scores when > 0). ``rare_rule``
    (with an encoder) is how :class:`RareClassNeighbours` finds a rare class: ``nn`` (the nearest training
    document) or ``centroid`` (the most similar shrunk class centroid). ``rare_cues`` > 0
    adds :func:`freegens.cues.rare_class_cues` with that weight (measured, not a default: it did not help).
    With an encoder: ``encoder_weights`` scales each encoder part's embedding columns (:class:`PartWeights`);
    ``zero_shot`` > 0 adds that weight × the standardised zero-shot similarities to the label ``definitions``
    to the linear scores (:class:`freegens.prior.ZeroShotBoost`). ``word_vectors``
    (:class:`freegens.word_vectors.WordVectors`) adds its document vectors as one more block, standardised and
    weighted like an encoder part (``word_vectors_weight`` × the embedding block's weight); a list of them gives one
    ridge model per element, their scores averaged (:class:`ScoreAverage`; ``--word_vectors_pooling mean+pmeans``).

    Chosen by stratified 5-fold CV (seed 0) on the paper's 1,000 fineweb labels (figures in freegens/README.md):
    the former linear SVM on word + character n-grams and layout statistics reached macro-F1 0.213; a ridge
    classifier on the same inputs 0.24; without stop words 0.28; with the cue counts 0.30. Character n-grams,
    chunk-level training, larger class weights and prior-matched decision offsets did not help (0.25-0.30).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if encoder is None and (encoder_weights or zero_shot):
        raise ValueError("--encoder_weights and --zero_shot need an encoder (--encoder bundled|mpnet|PATH)")
    if zero_shot < 0:
        raise ValueError(f"--zero_shot must be >= 0, got {zero_shot}")
    if encoder_weights:
        check_part_weights(encoder_weights, len(getattr(encoder, "encoders", [encoder])))
    if not word_vectors_weight > 0:
        raise ValueError(f"--word_vectors_weight must be > 0, got {word_vectors_weight}")
    vectors = word_vectors if isinstance(word_vectors, (list, tuple)) else [word_vectors]
    linear = [_linear_pipeline(alpha, seed, encoder, rare_cues, encoder_weights, wv, word_vectors_weight)
              for wv in vectors]
    pipe = linear[0] if len(linear) == 1 else ScoreAverage(linear)
    if zero_shot:
        from .prior import ZeroShotBoost, label_definitions

        label_definitions(definitions)  # a bad name stops before any fit
        pipe = ZeroShotBoost(pipe, encoder, zero_shot, definitions)
    model = pipe if encoder is None else RareClassNeighbours(pipe, encoder, rule=rare_rule)
    if objective == "macro_f1":
        from .offsets import MacroF1Offsets

        # around the whole decision rule (neighbour rule included), so the inner CV tunes what is predicted
        model = MacroF1Offsets(model, seed=seed, resamples=offset_resamples)
    return model


def _linear_pipeline(alpha: float, seed: int, encoder, rare_cues: float, encoder_weights, word_vectors,
                     word_vectors_weight: float):
    """:func:`build_pipeline`'s feature blocks and ridge classifier (one word-vector source or none)."""
    from sklearn.linear_model import RidgeClassifier
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import StandardScaler

    w = BLOCK_WEIGHTS
    features = FeatureUnion([
        ("word", word_vectorizer()),
        ("stats", Pipeline([("stats", DocStats()), ("scale", StandardScaler()), ("weight", scaled(w["stats"]))])),
    ])
    if rare_cues:
        features.transformer_list.append(
            ("rare_cues", Pipeline([("cues", RareClassCues()), ("scale", StandardScaler()),
                                    ("weight", scaled(rare_cues))])))
    if encoder is not None:
        features.transformer_list += [
            ("similarity", Pipeline([("sim", EncoderFeatures(encoder, "similarity")), ("scale", StandardScaler()),
                                     ("weight", scaled(w["similarity"]))])),
            ("embedding", Pipeline([("emb", EncoderFeatures(encoder, "embedding")), ("scale", StandardScaler()),
                                    ("weight", scaled(w["embedding"]))]
                                   + ([("parts", PartWeights(encoder, tuple(encoder_weights)))]
                                      if encoder_weights else []))),
        ]
    if word_vectors is not None:
        features.transformer_list.append(
            ("word_vectors", Pipeline([("wv", EncoderFeatures(word_vectors, "embedding")), ("scale", StandardScaler()),
                                       ("weight", scaled(w["embedding"] * word_vectors_weight))])))
    clf = RidgeClassifier(alpha=alpha, class_weight="balanced", random_state=seed)
    return Pipeline([("features", features), ("clf", clf)])


class ScoreAverage(ClassifierMixin, BaseEstimator):
    """Several classifiers fitted on the same documents, their decision scores averaged (``predict``: the class
    with the highest mean score).

    ``--word_vectors_pooling mean+pmeans`` (issue 14, session 13): one ridge model with the mean word vector and one
    with its p-means (mean, max, min) as the word-vector block. Measured on CV seeds that did not choose it: above
    the mean block alone, level with the p-means block alone (freegens/README.md). The members see the same
    labels, so their classes are the same.
    """

    def __init__(self, estimators=()):
        self.estimators = estimators

    def fit(self, X, y) -> ScoreAverage:
        from sklearn.base import clone

        if not self.estimators:
            raise ValueError("ScoreAverage needs at least one estimator")
        X = list(X)
        self.estimators_ = [clone(e).fit(X, y) for e in self.estimators]
        self.classes_ = self.estimators_[0].classes_
        return self

    def decision_function(self, X) -> np.ndarray:
        X = list(X)
        return np.mean([np.asarray(m.decision_function(X), dtype=float) for m in self.estimators_], axis=0)

    def predict(self, X) -> np.ndarray:
        scores = self.decision_function(X)   # one column for two classes, as sklearn's linear classifiers give
        codes = (scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)
        return np.asarray(self.classes_)[codes]


#: Classes with fewer training documents than this are (also) decided by the nearest neighbour.
RARE_BELOW = 10
#: How :class:`RareClassNeighbours` finds a rare class: the nearest training document (``nn``, the default) or
#: the most similar class centroid, shrunk towards the mean of all documents (``centroid``;
#: :func:`shrunk_centroid_similarity`).
RARE_RULES = ("nn", "centroid")


class RareClassNeighbours(ClassifierMixin, BaseEstimator):
    """The linear pipeline, except where a document's nearest training document (cosine of the encoder's
    embeddings) has a class with fewer than ``rare_below`` training documents: then that class.

    With 4-7 training examples a class barely moves a linear model (it was never predicted for
    specific_datasets, media or incoherent); one close example is evidence a nearest neighbour can use. The rare
    classes are counted on the training documents of each fit (each CV fold).
    """

    def __init__(self, pipeline=None, encoder=None, rare_below: int = RARE_BELOW, rule: str = "nn",
                 shrink: float = 5.0):
        self.pipeline = pipeline
        self.encoder = encoder
        self.rare_below = rare_below
        self.rule = rule
        self.shrink = shrink

    def fit(self, X, y) -> RareClassNeighbours:
        if self.rule not in RARE_RULES:   # before the (costly) fit
            raise ValueError(f"rule must be one of {RARE_RULES}, got {self.rule!r}")
        X, y = list(X), np.asarray(y, dtype=object)
        self.pipeline.fit(X, y)
        labels, counts = np.unique(y, return_counts=True)
        self.rare_ = sorted(str(c) for c, n in zip(labels, counts, strict=True) if n < self.rare_below)
        self.train_embeddings_ = self.encoder.encode(X)
        self.train_labels_ = y
        self.classes_ = self.pipeline.classes_
        return self

    def _overrides(self, X: list) -> np.ndarray:
        """Per document, the rare class of its nearest training document, or None."""
        if not self.rare_ or not X:
            return np.full(len(X), None, dtype=object)
        emb = self.encoder.encode(X)
        if self.rule == "centroid":
            names, codes = np.unique(self.train_labels_, return_inverse=True)
            sims = shrunk_centroid_similarity(self.train_embeddings_, codes, emb, len(names), self.shrink)
            nearest = names[sims.argmax(axis=1)]
        else:
            nearest = self.train_labels_[(emb @ self.train_embeddings_.T).argmax(axis=1)]
        return np.asarray(np.where(np.isin(nearest, self.rare_), nearest, None), dtype=object)

    def predict(self, X) -> np.ndarray:
        X = list(X)
        pred = np.asarray(self.pipeline.predict(X), dtype=object)
        override = self._overrides(X)
        return np.where([o is not None for o in override], override, pred)

    def decision_function(self, X) -> np.ndarray:
        """The linear model's scores, with +inf for the class the neighbour rule assigns (so offsets on these
        scores, :class:`freegens.offsets.MacroF1Offsets`, tune the other decisions and leave the rule's)."""
        X = list(X)
        scores = np.array(self.pipeline.decision_function(X), dtype=float)
        for row, label in enumerate(self._overrides(X)):
            if label is not None:
                scores[row, list(self.classes_).index(label)] = np.inf
        return scores


def shrunk_centroid_similarity(train: np.ndarray, codes: np.ndarray, test: np.ndarray, n_classes: int,
                               shrink: float) -> np.ndarray:
    """Cosine of each test row to each class's centroid, shrunk towards the mean of all training rows:
    ``(sum of the class's rows + shrink * overall mean) / (n_class + shrink)``, then unit length.

    With 4-7 documents a class centroid is noisy; shrinking pulls it to the overall mean by a weight of
    ``shrink`` pseudo-documents, so a rare class's prototype is trusted in proportion to its evidence.
    """
    mean = train.mean(axis=0)
    sums = np.zeros((n_classes, train.shape[1]))
    np.add.at(sums, codes, train)
    counts = np.bincount(codes, minlength=n_classes)[:, None]
    centroids = (sums + shrink * mean) / (counts + shrink)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True).clip(min=1e-12)
    return test @ centroids.T


class BaggedRidge(ClassifierMixin, BaseEstimator):
    """``n_bags`` ridge classifiers, each on a stratified bootstrap resample of the training rows (every class
    drawn with replacement to its own size), their decision scores averaged.

    The rare classes' 4-7 training documents make one ridge fit's scores for them depend on which few documents
    it saw; averaging over resamples smooths that before the offsets are chosen on the scores. Weights: each
    draw counts once and classes are balanced as ``class_weight="balanced"`` does on the resampled rows, so
    every class weighs n / classes in every bag.
    """

    def __init__(self, alpha: float = 1.0, n_bags: int = 10, seed: int = 0):
        self.alpha = alpha
        self.n_bags = n_bags
        self.seed = seed

    def fit(self, X, y, sample_weight=None) -> BaggedRidge:
        from sklearn.linear_model import RidgeClassifier

        if self.n_bags < 1:
            raise ValueError(f"n_bags must be >= 1, got {self.n_bags}")
        y = np.asarray(y, dtype=object)
        self.classes_, codes = np.unique(y, return_inverse=True)
        members = [np.flatnonzero(codes == k) for k in range(len(self.classes_))]
        balanced = len(y) / (len(members) * np.bincount(codes))
        rng = np.random.default_rng(self.seed)
        self.estimators_ = []
        for _ in range(self.n_bags):
            draws = np.concatenate([rng.choice(m, size=len(m), replace=True) for m in members])
            counts = np.bincount(draws, minlength=len(y))
            rows = np.flatnonzero(counts)
            weight = counts[rows] * balanced[codes[rows]]  # duplicated draws as weights: same fit, fewer rows
            self.estimators_.append(RidgeClassifier(alpha=self.alpha).fit(X[rows], y[rows], sample_weight=weight))
        return self

    def decision_function(self, X) -> np.ndarray:
        return np.mean([m.decision_function(X) for m in self.estimators_], axis=0)

    def predict(self, X) -> np.ndarray:
        scores = self.decision_function(X)
        return self.classes_[(scores > 0).astype(int)] if scores.ndim == 1 else self.classes_[scores.argmax(axis=1)]


class WindowAugmented(ClassifierMixin, BaseEstimator):
    """``estimator`` trained on the documents plus, as extra rows with their document's label, the ``windows``
    (middle/last token windows, :meth:`freegens.encoder.WindowEncoder.window_texts`) of the training documents of
    classes with fewer than ``classes_below`` training documents (all classes when None); prediction reads the
    documents as given (their opening).

    A rare class's 4-7 documents are all a linear model sees of it; the middle and the end of each document are
    more text of the same class (not new documents: the rows are not independent). Windows equal to their
    document (texts of one window) are not added twice.
    """

    def __init__(self, estimator=None, windows_of=None, windows: tuple[str, ...] = ("middle", "last"),
                 classes_below: int | None = RARE_BELOW):
        self.estimator = estimator
        self.windows_of = windows_of
        self.windows = windows
        self.classes_below = classes_below

    def augmented(self, X: list[str], y: np.ndarray) -> tuple[list[str], np.ndarray]:
        """The training rows: the documents, then the added windows."""
        labels, counts = np.unique(y, return_counts=True)
        below = np.inf if self.classes_below is None else self.classes_below
        chosen = {c for c, n in zip(labels, counts, strict=True) if n < below}
        picked = [i for i, label in enumerate(y) if label in chosen]
        extra_x, extra_y = [], []
        for i, wins in zip(picked, self.windows_of.window_texts([X[i] for i in picked]), strict=True):
            for text in dict.fromkeys(wins[w] for w in self.windows):  # middle == last for short texts: once
                if text != X[i]:
                    extra_x.append(text)
                    extra_y.append(y[i])
        return X + extra_x, np.concatenate([y, np.asarray(extra_y, dtype=object)])

    def fit(self, X, y) -> WindowAugmented:
        from sklearn.base import clone

        X_aug, y_aug = self.augmented(list(X), np.asarray(y, dtype=object))
        self.n_added_ = len(X_aug) - len(X)
        self.estimator_ = clone(self.estimator).fit(X_aug, y_aug)
        self.classes_ = self.estimator_.classes_
        return self

    def decision_function(self, X) -> np.ndarray:
        return self.estimator_.decision_function(list(X))

    def predict(self, X) -> np.ndarray:
        return self.estimator_.predict(list(X))
