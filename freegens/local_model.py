"""An offline domain classifier: word TF-IDF + layout statistics + category cue counts, ridge classifier;
optionally with a pretrained sentence encoder's embedding and its similarity to the category descriptions
(:mod:`freegens.encoder`).

Trained on documents labelled by the LLM cascade (e.g. the 1,000 fineweb documents with GPT-4o-mini labels), it
predicts the same top-level labels without any endpoint. Saved as ``MODEL_DIR/model.joblib`` +
``MODEL_DIR/model.json`` (labels, training data, sklearn version).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin

from njsl.atomic import atomic_path

from .taxonomy import LABELS

MAX_CHARS = 5000  # the opening of a document decides its domain; keeps TF-IDF fast on huge documents


class LabelledDataError(ValueError):
    """The labelled CSV cannot train a classifier (missing column, unknown label, too few examples)."""


class ModelDirError(FileNotFoundError):
    """The model folder is missing or is not a trained domain classifier."""


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
        return np.array([self.features(t) for t in X], dtype=float)

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


def build_pipeline(alpha: float = 1.0, seed: int = 0, encoder=None, rare_cues: float = 0.0,
                   objective: str = "shares", rare_rule: str = "nn"):
    """The untrained sklearn pipeline: word 1-2-gram TF-IDF (English stop words removed) + standardised document
    statistics and category cues (weight 0.1), a ridge classifier with balanced class weights.

    ``objective="macro_f1"`` wraps the linear model in :class:`freegens.offsets.MacroF1Offsets`. ``rare_rule``
    (with an encoder) is how :class:`RareClassNeighbours` finds a rare class: ``nn`` (the nearest training
    document) or ``centroid`` (the most similar shrunk class centroid). ``rare_cues`` > 0
    adds :func:`freegens.cues.rare_class_cues` with that weight (measured, not a default: it did not help).

    Chosen by stratified 5-fold CV (seed 0) on the paper's 1,000 fineweb labels (figures in freegens/README.md):
    the former linear SVM on word + character n-grams and layout statistics reached macro-F1 0.213; a ridge
    classifier on the same inputs 0.24; without stop words 0.28; with the cue counts 0.30. Character n-grams,
    chunk-level training, larger class weights and prior-matched decision offsets did not help (0.25-0.30).
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import RidgeClassifier
    from sklearn.pipeline import FeatureUnion, Pipeline
    from sklearn.preprocessing import StandardScaler

    features = FeatureUnion([
        ("word", TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=50_000, sublinear_tf=True,
                                 stop_words="english")),
        ("stats", Pipeline([("stats", DocStats()), ("scale", StandardScaler()), ("weight", scaled(0.1))])),
    ])
    if rare_cues:
        features.transformer_list.append(
            ("rare_cues", Pipeline([("cues", RareClassCues()), ("scale", StandardScaler()),
                                    ("weight", scaled(rare_cues))])))
    if encoder is not None:
        features.transformer_list += [
            ("similarity", Pipeline([("sim", EncoderFeatures(encoder, "similarity")), ("scale", StandardScaler()),
                                     ("weight", scaled(0.1))])),
            ("embedding", Pipeline([("emb", EncoderFeatures(encoder, "embedding")), ("scale", StandardScaler()),
                                    ("weight", scaled(0.02))])),
        ]
    clf = RidgeClassifier(alpha=alpha, class_weight="balanced", random_state=seed)
    pipe = Pipeline([("features", features), ("clf", clf)])
    model = pipe if encoder is None else RareClassNeighbours(pipe, encoder, rule=rare_rule)
    if objective == "macro_f1":
        from .offsets import MacroF1Offsets

        # around the whole decision rule (neighbour rule included), so the inner CV tunes what is predicted
        model = MacroF1Offsets(model, seed=seed)
    return model


#: The classifier behind ``--model``: ``ridge`` (:func:`build_pipeline`, the default) or ``stack``
#: (:class:`freegens.stack.StackedDomainModel`: base models' out-of-fold scores combined by a learned meta-classifier).
MODELS = ("ridge", "stack")


def make_model(model: str = "ridge", *, alpha: float = 1.0, seed: int = 0, encoder=None, objective: str = "shares",
               rare_rule: str = "nn", stack: dict | None = None):
    """The untrained estimator ``--model`` names; ``stack`` holds :class:`freegens.stack.StackedDomainModel`'s
    other settings (``objective="macro_f1"`` turns its offsets on)."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if model == "ridge":
        return build_pipeline(alpha=alpha, seed=seed, encoder=encoder, objective=objective, rare_rule=rare_rule)
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    from .stack import StackedDomainModel

    settings: dict[str, Any] = {"bases": ("tfidf",)} if encoder is None else {}  # no encoder: the TF-IDF block only
    settings.update(stack or {})
    return StackedDomainModel(encoder, alpha=alpha, seed=seed, tune_offsets=objective == "macro_f1", **settings)


#: Classes with fewer training documents than this are (also) decided by the nearest neighbour.
RARE_BELOW = 10
#: How :class:`RareClassNeighbours` finds a rare class: the nearest training document (``nn``, the default) or
#: the most similar class centroid, shrunk towards the mean of all documents (``centroid``;
#: :func:`freegens.stack.shrunk_centroid_similarity`).
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
        X, y = list(X), np.asarray(y, dtype=object)
        self.pipeline.fit(X, y)
        labels, counts = np.unique(y, return_counts=True)
        self.rare_ = sorted(str(c) for c, n in zip(labels, counts, strict=True) if n < self.rare_below)
        if self.rule not in RARE_RULES:
            raise ValueError(f"rule must be one of {RARE_RULES}, got {self.rule!r}")
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
            from .stack import shrunk_centroid_similarity

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


def load_labelled(path: str | Path, text_column: str = "text", label_column: str = "prediction") -> pd.DataFrame:
    """Read and check a labelled CSV (columns ``text`` and ``prediction`` like the paper's file)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"labelled CSV not found: {path}")
    frame = pd.read_csv(path, keep_default_na=False)
    for col, flag in ((text_column, "--text_column"), (label_column, "--label_column")):
        if col not in frame.columns:
            raise LabelledDataError(f"{path}: no column {col!r} (columns: {list(frame.columns)}); pass {flag}")
    frame = frame.rename(columns={text_column: "text", label_column: "label"})
    frame["label"] = frame["label"].astype(str).str.strip().str.lower()
    bad = sorted(set(frame["label"]) - set(LABELS))
    if bad:
        raise LabelledDataError(f"{path}: column {label_column!r} has labels outside the taxonomy: {bad} "
                                f"(allowed: {list(LABELS)})")
    frame = frame[frame["text"].astype(str).str.strip() != ""]
    if frame["label"].nunique() < 2:
        raise LabelledDataError(f"{path}: need at least two different labels to train, found "
                                f"{sorted(set(frame['label']))}")
    return frame[["text", "label"]].reset_index(drop=True)


def _labels(frame: pd.DataFrame) -> np.ndarray:
    # A plain object array: pandas 3's Arrow-backed strings do not support sklearn's fancy indexing.
    return np.asarray(frame["label"], dtype=object)


def _prep(texts) -> list[str]:
    return [str(t)[:MAX_CHARS] for t in texts]


def _offsets(fitted) -> dict[str, float] | None:
    """The per-class offsets of a fitted ``macro_f1`` model (None for ``shares``)."""
    return getattr(fitted, "offsets", None)


def _encoder_meta(encoder) -> dict | None:
    """What a saved model and a CV report record of the encoder (its weights reload from ``spec``)."""
    return None if encoder is None else {"spec": encoder.spec, "max_tokens": encoder.max_tokens}


@dataclass
class LocalDomainClassifier:
    """A fitted pipeline plus its metadata; ``predict(texts)`` -> labels."""
    pipeline: Any  # a fitted sklearn Pipeline, or RareClassNeighbours around one (with an encoder), or
    # MacroF1Offsets around either (objective macro_f1)
    meta: dict

    @classmethod
    def fit(cls, frame: pd.DataFrame, *, alpha: float = 1.0, seed: int = 0, source: str = "",
            encoder=None, objective: str = "shares", model: str = "ridge", rare_rule: str = "nn",
            stack: dict | None = None) -> LocalDomainClassifier:
        """Train on a frame from :func:`load_labelled`; ``encoder`` (a :class:`freegens.encoder.TextEncoder`)
        adds the embedding blocks (its spec is saved; the weights are reloaded from it where the model is loaded);
        ``objective`` is one of :data:`OBJECTIVES` (the chosen offsets are saved in the metadata).
        """
        import sklearn

        pipe = make_model(model, alpha=alpha, seed=seed, encoder=encoder, objective=objective, rare_rule=rare_rule,
                          stack=stack).fit(_prep(frame["text"]), _labels(frame))
        meta = {"labels": sorted(frame["label"].unique()), "n_train": int(len(frame)), "alpha": alpha, "seed": seed,
                "source": source, "sklearn_version": sklearn.__version__, "max_chars": MAX_CHARS,
                "label_counts": {k: int(v) for k, v in frame["label"].value_counts().items()},
                "encoder": _encoder_meta(encoder), "objective": objective, "offsets": _offsets(pipe),
                "model": model, "rare_rule": rare_rule}
        return cls(pipe, meta)

    def predict(self, texts) -> list[str]:
        texts = _prep(texts)
        return [str(x) for x in self.pipeline.predict(texts)] if texts else []

    def save(self, folder: str | Path) -> Path:
        import joblib

        folder = Path(folder)
        with atomic_path(folder) as tmp:
            tmp.mkdir(parents=True)
            joblib.dump(self.pipeline, tmp / "model.joblib")
            (tmp / "model.json").write_text(json.dumps(self.meta, indent=2), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> LocalDomainClassifier:
        import joblib

        folder = Path(folder)
        if not (folder / "model.joblib").is_file() or not (folder / "model.json").is_file():
            raise ModelDirError(f"{folder} is not a trained domain classifier (model.joblib/model.json missing); "
                                "train one with: njsl domains train LABELLED.csv --output DIR")
        return cls(joblib.load(folder / "model.joblib"), json.loads((folder / "model.json").read_text()))


NOT_CONTENT = ("incoherent", "unknown")


def cross_validate(frame: pd.DataFrame, *, folds: int = 5, alpha: float = 1.0, seed: int = 0,
                   encoder=None, objective: str = "shares", model: str = "ridge", rare_rule: str = "nn",
                   stack: dict | None = None) -> dict:
    """Stratified k-fold agreement of the local classifier with the given labels.

    Reports accuracy and macro-F1 over every label, the macro-F1 of the paper's own evaluation of its classifier
    (``evaluate_predictions`` in its ``classify_domains_multistage.py``: documents whose given or predicted label
    is incoherent/unknown are left out, the other categories scored), per-class precision/recall/F1, the
    confusion matrix, and the domain shares (the ``domain_*_pct_mean`` features) of the out-of-fold predictions
    against those of the labels. Stratification needs every class in every fold, so ``folds`` is lowered to the
    smallest class size (at least 2) when a class is smaller; the result's ``folds`` says how many were used.
    Everything fitted (TF-IDF vocabulary, scalers, classifier) is fitted inside each fold; a frozen ``encoder``
    embeds each document once (its cache), which uses no label. With ``objective="macro_f1"`` the offsets are
    chosen inside each outer fold, by an inner CV of its training part only.
    """
    from sklearn.metrics import classification_report, confusion_matrix, f1_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from .features import domain_features

    smallest = int(frame["label"].value_counts().min())
    used_folds = max(2, min(folds, smallest))
    cv = StratifiedKFold(n_splits=used_folds, shuffle=True, random_state=seed)
    y = _labels(frame)
    estimator = make_model(model, alpha=alpha, seed=seed, encoder=encoder, objective=objective, rare_rule=rare_rule,
                           stack=stack)
    pred = np.asarray(cross_val_predict(estimator, _prep(frame["text"]), y, cv=cv), dtype=object)
    labels = sorted(set(y) | set(pred))
    report = classification_report(y, pred, labels=labels, output_dict=True, zero_division=0)
    scored = np.array([t not in NOT_CONTENT and p not in NOT_CONTENT for t, p in zip(y, pred, strict=True)])
    content = [c for c in labels if c not in NOT_CONTENT]
    no_language = ["en"] * len(y)  # shares only; the language column is not predicted
    shares = {"labels": domain_features(list(y), no_language), "predicted": domain_features(list(pred), no_language)}
    domains = [k for k in shares["labels"] if k.startswith("domain_")]
    return {
        "folds": used_folds, "n": int(len(frame)), "labels": labels,
        "encoder": _encoder_meta(encoder), "objective": objective, "model": model, "rare_rule": rare_rule,
        "accuracy": float(np.mean(pred == y)),
        "macro_f1": float(f1_score(y, pred, labels=labels, average="macro", zero_division=0)),
        "paper_protocol": {
            "kept": int(scored.sum()),
            "macro_f1": float(f1_score(y[scored], pred[scored], labels=content, average="macro", zero_division=0)),
        },
        "per_class": {k: {m: float(report[k][m]) for m in ("precision", "recall", "f1-score", "support")}
                      for k in labels},
        "confusion": confusion_matrix(y, pred, labels=labels).tolist(),
        "majority_baseline_accuracy": float(frame["label"].value_counts(normalize=True).iloc[0]),
        "shares": shares,
        # total variation distance of the predicted domain shares from the labels' (percentage points moved)
        "shares_gap": float(sum(abs(shares["predicted"][k] - shares["labels"][k]) for k in domains) / 2),
    }


def format_cv_report(result: dict) -> str:
    """A Markdown report of :func:`cross_validate`'s result."""
    labels = result["labels"]
    enc = result.get("encoder")
    model = (f"TF-IDF + statistics + cues + encoder {enc['spec']!r} (first {enc['max_tokens']} tokens)" if enc
             else "TF-IDF + statistics + cues")
    if result.get("model", "ridge") == "stack":
        model = f"stack (freegens/stack.py, --model stack) over out-of-fold scores of base models; {model}"
    if enc and result.get("rare_rule", "nn") == "centroid":
        model += ", rare classes by the shrunk class centroid (--rare_rule centroid)"
    if result.get("objective", "shares") == "macro_f1":
        model += ", per-class offsets for macro-F1 chosen by an inner CV of each training fold (--objective macro_f1)"
    lines = [f"Model: {model}.", "",
             f"Stratified {result['folds']}-fold cross-validation on {result['n']} documents: "
             f"accuracy {result['accuracy']:.3f} (majority-class baseline "
             f"{result['majority_baseline_accuracy']:.3f}), macro-F1 {result['macro_f1']:.3f} over all "
             f"{len(labels)} labels; the paper's protocol (incoherent/unknown left out, "
             f"{result['paper_protocol']['kept']} documents kept) macro-F1 {result['paper_protocol']['macro_f1']:.3f}.",
             "",
             "| label | support | precision | recall | F1 |", "|---|---:|---:|---:|---:|"]
    for k in labels:
        p = result["per_class"][k]
        lines.append(f"| {k} | {int(p['support'])} | {p['precision']:.2f} | {p['recall']:.2f} | {p['f1-score']:.2f} |")
    lines += ["", "Confusion matrix (rows: the given label, columns: local prediction):", "",
              "| | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
    for k, row in zip(labels, result["confusion"], strict=True):
        lines.append(f"| {k} | " + " | ".join(str(v) for v in row) + " |")
    shares = result["shares"]
    lines += ["", "Domain shares (% of documents with a content domain, media counted as reference; the "
              "`domain_*_pct_mean` features) of the out-of-fold predictions against the labels:", "",
              "| domain | labels | local model |", "|---|---:|---:|"]
    for key in shares["labels"]:
        if key.startswith("domain_"):
            name = key.removeprefix("domain_").removesuffix("_pct_mean")
            lines.append(f"| {name} | {shares['labels'][key]:.1f} | {shares['predicted'][key]:.1f} |")
    lines += ["", f"Shares gap (total variation: percentage points of documents that would have to change domain): "
              f"{result['shares_gap']:.1f}."]
    return "\n".join(lines)
