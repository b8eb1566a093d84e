"""The planned-model specs of ``njsl predict-model`` as typed models (formats: :mod:`performance_prediction.what_if`).

A YAML spec and a CSV row become the same :class:`PlannedModel` (a CSV row's columns are sorted into its
sections by name), so both are checked by one set of rules; :func:`load_specs` turns a file into the model
table (index ``id``, the store's column names). Every error is one line naming the file, the row or item
(and its id) and the field: ``spec s.csv row 2 (id 'neg'): field 'total_params' must be > 0, got -1.0``.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from .errors import PredictionFileNotFoundError, PredictionInputError
from .features import CATEGORICAL, DATA_FEATURES, NUMERIC_ARCH

TOKENS = "pretraining_summary_total_tokens_billions"
TOP_KEYS = {"id", "total_params", "tokens_billions", "architecture", "data", "pseudo"}
DATA_SHORT = {c.removeprefix("pretraining_summary_percentage_"): c for c in DATA_FEATURES}
REQUIRED_CSV = ("id", "total_params", "tokens_billions")
# shares of the whole mix (english is a share of the text, not a domain); rounding in published mixes
DOMAINS = ("web", "code", "books", "reference", "academic")
SUM_TOLERANCE = 0.5


# ----------------------------------------------------------------------------------------------- field types
def is_missing(value: Any) -> bool:
    """An empty cell: None, NaN or blank text (a CSV's empty column, YAML's ``null``)."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and not value.strip())


def _number(value: Any) -> float:
    try:
        if isinstance(value, bool):
            raise TypeError
        val = float(value)
    except (TypeError, ValueError):
        raise PydanticCustomError("number", "must be a number, got {got}", {"got": repr(value)}) from None
    if not math.isfinite(val):
        raise PydanticCustomError("number", "must be a finite number, got {got}", {"got": repr(value)})
    return val


def _positive(value: float) -> float:
    if not value > 0:
        raise PydanticCustomError("number", "must be > 0, got {got}", {"got": value})
    return value


def _percentage(value: float) -> float:
    if not 0 <= value <= 100:
        raise PydanticCustomError("percentage", "= {got} is not a percentage in [0, 100]", {"got": value})
    return value


Number = Annotated[float, BeforeValidator(_number)]
Positive = Annotated[float, BeforeValidator(_number), AfterValidator(_positive)]
Percentage = Annotated[float, BeforeValidator(_number), AfterValidator(_percentage)]
Category = Annotated[str, BeforeValidator(lambda v: str(v).strip())]


class _Section(BaseModel):
    """Unknown keys are refused; empty cells (None, NaN, blank) count as not given."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _drop_missing(cls, raw: Any) -> Any:
        return {k: v for k, v in raw.items() if not is_missing(v)} if isinstance(raw, dict) else raw

    def given(self) -> dict[str, Any]:
        """The fields given, by name."""
        return self.model_dump(exclude_none=True)


class Architecture(_Section):
    """Architecture decisions, named as in the store's ``model_annotations``."""

    dimension: Positive | None = None
    num_heads: Positive | None = None
    mlp_ratio: Positive | None = None
    sequence_length: Positive | None = None
    activation: Category | None = None
    attention_variant: Category | None = None
    biases: Category | None = None
    block_type: Category | None = None
    layer_norm_type: Category | None = None
    positional_embeddings: Category | None = None


class DataMix(_Section):
    """Percentages of the pretraining data; the store's long names (``pretraining_summary_percentage_code``) too."""

    web: Percentage | None = None
    code: Percentage | None = None
    books: Percentage | None = None
    reference: Percentage | None = None
    academic: Percentage | None = None
    english: Percentage | None = None  # a share of the text, not a domain

    @model_validator(mode="before")
    @classmethod
    def _short_names(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            return raw
        return {(str(k).removeprefix("pretraining_summary_percentage_") if k in DATA_FEATURES else k): v
                for k, v in raw.items()}

    @model_validator(mode="after")
    def _sums_to_at_most_100(self) -> DataMix:
        share = sum(getattr(self, d) or 0.0 for d in DOMAINS)
        if share > 100 + SUM_TOLERANCE:
            raise ValueError(f"data percentages ({'+'.join(DOMAINS)}) sum to {share:.1f} > 100")
        return self


class PlannedModel(_Section):
    """One planned model: its size, optionally its tokens, design decisions and generation features."""

    id: Annotated[str, BeforeValidator(lambda v: str(v).strip())] | None = None
    total_params: Positive
    tokens_billions: Positive | None = None  # unknown: a law in params alone, flagged, wider interval
    architecture: Architecture = Field(default_factory=Architecture)
    data: DataMix = Field(default_factory=DataMix)
    # generation features: checked against the store's names once it is loaded
    pseudo: dict[str, Number] = Field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """The model-table row: the store's column names, only what was given."""
        row: dict[str, Any] = {"total_params": self.total_params}
        if self.tokens_billions is not None:
            row[TOKENS] = self.tokens_billions
        row.update(self.architecture.given())
        row.update({DATA_SHORT[k]: v for k, v in self.data.given().items()})
        row.update(self.pseudo)
        return row


SECTION_KEYS = {"architecture": list(Architecture.model_fields), "data": list(DataMix.model_fields)}


# ----------------------------------------------------------------------------------------------- errors
def _message(exc: ValidationError, where: str) -> str:
    """One line for the first error of a spec: the file, row or item, the field, what was expected."""
    errors = exc.errors()
    top_unknown = [str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden" and len(e["loc"]) == 1]
    if top_unknown:
        return f"{where}: unknown field(s) {', '.join(sorted(top_unknown))}; allowed: {', '.join(sorted(TOP_KEYS))}"
    err = errors[0]
    loc = [str(p) for p in err["loc"]]
    msg = str(err["msg"]).removeprefix("Value error, ")
    section = loc[0] if len(loc) > 1 and loc[0] in SECTION_KEYS else None
    # data keys keep their section in the name (data.code); architecture and pseudo keys are names of their own
    name = ".".join(loc) if section == "data" else (loc[-1] if loc else "")
    kind = err["type"]
    if kind == "extra_forbidden" and section is not None:
        return f"{where}: unknown field '{section}.{loc[-1]}'; allowed: {', '.join(SECTION_KEYS[section])}"
    if kind == "missing":
        return f"{where}: field {name!r} is required"
    if kind == "percentage":
        return f"{where}: {name} {msg}"
    if kind in ("model_type", "dict_type"):
        return f"{where}: field {name!r} must be a mapping"
    if kind == "number":
        return f"{where}: field {name!r} {msg}"
    if kind == "value_error":  # a check across fields (data percentages): its message names them
        return f"{where}: {msg}"
    return f"{where}: field {name!r}: {msg}"


def parse_spec(raw: Any, where: str) -> PlannedModel:
    """One spec (a YAML mapping, or a CSV row sorted into sections) → :class:`PlannedModel`, or a
    :class:`PredictionInputError` naming ``where`` and the field."""
    if not isinstance(raw, dict):
        raise PredictionInputError(f"{where}: expected a mapping with total_params, tokens_billions, ...")
    try:
        return PlannedModel.model_validate(raw)
    except ValidationError as exc:
        raise PredictionInputError(_message(exc, where)) from None


def csv_spec(record: dict[str, Any]) -> dict[str, Any]:
    """A CSV row as a YAML spec: architecture and data columns to their sections, any other column to pseudo."""
    spec: dict[str, Any] = {"architecture": {}, "data": {}, "pseudo": {}}
    for key, value in record.items():
        key = str(key)
        if key in REQUIRED_CSV:
            spec[key] = value
        elif key in (*NUMERIC_ARCH, *CATEGORICAL):
            spec["architecture"][key] = value
        elif key in DATA_SHORT or key in DATA_FEATURES:
            spec["data"][key] = value
        elif not is_missing(value):
            spec["pseudo"][key] = value
    return spec


# ----------------------------------------------------------------------------------------------- files
def _csv_specs(p: Path) -> list[tuple[str, PlannedModel]]:
    try:
        frame = pd.read_csv(p, dtype=object)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise PredictionInputError(f"spec {p} is not a readable CSV: {err}") from err
    missing = [c for c in REQUIRED_CSV if c not in frame.columns]
    if missing:
        raise PredictionInputError(f"spec {p} lacks required column(s) {', '.join(missing)} "
                                   f"(columns: {', '.join(map(str, frame.columns))})")
    if frame.empty:
        raise PredictionInputError(f"spec {p} has no rows")
    out = []
    for i, rec in enumerate(frame.to_dict("records"), start=1):
        mid = rec["id"]
        if is_missing(mid):
            raise PredictionInputError(f"spec {p} row {i}: field 'id' is empty")
        spec = parse_spec(csv_spec(rec), f"spec {p} row {i} (id {mid!r})")
        out.append((str(spec.id), spec))
    return out


def _yaml_specs(p: Path) -> list[tuple[str, PlannedModel]]:
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise PredictionInputError(f"spec {p} is not valid YAML: {err}") from err
    docs = doc.get("models") if isinstance(doc, dict) and "models" in doc else doc
    many = isinstance(docs, list)
    items: list = docs if isinstance(docs, list) else [docs]
    out = []
    for i, d in enumerate(items, start=1):
        given = d.get("id") if isinstance(d, dict) else None
        where = f"spec {p}" + (f" item {i}" if many else "") + (
            f" (id {str(given)!r})" if many and not is_missing(given) else "")
        spec = parse_spec(d, where)
        out.append((spec.id or (f"{p.stem}-{i}" if many else p.stem), spec))
    return out


def load_specs(path: str | Path) -> pd.DataFrame:
    """Validate SPECS (CSV or YAML) and turn it into a model table (index id, store column names)."""
    p = Path(path)
    if not p.is_file():
        raise PredictionFileNotFoundError(f"spec {p} does not exist")
    specs = _csv_specs(p) if p.suffix.lower() == ".csv" else _yaml_specs(p)
    ids = [mid for mid, _ in specs]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise PredictionInputError(f"spec {p}: duplicate id(s) {', '.join(map(repr, dup))}; ids must be unique")
    table = pd.DataFrame([spec.row() for _, spec in specs], index=pd.Index(ids, name="id"))
    if TOKENS not in table:
        table[TOKENS] = float("nan")
    return table
