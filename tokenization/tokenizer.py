"""Tokenizers for pretraining data: load any HF tokenizer or a sentencepiece model; train a new one.

``load_tokenizer(spec)`` accepts a Hugging Face name, a local HF folder, a ``tokenizer.json`` file, or a
sentencepiece ``.model`` file, and returns a :class:`TextTokenizer` exposing only what preprocessing needs
(batched encoding, vocabulary size, end-of-document id). It is rebuilt inside each worker process from
:meth:`TextTokenizer.worker_payload`, so nothing unpicklable crosses process boundaries.

``train_tokenizer`` trains a byte-level BPE (default: code keeps its newlines and indentation, no unknown
bytes) or a unigram model with Hugging Face ``tokenizers`` (or sentencepiece), and saves a folder that
``transformers.AutoTokenizer.from_pretrained`` loads, with eos/bos/pad/unk special tokens.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from njsl.atomic import atomic_path
from tokenization.kmer import build_kmer_tokenizer, is_kmer_name
from tokenization.special_tokens import BOS, EOS, PAD, SPECIAL_TOKENS, UNK

__all__ = ["BOS", "EOS", "PAD", "UNK", "SPECIAL_TOKENS", "TextTokenizer", "TokenizerError", "load_tokenizer",
           "train_tokenizer", "encoder_from_payload"]


class TokenizerError(ValueError):
    """A tokenizer cannot be loaded, lacks a needed special token, or training options are invalid."""


def _offline() -> bool:
    return any(os.environ.get(v, "") not in ("", "0") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))


@dataclass
class TextTokenizer:
    """A loaded tokenizer: ``encode_batch`` (no special tokens added), ``vocab_size``, ``eod_id``.

    ``spec`` is what the user passed (recorded in manifests).
    """

    spec: str
    kind: str  # "hf" | "sentencepiece"
    vocab_size: int
    eod_id: int | None
    _impl: Any = None  # the sentencepiece processor or the HF tokenizer

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, without BOS/EOS (the caller appends the end-of-document id)."""
        if self.kind == "sentencepiece":
            return self._impl.encode(list(texts))
        backend = getattr(self._impl, "backend_tokenizer", None)
        if backend is not None:  # fast path: one Rust call for the whole batch
            return _batch_ids(backend, texts)
        return self._impl(list(texts), add_special_tokens=False)["input_ids"]

    def worker_payload(self) -> tuple[str, str]:
        """What a worker process needs to rebuild this tokenizer cheaply (no ``transformers`` import):
        the fast tokenizer's JSON, the sentencepiece model path, or the original spec as a fallback."""
        if self.kind == "sentencepiece":
            return ("sentencepiece", self.spec)
        backend = getattr(self._impl, "backend_tokenizer", None)
        if backend is not None:
            return ("tokenizers-json", backend.to_str())
        return ("spec", self.spec)


def _batch_ids(backend, texts: Sequence[str]) -> list[list[int]]:
    """Ids of a batch via ``tokenizers``; ``encode_batch_fast`` (tokenizers >= 0.20) skips the character offsets
    nobody here needs, which makes it about twice as fast; the ids are the same."""
    encode = getattr(backend, "encode_batch_fast", None) or backend.encode_batch
    return [e.ids for e in encode(list(texts), add_special_tokens=False)]


def encoder_from_payload(payload: tuple[str, str]):
    """A function ``texts -> list of id lists`` (no special tokens) from :meth:`TextTokenizer.worker_payload`."""
    kind, value = payload
    if kind == "tokenizers-json":
        from tokenizers import Tokenizer

        backend = Tokenizer.from_str(value)
        return lambda texts: _batch_ids(backend, texts)
    if kind == "sentencepiece":
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=value)
        return lambda texts: sp.encode(list(texts))
    return load_tokenizer(value).encode_batch


def load_tokenizer(spec: str | os.PathLike) -> TextTokenizer:
    """Load ``spec``: an HF hub name or folder, a ``tokenizer.json`` file, or a sentencepiece ``.model`` file.

    Offline (``HF_HUB_OFFLINE=1``) only local files and the local HF cache are used.
    """
    spec = str(spec)
    if is_kmer_name(spec):  # nuc, 3mer, 6mer, 3mer-rna...: a built-in fixed vocabulary
        return _wrap_hf(spec, build_kmer_tokenizer(spec))
    path = Path(spec)
    if path.suffix == ".model" and path.is_file():
        import sentencepiece as spm

        sp = spm.SentencePieceProcessor(model_file=str(path))
        eod = sp.eos_id()
        return TextTokenizer(spec, "sentencepiece", sp.get_piece_size(), eod if eod >= 0 else None, sp)
    if path.suffix == ".json" and path.is_file():
        from transformers import PreTrainedTokenizerFast

        tok = PreTrainedTokenizerFast(tokenizer_file=str(path))
        eos = next((t for t in (EOS, "</s>", "<eos>", "<|eos|>")
                    if tok.convert_tokens_to_ids(t) not in (None, tok.unk_token_id)), None)
        if eos is not None:
            tok.eos_token = eos
        return _wrap_hf(spec, tok)
    if path.suffix in (".model", ".json") and not path.exists():
        raise TokenizerError(f"tokenizer file not found: {spec}")
    plain = _plain_tokenizers_folder(path)
    if plain is not None:
        return plain
    from transformers import AutoTokenizer

    try:
        auto: Any = AutoTokenizer.from_pretrained(spec, local_files_only=_offline() or path.is_dir())
    except (OSError, ValueError) as exc:
        hint = (" (offline: HF_HUB_OFFLINE is set, so only local folders and the local HF cache work)"
                if _offline() else "")
        raise TokenizerError(
            f"cannot load tokenizer {spec!r}{hint}: {exc}. Pass an HF name, a local tokenizer folder, "
            "a tokenizer.json, or a sentencepiece .model file (train one with 'njsl tokenizer train')."
        ) from exc
    return _wrap_hf(spec, auto)


class _BackendOnly:
    """Holds a ``tokenizers.Tokenizer`` where ``TextTokenizer`` expects an HF tokenizer's ``backend_tokenizer``."""

    def __init__(self, backend):
        self.backend_tokenizer = backend


# Folders whose tokenizer.json is the whole tokenizer (what train_tokenizer writes): no Python-side behaviour.
_PLAIN_CLASSES = {None, "PreTrainedTokenizerFast", "TokenizersBackend"}


def _plain_tokenizers_folder(path: Path) -> TextTokenizer | None:
    """Load a plain HF tokenizer folder with ``tokenizers`` alone: same ids, without importing ``transformers``
    (seconds of start-up that dominate short runs). None when the folder needs ``transformers``."""
    import json

    cfg_path, tok_path = path / "tokenizer_config.json", path / "tokenizer.json"
    if not (path.is_dir() and cfg_path.is_file() and tok_path.is_file()):
        return None
    try:
        cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    if cfg.get("tokenizer_class") not in _PLAIN_CLASSES:
        return None
    from tokenizers import Tokenizer

    backend = Tokenizer.from_file(str(tok_path))
    eos = cfg.get("eos_token")
    eos = eos.get("content") if isinstance(eos, dict) else eos
    eod = backend.token_to_id(eos) if eos else None
    return TextTokenizer(str(path), "hf", backend.get_vocab_size(with_added_tokens=True), eod, _BackendOnly(backend))


def _wrap_hf(spec: str, tok) -> TextTokenizer:
    # len(tok) counts added special tokens too; ids can reach len(tok) - 1, which decides the dtype.
    return TextTokenizer(spec, "hf", len(tok), tok.eos_token_id, tok)


# ----------------------------------------------------------------------------------------------- training
def _text_batches(inputs: Iterable[str | os.PathLike], text_column: str, limit: int | None,
                  batch_size: int = 1000) -> Iterator[list[str]]:
    from njsl.documents import iter_documents

    remaining = limit
    batch: list[str] = []
    for inp in inputs:
        for doc in iter_documents(Path(inp), text_column=text_column, limit=remaining):
            batch.append(doc.text)
            if remaining is not None:
                remaining -= 1
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if remaining is not None and remaining <= 0:
            break
    if batch:
        yield batch


def train_tokenizer(
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    *,
    vocab_size: int,
    type: str = "bpe",
    backend: str = "tokenizers",
    text_column: str = "text",
    limit: int | None = None,
    min_frequency: int = 2,
    show_progress: bool = False,
) -> Path:
    """Train a tokenizer on documents from ``inputs`` and save it in HF format under ``output``.

    ``type`` is ``bpe`` (byte-level BPE, GPT-2 style) or ``unigram``; ``backend`` is ``tokenizers`` or, for
    unigram, ``sentencepiece`` (its model is converted to HF ``tokenizers`` and the ``.model`` kept beside it).
    The folder is written atomically; returns its path.
    """
    if type not in ("bpe", "unigram"):
        raise TokenizerError(f"--type must be bpe or unigram, got {type!r}")
    if backend not in ("tokenizers", "sentencepiece"):
        raise TokenizerError(f"--backend must be tokenizers or sentencepiece, got {backend!r}")
    if backend == "sentencepiece" and type != "unigram":
        raise TokenizerError("--backend sentencepiece trains --type unigram only (use the default backend for BPE)")
    if not isinstance(vocab_size, int) or vocab_size < 300:
        raise TokenizerError(f"--vocab_size must be an integer >= 300 (256 bytes + special tokens), got {vocab_size!r}")
    for inp in inputs:
        if not Path(inp).exists():
            raise FileNotFoundError(f"--input not found: {inp}")
    output = Path(output)
    with atomic_path(output) as tmp:
        tmp.mkdir(parents=True)
        if backend == "sentencepiece":
            tok = _train_sentencepiece(inputs, tmp, vocab_size, text_column, limit)
        else:
            tok = _train_hf(inputs, vocab_size, type, text_column, limit, min_frequency, show_progress)
        _save_hf(tok, tmp)
    return output


def _train_hf(inputs, vocab_size, type, text_column, limit, min_frequency, show_progress):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    # Byte-level pre-tokenization for both model types: every byte is representable, so newlines,
    # tabs and indentation in code survive a round trip and nothing maps to <unk>.
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if type == "bpe":
        tok = Tokenizer(models.BPE())
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIAL_TOKENS,
                                      initial_alphabet=alphabet, show_progress=show_progress)
    else:
        tok = Tokenizer(models.Unigram())
        trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, unk_token=UNK,
                                          initial_alphabet=alphabet, show_progress=show_progress)
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(_text_batches(inputs, text_column, limit), trainer=trainer)
    if tok.get_vocab_size() == 0:
        raise TokenizerError("no text found in --input (all documents empty?)")
    return tok


def _train_sentencepiece(inputs, folder: Path, vocab_size, text_column, limit):
    import sentencepiece as spm
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    def sentences():
        for batch in _text_batches(inputs, text_column, limit):
            yield from batch

    prefix = folder / "spm"
    # ids 0..3 are the same special tokens as the tokenizers backend; identity normalisation and byte
    # fallback keep every character (code whitespace included), which also makes the HF conversion exact.
    spm.SentencePieceTrainer.train(
        sentence_iterator=sentences(), model_prefix=str(prefix), vocab_size=vocab_size, model_type="unigram",
        byte_fallback=True, remove_extra_whitespaces=False, normalization_rule_name="identity",
        split_digits=True, hard_vocab_limit=False, allow_whitespace_only_pieces=True,
        eos_id=0, eos_piece=EOS, bos_id=1, bos_piece=BOS, pad_id=2, pad_piece=PAD, unk_id=3, unk_piece=UNK,
        minloglevel=2,
    )
    sp = spm.SentencePieceProcessor(model_file=str(prefix) + ".model")
    vocab = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]
    # The same conversion transformers' SpmConverter does, without needing protobuf.
    tok = Tokenizer(models.Unigram(vocab, unk_id=sp.unk_id(), byte_fallback=True))
    tok.normalizer = normalizers.Replace(Regex(" "), "\u2581")
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    return tok


def _save_hf(tok, folder: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=BOS, pad_token=PAD, unk_token=UNK,
                                   model_max_length=1_000_000_000)
    fast.save_pretrained(str(folder))
