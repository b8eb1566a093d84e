"""Length and vocabulary taggers: ``char_len`` and the tokenizer-based ``num_tokens``/``unique_tokens``/``ttr``."""
from __future__ import annotations

import math
from typing import Any
from collections.abc import Callable, Sequence

from njsl.documents import Document

from data_tagging.registry import Tagger, TaggingError, register

DEFAULT_TOKENIZER = "whitespace"


@register
class CharLen(Tagger):
    name = "char_len"
    columns = ("char_len",)
    description = "number of characters (Unicode code points) of the document"

    def tag(self, docs: Sequence[Document]) -> list[dict[str, Any]]:
        return [{"char_len": float(len(d.text))} for d in docs]


def load_tokenizer(spec: str = DEFAULT_TOKENIZER) -> Callable[[Sequence[str]], Sequence[Sequence[int | str]]]:
    """A batch tokenizer: ``texts -> token lists``.

    ``whitespace`` (default) is the ``tokenizers`` library's ``Whitespace`` pre-tokenizer (``\\w+|[^\\w\\s]+``):
    built locally, needs no download, language-agnostic. Anything else is loaded by the project's one tokenizer
    loader, :func:`tokenization.tokenizer.load_tokenizer` (a ``tokenizer.json`` file, a local HF folder, a hub name
    in the local cache — e.g. ``gpt2``, closer to the paper's BPE counts —, a sentencepiece ``.model``, or a
    k-mer vocabulary name).
    """
    if spec == "whitespace":
        from tokenizers.pre_tokenizers import Whitespace

        pre = Whitespace()
        return lambda texts: [[piece for piece, _ in pre.pre_tokenize_str(t)] for t in texts]
    from tokenization.tokenizer import load_tokenizer as load_text_tokenizer

    try:
        return load_text_tokenizer(spec).encode_batch
    except Exception as exc:  # TokenizerError / OSError / hub errors all mean "cannot load this"
        raise TaggingError(
            f"--tokenizer {spec!r} could not be loaded ({type(exc).__name__}: {str(exc)[:200]}). "
            "Give a local tokenizer folder, a tokenizer.json file, a hub name in the local cache, "
            f"or {DEFAULT_TOKENIZER!r}."
        ) from exc


@register
class TokenCounts(Tagger):
    """One tokenizer pass gives the three token features (asking for any of them gives all three)."""

    name = "tokens"
    aliases = ("num_tokens", "unique_tokens", "ttr")
    columns = ("num_tokens", "unique_tokens", "ttr")
    description = "token count, distinct tokens and type-token ratio under --tokenizer (default: whitespace)"

    def __init__(self, tokenizer: str = DEFAULT_TOKENIZER) -> None:
        self.tokenize = load_tokenizer(tokenizer)

    def tag(self, docs: Sequence[Document]) -> list[dict[str, Any]]:
        rows = []
        for tokens in self.tokenize([d.text for d in docs]):
            n, u = len(tokens), len(set(tokens))
            rows.append({"num_tokens": float(n), "unique_tokens": float(u), "ttr": u / n if n else math.nan})
        return rows
