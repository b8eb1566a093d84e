"""Length and vocabulary taggers: ``char_len`` and the tokenizer-based ``num_tokens``/``unique_tokens``/``ttr``."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Sequence

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


def load_tokenizer(spec: str = DEFAULT_TOKENIZER) -> Callable[[list[str]], list[list[int | str]]]:
    """A batch tokenizer: ``texts -> token lists``.

    ``whitespace`` (default) is the ``tokenizers`` library's ``Whitespace`` pre-tokenizer (``\\w+|[^\\w\\s]+``):
    built locally, needs no download, language-agnostic. A ``tokenizer.json`` file is loaded with
    ``tokenizers``; anything else goes to ``transformers.AutoTokenizer`` (a folder, or a hub name found in the
    local cache — e.g. ``gpt2``, closer to the paper's BPE counts).
    """
    if spec == "whitespace":
        from tokenizers.pre_tokenizers import Whitespace

        pre = Whitespace()
        return lambda texts: [[piece for piece, _ in pre.pre_tokenize_str(t)] for t in texts]
    path = Path(spec)
    if path.is_file() and path.suffix == ".json":
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(path))
        return lambda texts: [enc.ids for enc in tok.encode_batch(texts, add_special_tokens=False)]
    try:
        from transformers import AutoTokenizer

        hf = AutoTokenizer.from_pretrained(spec)
    except Exception as exc:  # OSError / ValueError / hub errors all mean "cannot load this"
        raise TaggingError(
            f"--tokenizer {spec!r} could not be loaded ({type(exc).__name__}: {str(exc)[:200]}). "
            "Give a local tokenizer folder, a tokenizer.json file, a hub name in the local cache, "
            f"or {DEFAULT_TOKENIZER!r}."
        ) from exc
    # Long documents exceed model_max_length; we only count tokens, so silence that warning's premise.
    hf.model_max_length = int(1e12)
    return lambda texts: hf(texts, add_special_tokens=False)["input_ids"]


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
