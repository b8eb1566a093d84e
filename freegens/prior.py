"""A zero-shot prior from the paper's category definitions for the ridge domain model (issue 14, session 9).

The rare classes of the shared fineweb labels have 5-9 documents, so the ridge weights of those classes are mostly
noise. The category definitions (:mod:`freegens.taxonomy`, our wording of the paper's) say what each class is
without any labelled document. Three ways to use them, screened by ``benchmarks/bench_domain_prior.py``:

* zero-shot: argmax of the cosine between a document's embedding and each label's definition embedding;
* a ridge *prior mean*: ``w ~ N(w0, 1/alpha)`` instead of ``N(0, 1/alpha)`` on the encoder blocks, ``w0_c`` the
  standardised, centred and normalised definition embedding of class c. Writing ``w = w0 + v`` gives ordinary ridge
  on ``Y - X w0`` for ``v``, and the scores ``X v + b + X w0`` (:func:`freegens.kernels.dual_ridge_target_scores`
  with the targets ``Y - P``, plus ``P``);
* the zero-shot similarities added to the ridge scores.

``unknown`` has no definition (the paper's final choice offers it as "none of these"): its prior weight is 0 and
its zero-shot score is the mean of the other classes' (so the macro-F1 offsets can still pick it).
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from .encoder import CATEGORY_DESCRIPTIONS, encoder_parts
from .taxonomy import STAGES

#: Which descriptions define a label: ``long`` the cascade's stage questions and final-choice lines
#: (:data:`freegens.taxonomy.STAGES`), ``short`` the 27 short phrases of
#: :data:`freegens.encoder.CATEGORY_DESCRIPTIONS`, ``both`` all of them (each text embedded, the label's
#: embedding the normalised mean).
DEFINITION_SETS = ("long", "short", "both")


def long_definitions() -> dict[str, tuple[str, ...]]:
    """Per label, the definition text(s) of the cascade: the body of a yes/no stage question (its first line only
    names the stage) and the label's line of the final choice (``web`` has both); ``unknown`` none."""
    out: dict[str, list[str]] = {}
    for stage in STAGES:
        head, _, body = stage.question.partition("\n")
        if not stage.is_choice:
            out.setdefault(str(stage.label), []).append(body.strip())
            continue
        for row in body.splitlines():
            label, sep, text = row.removeprefix("- ").partition(": ")
            if sep and label in stage.choices and label != "unknown":
                out.setdefault(label, []).append(text.strip())
    return {k: tuple(v) for k, v in out.items()}


def label_definitions(which: str = "long") -> dict[str, tuple[str, ...]]:
    """The texts that define each label in the set ``which`` (:data:`DEFINITION_SETS`)."""
    if which not in DEFINITION_SETS:
        raise ValueError(f"definitions must be one of {DEFINITION_SETS}, got {which!r}")
    long, short = long_definitions(), dict(CATEGORY_DESCRIPTIONS)
    if which == "long":
        return long
    if which == "short":
        return short
    return {k: long.get(k, ()) + short.get(k, ()) for k in sorted(set(long) | set(short))}


def definition_vectors(encode, definitions: dict[str, tuple[str, ...]], labels) -> tuple[np.ndarray, np.ndarray]:
    """Per label of ``labels`` (in order), the mean of the embeddings of its definitions (``encode``: texts ->
    rows of one length, e.g. an encoder part's columns, 1/sqrt(k) long) rescaled to that length, so it sits where
    a document's embedding would; and a mask of the labels that have one (the others' rows are 0)."""
    texts = [t for lab in labels for t in definitions.get(lab, ())]
    emb = np.asarray(encode(texts), dtype=float) if texts else np.zeros((0, 1))
    dim = emb.shape[1]
    out, defined, start = np.zeros((len(labels), dim)), np.zeros(len(labels), dtype=bool), 0
    for i, lab in enumerate(labels):
        n = len(definitions.get(lab, ()))
        if n:
            mean = emb[start:start + n].mean(axis=0)
            length = np.linalg.norm(emb[start:start + n], axis=1).mean()
            out[i], defined[i] = mean * length / np.linalg.norm(mean), True
        start += n
    return out, defined


def zero_shot_scores(doc_parts: list[np.ndarray], def_parts: list[np.ndarray], defined: np.ndarray) -> np.ndarray:
    """Documents × labels: the cosine between each document and each label's definition, averaged over the encoder
    parts (rows of both renormalised per part); a label without definition gets the mean of the defined ones."""
    sims = []
    for docs, defs in zip(doc_parts, def_parts, strict=True):
        docs = docs / np.linalg.norm(docs, axis=1, keepdims=True)
        defs = defs / np.maximum(np.linalg.norm(defs, axis=1, keepdims=True), 1e-300)
        sims.append(docs @ defs.T)
    out = np.mean(sims, axis=0)
    out[:, ~defined] = out[:, defined].mean(axis=1, keepdims=True)
    return out


def prior_directions(def_std: np.ndarray, defined: np.ndarray) -> np.ndarray:
    """Labels × columns: the definitions in the block's standardised coordinates (``def_std``, standardised with
    the training documents' scaler), centred over the defined labels (what they share says nothing about the
    class) and of unit length; 0 for labels without definition."""
    u = np.zeros_like(def_std)
    centred = def_std[defined] - def_std[defined].mean(axis=0)
    u[defined] = centred / np.linalg.norm(centred, axis=1, keepdims=True)
    return u


class ZeroShotBoost(ClassifierMixin, BaseEstimator):
    """A fitted linear pipeline's decision scores plus ``weight`` × the zero-shot similarities of each document to
    the label definitions (:func:`zero_shot_scores`, the set ``definitions``), standardised per label on the
    training documents (label-free statistics); ``--zero_shot WEIGHT`` of ``njsl domains``.

    The definitions are embedded once at fit and kept; the documents' embeddings come from the encoder's cache,
    which the embedding block fills anyway. Measured (issue 14, session 9): weight 0.05 with the ``short``
    definitions, alpha 1, the mpnet block × 0.5 and ``--offset_resamples 20``.
    """

    def __init__(self, pipeline=None, encoder=None, weight: float = 0.05, definitions: str = "short"):
        self.pipeline = pipeline
        self.encoder = encoder
        self.weight = weight
        self.definitions = definitions

    def _similarities(self, X: list[str]) -> np.ndarray:
        return zero_shot_scores(list(encoder_parts(self.encoder, X).values()), self.definition_parts_,
                                self.defined_)

    def fit(self, X, y) -> ZeroShotBoost:
        from sklearn.preprocessing import StandardScaler

        defs = label_definitions(self.definitions)  # before the (costly) fit: a bad name stops here
        X = list(X)
        self.pipeline.fit(X, y)
        self.classes_ = self.pipeline.classes_
        labels = [str(c) for c in self.classes_]
        self.definition_parts_, defined = [], np.zeros(len(labels), dtype=bool)
        for name in encoder_parts(self.encoder, []):   # one embedding per part: embedding:0, embedding:1, ...
            vecs, defined = definition_vectors(lambda t, n=name: encoder_parts(self.encoder, t)[n], defs, labels)
            self.definition_parts_.append(vecs)
        self.defined_ = defined
        self.scaler_ = StandardScaler().fit(self._similarities(X))
        return self

    def decision_function(self, X) -> np.ndarray:
        X = list(X)
        scores = np.asarray(self.pipeline.decision_function(X), dtype=float)
        return scores + self.weight * self.scaler_.transform(self._similarities(X))

    def predict(self, X) -> np.ndarray:
        return np.asarray(self.classes_)[self.decision_function(X).argmax(axis=1)]
