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

from njsl.atomic import atomic_path

from .ridge_model import (  # noqa: F401  (re-exported: the names callers and saved models use)
    OBJECTIVES,
    RARE_BELOW,
    RARE_RULES,
    DocStats,
    EncoderFeatures,
    RareClassCues,
    RareClassNeighbours,
    build_pipeline,
    scaled,
)
from .taxonomy import LABELS

MAX_CHARS = 5000  # the opening of a document decides its domain; keeps TF-IDF fast on huge documents


class LabelledDataError(ValueError):
    """The labelled CSV cannot train a classifier (missing column, unknown label, too few examples)."""


class ModelDirError(FileNotFoundError):
    """The model folder is missing or is not a trained domain classifier."""


#: The classifier behind ``--model``: ``ridge`` (:func:`build_pipeline`, the default) or ``stack``
#: (:class:`freegens.stack.StackedDomainModel`: base models' out-of-fold scores combined by a learned meta-classifier).
MODELS = ("ridge", "stack")


def make_model(model: str = "ridge", *, alpha: float = 1.0, seed: int = 0, encoder=None, objective: str = "shares",
               rare_rule: str = "nn", stack: dict | None = None, offset_resamples: int = 0,
               encoder_weights: tuple[float, ...] | None = None, zero_shot: float = 0.0,
               definitions: str = "short", word_vectors=None, word_vectors_weight: float = 1.0):
    """The untrained estimator ``--model`` names; ``stack`` holds :class:`freegens.stack.StackedDomainModel`'s
    other settings (``objective="macro_f1"`` turns its offsets on); ``offset_resamples`` (ridge, macro_f1 only)
    averages the offsets over bootstrap resamples of the inner out-of-fold scores; ``encoder_weights``,
    ``zero_shot`` and ``definitions`` (ridge with an encoder only), ``word_vectors`` and ``word_vectors_weight``
    (ridge only): :func:`build_pipeline`'s."""
    if model not in MODELS:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    if offset_resamples < 0 or (offset_resamples and (objective != "macro_f1" or model != "ridge")):
        raise ValueError(f"--offset_resamples {offset_resamples}: must be >= 0, and > 0 only with --objective "
                         "macro_f1 and --model ridge (it resamples the ridge model's offset choice)")
    if model == "ridge":
        return build_pipeline(alpha=alpha, seed=seed, encoder=encoder, objective=objective, rare_rule=rare_rule,
                              offset_resamples=offset_resamples, encoder_weights=encoder_weights,
                              zero_shot=zero_shot, definitions=definitions, word_vectors=word_vectors,
                              word_vectors_weight=word_vectors_weight)
    if encoder_weights or zero_shot or word_vectors is not None:
        raise ValueError("--encoder_weights, --zero_shot and --word_vectors apply to --model ridge only")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    from .stack import StackedDomainModel

    settings: dict[str, Any] = {"bases": ("tfidf",)} if encoder is None else {}  # no encoder: the TF-IDF block only
    settings.update(stack or {})
    return StackedDomainModel(encoder, alpha=alpha, seed=seed, tune_offsets=objective == "macro_f1", **settings)


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
            stack: dict | None = None, offset_resamples: int = 0, encoder_weights: tuple[float, ...] | None = None,
            zero_shot: float = 0.0, definitions: str = "short", word_vectors=None,
            word_vectors_weight: float = 1.0) -> LocalDomainClassifier:
        """Train on a frame from :func:`load_labelled`; ``encoder`` (a :class:`freegens.encoder.TextEncoder`)
        adds the embedding blocks (its spec is saved; the weights are reloaded from it where the model is loaded);
        ``objective`` is one of :data:`OBJECTIVES` (the chosen offsets are saved in the metadata).
        """
        import sklearn

        pipe = make_model(model, alpha=alpha, seed=seed, encoder=encoder, objective=objective, rare_rule=rare_rule,
                          stack=stack, offset_resamples=offset_resamples, encoder_weights=encoder_weights,
                          zero_shot=zero_shot, definitions=definitions, word_vectors=word_vectors,
                          word_vectors_weight=word_vectors_weight).fit(_prep(frame["text"]), _labels(frame))
        meta = {"labels": sorted(frame["label"].unique()), "n_train": int(len(frame)), "alpha": alpha, "seed": seed,
                "source": source, "sklearn_version": sklearn.__version__, "max_chars": MAX_CHARS,
                "label_counts": {k: int(v) for k, v in frame["label"].value_counts().items()},
                "encoder": _encoder_meta(encoder), "objective": objective, "offsets": _offsets(pipe),
                "model": model, "rare_rule": rare_rule, "offset_resamples": offset_resamples,
                **_prior_meta(encoder_weights, zero_shot, definitions),
                **_word_vectors_meta(word_vectors, word_vectors_weight)}
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
                   stack: dict | None = None, offset_resamples: int = 0,
                   encoder_weights: tuple[float, ...] | None = None, zero_shot: float = 0.0,
                   definitions: str = "short", word_vectors=None, word_vectors_weight: float = 1.0) -> dict:
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
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    used_folds = cv_folds(frame, folds)
    cv = StratifiedKFold(n_splits=used_folds, shuffle=True, random_state=seed)
    y = _labels(frame)
    estimator = make_model(model, alpha=alpha, seed=seed, encoder=encoder, objective=objective, rare_rule=rare_rule,
                           stack=stack, offset_resamples=offset_resamples, encoder_weights=encoder_weights,
                           zero_shot=zero_shot, definitions=definitions, word_vectors=word_vectors,
                           word_vectors_weight=word_vectors_weight)
    pred = np.asarray(cross_val_predict(estimator, _prep(frame["text"]), y, cv=cv), dtype=object)
    return {"folds": used_folds, "n": int(len(frame)), "encoder": _encoder_meta(encoder), "objective": objective,
            "model": model, "rare_rule": rare_rule, "alpha": alpha, "offset_resamples": offset_resamples,
            **_prior_meta(encoder_weights, zero_shot, definitions),
            **_word_vectors_meta(word_vectors, word_vectors_weight), **score_predictions(y, pred)}


def cv_folds(frame: pd.DataFrame, folds: int) -> int:
    """The folds :func:`cross_validate` uses for ``folds`` asked: at most the smallest class's size (stratified
    folds keep every class in every fold), at least 2."""
    return max(2, min(folds, int(frame["label"].value_counts().min())))


def _prior_meta(encoder_weights, zero_shot: float, definitions: str) -> dict:
    """What model.json and a CV result record of ``--encoder_weights``/``--zero_shot``/``--definitions``."""
    return {"encoder_weights": list(encoder_weights) if encoder_weights else None, "zero_shot": zero_shot,
            "definitions": definitions if zero_shot else None}


def _word_vectors_meta(word_vectors, weight: float) -> dict:
    """What model.json and a CV result record of ``--word_vectors``/``--word_vectors_weight``/
    ``--word_vectors_pooling`` (a list of vectors: one ridge model each, scores averaged)."""
    if word_vectors is None:
        return {"word_vectors": None}
    vectors = word_vectors if isinstance(word_vectors, (list, tuple)) else [word_vectors]
    return {"word_vectors": {"spec": vectors[0].spec, "weight": weight,
                             "pooling": "+".join(v.pooling for v in vectors)}}


_POOLING_TEXT = {"mean": "their mean", "pmeans": "their p-means: mean, max, min",
                 "mean+pmeans": "their mean in one ridge model, their p-means (mean, max, min) in a second, the two "
                                "models' scores averaged"}


def _word_vectors_text(spec: str, weight: float, pooling: str) -> str:
    """The CV report's words for the word-vector block(s)."""
    flag = "" if pooling == "mean" else f" --word_vectors_pooling {pooling}"
    return (f", + the static word vectors of spaCy model {spec!r} ({_POOLING_TEXT[pooling]}; weight {weight:g}, "
            f"--word_vectors{flag})")


def score_predictions(y, pred) -> dict:
    """What :func:`cross_validate` reports of out-of-fold predictions ``pred`` against the labels ``y``: accuracy,
    macro-F1 over every label, the paper's protocol, per-class figures, confusion matrix, domain shares and their
    gap (benchmarks score their own out-of-fold predictions with it, so the figures mean the same)."""
    from sklearn.metrics import classification_report, confusion_matrix, f1_score

    from .features import domain_features

    y, pred = np.asarray(y, dtype=object), np.asarray(pred, dtype=object)
    labels = sorted(set(y) | set(pred))
    report = classification_report(y, pred, labels=labels, output_dict=True, zero_division=0)
    scored = np.array([t not in NOT_CONTENT and p not in NOT_CONTENT for t, p in zip(y, pred, strict=True)])
    content = [c for c in labels if c not in NOT_CONTENT]
    no_language = ["en"] * len(y)  # shares only; the language column is not predicted
    shares = {"labels": domain_features(list(y), no_language), "predicted": domain_features(list(pred), no_language)}
    domains = [k for k in shares["labels"] if k.startswith("domain_")]
    return {
        "labels": labels,
        "accuracy": float(np.mean(pred == y)),
        "macro_f1": float(f1_score(y, pred, labels=labels, average="macro", zero_division=0)),
        "paper_protocol": {
            "kept": int(scored.sum()),
            "macro_f1": float(f1_score(y[scored], pred[scored], labels=content, average="macro", zero_division=0)),
        },
        "per_class": {k: {m: float(report[k][m]) for m in ("precision", "recall", "f1-score", "support")}
                      for k in labels},
        "confusion": confusion_matrix(y, pred, labels=labels).tolist(),
        "majority_baseline_accuracy": float(pd.Series(y).value_counts(normalize=True).iloc[0]),
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
    if result.get("alpha", 1.0) != 1.0:
        model += f", ridge alpha {result['alpha']:g}"
    if result.get("encoder_weights"):
        model += f", encoder parts weighted {','.join(f'{w:g}' for w in result['encoder_weights'])} (--encoder_weights)"
    if result.get("zero_shot"):
        model += (f", + {result['zero_shot']:g} × the standardised zero-shot similarities to the "
                  f"{result['definitions']!r} label definitions (--zero_shot)")
    if result.get("word_vectors"):
        wv = result["word_vectors"]
        model += _word_vectors_text(wv["spec"], wv["weight"], wv.get("pooling", "mean"))
    if result.get("objective", "shares") == "macro_f1":
        model += ", per-class offsets for macro-F1 chosen by an inner CV of each training fold (--objective macro_f1)"
    if result.get("offset_resamples"):
        model += (f", averaged over {result['offset_resamples']} bootstrap resamples of its scores "
                  f"(--offset_resamples {result['offset_resamples']})")
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
