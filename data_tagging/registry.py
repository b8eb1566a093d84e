"""The tagger registry: one small class per document feature, registered by name.

A tagger turns a batch of :class:`njsl.documents.Document` into one row of values per document
(``tag``), and a table of those rows into dataset/model-level features (``aggregate``). Adding a
feature means writing one class with ``@register`` — the runner, the CLI, sharding, resuming and
aggregation pick it up.
"""
from __future__ import annotations

import inspect
import math
from typing import Any, ClassVar
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from njsl.documents import Document
from njsl.registry import Registry


class TaggingError(ValueError):
    """A user-caused problem with a tagging request (unknown feature, bad option, mismatched resume)."""


class Tagger:
    """Base class. Subclasses set ``name``, ``columns`` (float values) and optionally ``text_columns``.

    ``__init__`` takes keyword options (the CLI flags of the same name); unknown options are not passed.
    Heavy libraries are imported in ``__init__``, never at module import, so listing taggers stays cheap.
    """

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    columns: ClassVar[tuple[str, ...]] = ()
    text_columns: ClassVar[tuple[str, ...]] = ()  # e.g. a skip reason; never aggregated
    description: ClassVar[str] = ""
    uses_meta: ClassVar[bool] = False  # needs Document.meta (e.g. a file path); else workers get id+text only
    # The paper averaged its parse statistics with np.std (ddof=0) and the rest with pandas' .std() (ddof=1).
    std_ddof: ClassVar[int] = 1
    std_ddof_by_column: ClassVar[dict[str, int]] = {}  # exceptions to ``std_ddof`` for single columns

    def tag(self, docs: Sequence[Document]) -> list[dict[str, Any]]:
        """One dict per document (same order) with keys from ``columns``/``text_columns``; NaN when not defined."""
        raise NotImplementedError

    @classmethod
    def aggregate(cls, per_doc: pd.DataFrame) -> dict[str, float]:
        """Dataset/model-level features: ``<column>_mean`` and ``<column>_std`` over documents with a value."""
        out: dict[str, float] = {}
        for col in cls.columns:
            if col not in per_doc:
                continue
            values = pd.to_numeric(per_doc[col], errors="coerce").dropna()
            if values.empty:
                continue
            ddof = cls.std_ddof_by_column.get(col, cls.std_ddof)
            out[f"{col}_mean"] = float(values.mean())
            out[f"{col}_std"] = float(values.std(ddof=ddof)) if len(values) > ddof else math.nan
        return out


# The built-in taggers register themselves when their module is imported (on the first lookup), so listing
# names never imports a tagger's libraries and the tagger modules can import this one without a cycle.
BUILTIN_TAGGER_MODULES = ("data_tagging.basic", "data_tagging.code_features", "data_tagging.keywords",
                          "data_tagging.parse", "data_tagging.quality")
TAGGERS: Registry[type[Tagger]] = Registry("feature", where="--feature: ", error=TaggingError,
                                           plugins=BUILTIN_TAGGER_MODULES)
#: Why a document got no values from any tagger (an empty text); None for tagged documents.
DOC_SKIP_COLUMN = "doc_skip_reason"

# ``--feature all``: the natural-language features of the paper in one pass. Code features and the
# quality classifier are opt-in (``--feature all,code_features``) because they need code / a model.
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "all": ("char_len", "tokens", "parse", "keyword_ratios"),
    "all_code": ("char_len", "tokens", "code_features"),
}


def register(cls: type[Tagger]) -> type[Tagger]:
    """Class decorator adding a tagger (and its aliases) to the registry; a name used twice is refused."""
    return TAGGERS.add(cls.name, cls, aliases=cls.aliases)


def _load_builtin_taggers() -> None:
    TAGGERS.names()  # imports the built-in tagger modules once


def resolve_features(features: str | Iterable[str]) -> list[str]:
    """Canonical tagger names for a request like ``"all"``, ``"ttr,dep_parse"`` or ``["char_len", ...]``.

    Aliases collapse (``num_tokens``/``unique_tokens``/``ttr`` are one tokenizer pass), order is kept,
    duplicates are dropped.
    """
    items = [features] if isinstance(features, str) else list(features)
    names: list[str] = []
    for item in items:
        for part in str(item).split(","):
            part = part.strip()
            if not part:
                continue
            for name in FEATURE_SETS.get(part, (part,)):
                canonical = TAGGERS.canonical(name)
                if canonical is None:
                    raise TAGGERS.unknown(name, extra=FEATURE_SETS)
                if canonical not in names:
                    names.append(canonical)
    if not names:
        raise TaggingError("--feature: no feature given (e.g. --feature all or --feature char_len,ttr)")
    return names


def tagger_class(name: str) -> type[Tagger]:
    """The tagger class registered as ``name`` (or an alias)."""
    return TAGGERS.get(name)


def _init_options(cls: type[Tagger]) -> list[str]:
    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]


def build_tagger(name: str, options: dict[str, Any]) -> Tagger:
    """Instantiate a tagger with the options its ``__init__`` accepts (one flag set serves all taggers).

    Unset (None) options are left out; an option no tagger accepts is refused with a did-you-mean.
    """
    given = {k: v for k, v in options.items() if v is not None}
    return tagger_class(name)(**TAGGERS.pick_options(name, given, _init_options))


def output_schema(names: Sequence[str]):
    """The Arrow schema of a per-document table: ``id`` then each tagger's columns (fixed across parts)."""
    import pyarrow as pa

    fields = [pa.field("id", pa.string()), pa.field(DOC_SKIP_COLUMN, pa.string())]
    for name in names:
        cls = tagger_class(name)
        fields += [pa.field(c, pa.float64()) for c in cls.columns]
        fields += [pa.field(c, pa.string()) for c in cls.text_columns]
    return pa.schema(fields)


def nan_row(cls: type[Tagger] | Tagger, **text_values: str | None) -> dict[str, Any]:
    """A row with every value NaN (a skipped document), plus text columns such as the skip reason.

    ``cls``: the tagger's class or the tagger itself.
    """
    row: dict[str, Any] = {c: math.nan for c in cls.columns}
    row.update({c: None for c in cls.text_columns})
    row.update(text_values)
    return row


def describe_stats(values: Sequence[float] | np.ndarray, prefix: str, stats: Sequence[str]) -> dict[str, float]:
    """Summary statistics of one document's per-token/per-node values, NaN when there are none."""
    arr = np.asarray(values, dtype=np.float64)
    out: dict[str, float] = {}
    for stat in stats:
        key = f"{prefix}_{stat}"
        if arr.size == 0:
            out[key] = math.nan
        elif stat == "mean":
            out[key] = float(arr.mean())
        elif stat == "median":
            out[key] = float(np.median(arr))
        elif stat == "90p":
            out[key] = float(np.percentile(arr, 90))
        elif stat == "max":
            out[key] = float(arr.max())
        elif stat == "std":
            out[key] = float(arr.std())
        else:
            raise KeyError(stat)
    return out
