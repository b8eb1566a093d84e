"""Feature groups and the fold-local encoder.

Groups follow the paper: *scaling* = log(total params), log(pretraining tokens); *architecture* = numeric
decisions and categorical decisions; *data* = pretraining composition; *pseudo* = features of free generations.
Column names are the store's (``total_params`` holds log params once encoded), so ``--sel_features`` takes
the paper's names.

``FeatureEncoder`` is fit on a training fold only: categories seen in the fold get codes 0..k-1; a category
unseen in the fold, or missing, becomes NaN, which XGBoost treats as missing (learned default direction).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from .errors import PredictionInputError

SCALING: tuple[str, ...] = ("total_params", "pretraining_summary_total_tokens_billions")
NUMERIC_ARCH: tuple[str, ...] = ("dimension", "num_heads", "mlp_ratio", "sequence_length")
CATEGORICAL: tuple[str, ...] = ("activation", "attention_variant", "biases", "block_type", "layer_norm_type",
                                "positional_embeddings")
DATA_FEATURES: tuple[str, ...] = (
    "pretraining_summary_percentage_web", "pretraining_summary_percentage_code",
    "pretraining_summary_percentage_books", "pretraining_summary_percentage_reference",
    "pretraining_summary_percentage_academic", "pretraining_summary_percentage_english")
# the paper's non_scaling_laws predictor also drops these size-like decisions
SIZE_LIKE: tuple[str, ...] = ("dimension", "sequence_length", "num_heads")
# store columns the paper's release lacks (mixture of experts, HELM): selectable with --sel_features, e.g.
# active_params in place of total_params for MoE models; not in the paper's feature sets
OPTIONAL_ARCH: tuple[str, ...] = ("active_params", "num_experts", "moe_top_k", "training_loss", "helm_alpha")
LOG_FEATURES = (*SCALING, "active_params")


def feature_set(kind: str, pseudo: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Columns of a named feature set: ``scaling``, ``all``, ``non_scaling`` (paper), ``scaling_data``."""
    if kind == "scaling":
        return list(SCALING)
    if kind == "all":
        return [*SCALING, *NUMERIC_ARCH, *DATA_FEATURES, *pseudo, *CATEGORICAL]
    if kind == "non_scaling":
        return [c for c in feature_set("all", pseudo) if c not in SCALING and c not in SIZE_LIKE]
    if kind == "scaling_data":
        return [*SCALING, *DATA_FEATURES]
    raise ValueError(f"unknown feature set {kind!r}; choose scaling, all, non_scaling or scaling_data")


def check_features(selected: list[str], available: list[str] | pd.Index) -> None:
    """``--sel_features`` must name known columns; the error lists close matches and the valid names."""
    unknown = [f for f in selected if f not in set(available) and f != "id"]
    if unknown:
        import difflib

        hints = []
        for f in unknown:
            close = difflib.get_close_matches(f, list(available), n=1)
            hints.append(f"{f!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise PredictionInputError(
            f"--sel_features: unknown feature(s) {', '.join(hints)}; valid names: {', '.join(available)}")


class FeatureEncoder(BaseEstimator, TransformerMixin):
    """DataFrame of raw model columns -> float32 matrix; fit on the training fold only.

    Scaling columns are log-transformed (stateless); categoricals are ordinal codes of the categories seen in
    ``fit``; anything missing or unseen is NaN.
    """

    def __init__(self, columns: list[str] | None = None):
        self.columns = columns

    def fit(self, X: pd.DataFrame, y=None):
        self.columns_ = list(self.columns if self.columns is not None else X.columns)
        missing = [c for c in self.columns_ if c not in X.columns]
        if missing:
            raise PredictionInputError(f"features {', '.join(missing)} are not in the model table; "
                                       "check --sel_features / the pseudo-features CSV")
        self.categories_: dict[str, list[str]] = {}
        for col in self.columns_:
            if col in CATEGORICAL or not _is_numeric(X[col]):
                values = X[col].dropna().astype(str)
                self.categories_[col] = sorted(values.unique())
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(X), len(self.columns_)), dtype=np.float32)
        for j, col in enumerate(self.columns_):
            if col in self.categories_:
                codes = {c: i for i, c in enumerate(self.categories_[col])}
                vals = X[col].map(lambda v, codes=codes: codes.get(str(v), np.nan) if pd.notna(v) else np.nan)
                out[:, j] = vals.to_numpy(dtype=float)
            else:
                vals = pd.to_numeric(X[col], errors="coerce").to_numpy(dtype=float)
                if col in LOG_FEATURES:
                    with np.errstate(divide="ignore", invalid="ignore"):
                        vals = np.where(vals > 0, np.log(vals), np.nan)
                out[:, j] = vals
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.asarray(self.columns_, dtype=object)


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
