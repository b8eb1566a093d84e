"""Per-class decision offsets chosen for macro-F1 inside the training data (``--objective macro_f1``).

A linear classifier trained on 1,000 documents of which 5-9 belong to a class almost never predicts that class:
its decision score rarely wins the argmax. Macro-F1 weighs each class equally, so predicting a rare class a few
more times (at some cost in precision elsewhere) raises it. :class:`MacroF1Offsets` adds one offset per class to
the decision scores, chosen by coordinate ascent on the out-of-fold scores of an *inner* stratified
cross-validation of the training data only — in ``njsl domains cv`` that is the training part of each outer fold,
so the held-out documents never influence the offsets. The same choice serves for a plain ``train``.

The price: a model tuned for macro-F1 predicts the rare classes more often than their share in the labels, so
the domain shares (the ``domain_*_pct_mean`` features) move away from the labels'; ``--objective shares`` (the
default) keeps the plain argmax.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

#: Offsets tried per class, in units of the ridge classifier's decision score (its targets are -1/+1).
DEFAULT_GRID: tuple[float, ...] = tuple(np.round(np.arange(-0.5, 1.01, 0.05), 2))


def macro_f1_from_codes(y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    """Macro-F1 over ``n_classes`` integer-coded classes (a class never seen nor predicted counts 0, as sklearn's
    ``f1_score(labels=..., zero_division=0)``)."""
    tp = np.bincount(y[pred == y], minlength=n_classes).astype(float)
    support = np.bincount(y, minlength=n_classes)
    predicted = np.bincount(pred, minlength=n_classes)
    denom = support + predicted
    return float(np.mean(np.divide(2 * tp, denom, out=np.zeros(n_classes), where=denom > 0)))


def choose_offsets(scores: np.ndarray, y: np.ndarray, grid=DEFAULT_GRID, passes: int = 3) -> np.ndarray:
    """Per-class offsets added to ``scores`` (n × classes) maximising the macro-F1 of ``argmax(scores + offsets)``
    against the integer labels ``y``.

    Coordinate ascent: each class in turn gets the grid value that scores best with the others held, for up to
    ``passes`` sweeps or until nothing changes. Ties go to the offset nearest 0, so a class the data say nothing
    about keeps its plain score.
    """
    scores = np.asarray(scores, dtype=float)
    y = np.asarray(y)
    n_classes = scores.shape[1]
    grid = np.asarray(sorted(grid, key=abs), dtype=float)  # nearest 0 first: ties keep the smallest offset
    offsets = np.zeros(n_classes)
    best = macro_f1_from_codes(y, scores.argmax(axis=1), n_classes)
    for _ in range(passes):
        changed = False
        for k in range(n_classes):
            current = offsets[k]
            for value in grid:
                offsets[k] = value
                f1 = macro_f1_from_codes(y, (scores + offsets).argmax(axis=1), n_classes)
                if f1 > best + 1e-12:
                    best, current, changed = f1, value, True
            offsets[k] = current
        if not changed:
            break
    return offsets


#: How :class:`MacroF1Offsets` turns several inner CV repeats into one set of offsets: ``pool`` (one choice on the
#: out-of-fold scores of all repeats stacked) or ``mean`` (one choice per repeat, the offsets averaged).
COMBINE = ("pool", "mean")


def combine_offsets(parts: list[tuple[np.ndarray, np.ndarray]], combine: str = "pool", grid=DEFAULT_GRID,
                    passes: int = 3, resamples: int = 0, seed: int = 0) -> np.ndarray:
    """Offsets from the (scores, labels) of one or more inner CV repeats: chosen once on all of them stacked
    (``pool``) or per repeat and averaged (``mean``). With one repeat both are :func:`choose_offsets`.
    ``resamples`` > 0: instead the mean of the choices on that many stratified bootstrap resamples of all of them
    stacked (:func:`bootstrap_offsets`, drawn with ``seed``)."""
    if resamples > 0:
        return bootstrap_offsets(np.concatenate([s for s, _ in parts]), np.concatenate([c for _, c in parts]),
                                 resamples, seed, grid, passes)
    if combine == "pool":
        return choose_offsets(np.concatenate([s for s, _ in parts]), np.concatenate([c for _, c in parts]), grid,
                              passes)
    return np.mean([choose_offsets(s, c, grid, passes) for s, c in parts], axis=0)


def bootstrap_offsets(scores: np.ndarray, y: np.ndarray, n_boot: int = 20, seed: int = 0, grid=DEFAULT_GRID,
                      passes: int = 3) -> np.ndarray:
    """The mean of :func:`choose_offsets` over ``n_boot`` stratified bootstrap resamples of the scored rows
    (each class drawn with replacement to its own size, so every class stays in every resample).

    With 2-4 out-of-fold documents of a rare class, the offset that maximises macro-F1 jumps with which of them
    happen to sit above a threshold; averaging the choices over resamples of the same rows smooths that without
    fitting any model again.
    """
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(y == k) for k in np.unique(y)]
    chosen = []
    for _ in range(n_boot):
        rows = np.concatenate([rng.choice(m, size=len(m), replace=True) for m in members])
        chosen.append(choose_offsets(scores[rows], y[rows], grid, passes))
    return np.mean(chosen, axis=0)


def inner_splits(y, folds: int, seed: int, repeats: int = 1):
    """The inner CV of :class:`MacroF1Offsets`: per repeat, the mask of documents it scores and the list of
    (train, test) index arrays of a stratified ``folds``-fold split shuffled with ``seed + repeat``.

    ``folds`` is lowered to the smallest class count (at least 2); documents of a singleton class only train.
    """
    from sklearn.model_selection import StratifiedKFold

    _, codes, counts = np.unique(np.asarray(y, dtype=object), return_inverse=True, return_counts=True)
    kept = counts[codes] >= 2  # a singleton class cannot be stratified; its document only trains
    n_folds = max(2, min(folds, int(counts[counts >= 2].min())))
    idx, lonely = np.flatnonzero(kept), np.flatnonzero(~kept)
    for repeat in range(repeats):
        cv = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed + repeat)
        yield kept, [(np.concatenate([idx[tr], lonely]), idx[te]) for tr, te in cv.split(idx, codes[idx])]


def _two_column(scores) -> np.ndarray:
    # sklearn returns one column for two classes (the second class's score); make it one column per class
    scores = np.asarray(scores, dtype=float)
    return np.column_stack([-scores, scores]) if scores.ndim == 1 else scores


class MacroF1Offsets(ClassifierMixin, BaseEstimator):
    """``estimator`` (anything with ``decision_function``) with per-class offsets on its scores, chosen by
    :func:`choose_offsets` on the out-of-fold scores of an inner stratified ``inner_folds``-fold CV of the data
    given to :meth:`fit` (and nothing else); then ``estimator`` is refitted on all of it.

    ``inner_folds`` is lowered to the smallest class count (at least 2); a class with a single training document
    keeps offset 0 (it cannot be both trained on and held out). ``inner_repeats`` > 1 reshuffles the inner CV and
    ``combine`` says how the repeats give one choice (:func:`combine_offsets`); ``resamples`` > 0 instead averages
    the choices on that many stratified bootstrap resamples of the out-of-fold rows (:func:`bootstrap_offsets`,
    ``--offset_resamples``; no more fits).
    """

    def __init__(self, estimator=None, inner_folds: int = 3, inner_repeats: int = 1, grid=DEFAULT_GRID,
                 passes: int = 3, seed: int = 0, combine: str = "pool", resamples: int = 0):
        self.estimator = estimator
        self.inner_folds = inner_folds
        self.inner_repeats = inner_repeats
        self.grid = grid
        self.passes = passes
        self.seed = seed
        self.combine = combine
        self.resamples = resamples

    def inner_scores(self, X, y) -> tuple[np.ndarray, np.ndarray]:
        """Out-of-fold decision scores (n × classes, columns in ``np.unique(y)`` order) and the integer labels;
        with ``inner_repeats`` > 1 the rows of each repeat (another shuffle) are stacked."""
        parts = self.repeat_scores(X, y)
        return np.concatenate([s for s, _ in parts]), np.concatenate([c for _, c in parts])

    def repeat_scores(self, X, y) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per repeat of the inner CV, the out-of-fold decision scores and integer labels of the documents it
        scores (:func:`inner_splits`)."""
        X, y = list(X), np.asarray(y, dtype=object)
        classes = np.unique(y)
        parts = []
        for kept, splits in inner_splits(y, self.inner_folds, self.seed, self.inner_repeats):
            scores = np.zeros((len(y), len(classes)))
            for train_idx, test_idx in splits:
                model = clone(self.estimator).fit([X[i] for i in train_idx], y[train_idx])
                cols = np.searchsorted(classes, np.asarray(model.classes_, dtype=object))
                part = np.full((len(test_idx), len(classes)), -np.inf)
                part[:, cols] = _two_column(model.decision_function([X[i] for i in test_idx]))
                scores[test_idx] = part
            parts.append((scores[kept], np.searchsorted(classes, y[kept])))
        return parts

    def fit(self, X, y) -> MacroF1Offsets:
        if self.combine not in COMBINE:
            raise ValueError(f"combine must be one of {COMBINE}, got {self.combine!r}")
        X, y = list(X), np.asarray(y, dtype=object)
        parts = self.repeat_scores(X, y)
        self.offsets_ = combine_offsets(parts, self.combine, self.grid, self.passes, self.resamples, self.seed)
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.classes_ = np.asarray(self.estimator_.classes_, dtype=object)
        if not np.array_equal(self.classes_, np.unique(y)):  # sklearn sorts classes; guard the column order
            raise RuntimeError("the wrapped estimator's classes_ are not the sorted training labels")
        return self

    def decision_function(self, X) -> np.ndarray:
        return _two_column(self.estimator_.decision_function(list(X))) + self.offsets_

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.decision_function(X).argmax(axis=1)]

    @property
    def offsets(self) -> dict[str, float]:
        """The fitted offsets by class name."""
        return {str(c): float(o) for c, o in zip(self.classes_, self.offsets_, strict=True)}
