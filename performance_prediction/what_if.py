"""``njsl predict-model SPEC.yaml``: predicted scores of a planned model, with conformal intervals.

SPEC.yaml (validated on load; unknown fields are errors naming the field)::

    id: my-1b-code-heavy            # optional label
    total_params: 1.1e9             # required
    tokens_billions: 100            # required (pretraining tokens, billions)
    architecture: {dimension: 2048, num_heads: 16, mlp_ratio: 4, sequence_length: 2048,
                   activation: swiglu, attention_variant: gqa, biases: none, block_type: sequential,
                   layer_norm_type: rmsnorm, positional_embeddings: rope}
    data: {web: 60, code: 30, books: 5, reference: 3, academic: 2, english: 95}   # percentages
    pseudo: {question_words_ratio: 0.01}       # optional generation features

For every task of the chosen metrics the predictor is fit on all models of the store, and the interval is
prediction +/- the conformal quantile of family-grouped out-of-fold residuals (see ``conformal.py``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from .errors import PredictionFileNotFoundError, PredictionInputError
from .features import CATEGORICAL, DATA_FEATURES, NUMERIC_ARCH
from njsl.cli import guarded

TOP_KEYS = {"id", "total_params", "tokens_billions", "architecture", "data", "pseudo"}
DATA_SHORT = {c.removeprefix("pretraining_summary_percentage_"): c for c in DATA_FEATURES}
COMPOSITION = ("web", "code", "books", "reference", "academic")


def _number(value: Any, field: str) -> float:
    try:
        return float(value)  # YAML 1.1 reads 1e9 as a string
    except (TypeError, ValueError):
        raise ValueError(f"field {field!r} must be a number, got {value!r}") from None


def _positive(value: Any, field: str) -> float:
    val = _number(value, field)
    if not val > 0:
        raise ValueError(f"field {field!r} must be > 0, got {val}")
    return val


class WhatIfSpec(BaseModel):
    """A planned model: scale, architecture decisions, data composition (percentages), generation features."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    total_params: float
    tokens_billions: float
    architecture: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)
    pseudo: dict[str, Any] = Field(default_factory=dict)

    @field_validator("id", mode="before")
    @classmethod
    def _label(cls, v: Any) -> Any:
        return None if v is None else str(v)

    @field_validator("total_params", "tokens_billions", mode="before")
    @classmethod
    def _scale(cls, v: Any, info: ValidationInfo) -> float:
        return _positive(v, str(info.field_name))

    @field_validator("architecture", "data", "pseudo", mode="before")
    @classmethod
    def _mapping(cls, v: Any, info: ValidationInfo) -> dict:
        if v is None:
            return {}
        if not isinstance(v, dict):
            what = "a mapping of percentages" if info.field_name == "data" else "a mapping"
            raise ValueError(f"field {info.field_name!r} must be {what}")
        return v

    @field_validator("architecture")
    @classmethod
    def _architecture(cls, arch: dict) -> dict:
        out: dict[str, Any] = {}
        for k, v in arch.items():
            if k in NUMERIC_ARCH:
                out[k] = _positive(v, f"architecture.{k}")
            elif k in CATEGORICAL:
                out[k] = str(v)
            else:
                raise ValueError(f"unknown field 'architecture.{k}'; allowed: {', '.join(NUMERIC_ARCH + CATEGORICAL)}")
        return out

    @field_validator("data")
    @classmethod
    def _data(cls, data: dict) -> dict:
        out: dict[str, float] = {}
        for k, v in data.items():
            col = DATA_SHORT.get(k, k if k in DATA_FEATURES else None)
            if col is None:
                raise ValueError(f"unknown field 'data.{k}'; allowed: {', '.join(DATA_SHORT)}")
            val = _number(v, f"data.{k}")
            if not 0 <= val <= 100:
                raise ValueError(f"data.{k} = {val} is not a percentage in [0, 100]")
            out[col] = val
        share = sum(out.get(DATA_SHORT[k], 0.0) for k in COMPOSITION)
        if share > 105:
            raise ValueError(f"data percentages (web+code+books+reference+academic) sum to {share:.1f} > 100")
        return out

    @field_validator("pseudo")
    @classmethod
    def _pseudo(cls, pseudo: dict) -> dict:
        return {str(k): _number(v, f"pseudo.{k}") for k, v in pseudo.items()}

    def row(self) -> dict[str, Any]:
        """The model-table row (store column names)."""
        return {"total_params": self.total_params, "pretraining_summary_total_tokens_billions": self.tokens_billions,
                **self.architecture, **self.data, **self.pseudo}


def _spec_error(error: Any) -> str:
    loc = ".".join(str(p) for p in error.get("loc", ()))
    if error["type"] == "extra_forbidden":
        return f"unknown field(s) {loc}; allowed: {', '.join(sorted(TOP_KEYS))}"
    if error["type"] == "missing":
        return f"field {loc!r} is required"
    if error["type"] == "model_type":
        return "expected a mapping with total_params, tokens_billions, ..."
    ctx = error.get("ctx", {}).get("error")
    return str(ctx) if ctx is not None else f"field {loc!r}: {error['msg']}"


def load_spec(path: str | Path) -> pd.DataFrame:
    """Validate SPEC.yaml (:class:`WhatIfSpec`) and turn it into a one-row model table (store column names)."""
    p = Path(path)
    if not p.is_file():
        raise PredictionFileNotFoundError(f"spec {p} does not exist")
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise PredictionInputError(f"spec {p} is not valid YAML: {err}") from err
    try:
        spec = WhatIfSpec.model_validate(doc)
    except ValidationError as exc:
        raise PredictionInputError(f"spec {p}: {_spec_error(exc.errors()[0])}") from None
    return pd.DataFrame([spec.row()], index=pd.Index([spec.id or p.stem], name="id"))


def predict_models(data, models: pd.DataFrame, half_widths: pd.Series, cfg, predictor: str = "xgb_all",
                   alpha: float = 0.1, only_unscored: bool = True) -> pd.DataFrame:
    """Predicted score and (1-alpha) conformal interval of every row of ``models`` on every task of ``data``.

    Per task, ``predictor`` is fit once on all models scored on it (``data.task_frame``) and predicts all of
    ``models`` at once; the interval is prediction +/- ``half_widths[task]`` (``conformal.interval_half_widths``
    of cross-validation residuals). With ``only_unscored`` a model scored on the task is skipped for it (its
    measured score is known). Columns: id, metric, task, predicted, lower, upper, interval, n_train_models.
    """
    from .evaluate import predictor_params
    from .families import families
    from .predictors import make_predictor

    upper = 1.0 if data.metric == "accuracy" else 2.0
    rows = []
    for task in data.task_names:
        X, y = data.task_frame(task)
        todo = models[~models.index.isin(X.index)] if only_unscored else models
        if todo.empty:
            continue
        est = make_predictor(predictor, **predictor_params(predictor, data.metric, cfg.seeds[0], cfg,
                                                           data.pseudo_features))
        est.fit(X, y, groups=families(X.index))
        raw = np.asarray(est.predict(todo.reindex(columns=X.columns)), dtype=float)
        h = float(half_widths.get(task, np.nan))
        # Tree ensembles and the log-linear fit can step outside the metric's range; a score cannot.
        pred, lo, hi = (np.clip(v, 0.0, upper) for v in (raw, raw - h, raw + h))
        for mid, p, low, up in zip(todo.index, pred, lo, hi, strict=False):
            rows.append({"id": mid, "metric": data.metric, "task": task, "predicted": float(p), "lower": float(low),
                         "upper": float(up), "interval": f"{1 - alpha:.0%}", "n_train_models": len(y)})
    return pd.DataFrame(rows, columns=["id", "metric", "task", "predicted", "lower", "upper", "interval",
                                       "n_train_models"])


def predict_model(spec: pd.DataFrame, db_path: str, metrics=("accuracy", "brier_score"), predictor: str = "xgb_all",
                  alpha: float = 0.1, seeds=(42,), grid="fast", max_bin: int = 32, pseudo_feats_csv=None,
                  residuals_csv: str | None = None, n_jobs: int = 0, progress: bool = True) -> pd.DataFrame:
    """Predicted score and (1-alpha) interval per task for the planned model(s) in ``spec``."""
    from .conformal import interval_half_widths
    from .data import load_data
    from .evaluate import CVConfig, run_cv

    frames = []
    for metric in metrics:
        data = load_data(db_path, metric=metric, merge_mmlu=True, pseudo_feats_csv=pseudo_feats_csv)
        unknown = [c for c in spec.columns if c not in data.models.columns]
        if unknown:
            raise PredictionInputError(f"spec: unknown feature(s) {', '.join(unknown)} (pseudo features must be "
                                       "named as in --pseudo_feats_csv or the store's features table)")
        cfg = CVConfig(predictors=(predictor,), schemes=("family",), seeds=tuple(seeds), grid=grid, max_bin=max_bin,
                       n_jobs=n_jobs, progress=progress)
        if residuals_csv:
            preds = pd.read_csv(residuals_csv)
            need = {"task", "scheme", "predictor", "y_true", "y_pred"}
            if not need <= set(preds.columns):
                raise PredictionInputError(f"--residuals_csv {residuals_csv} lacks column(s) "
                                           f"{', '.join(sorted(need - set(preds.columns)))}; give a report's "
                                           "predictions.csv")
            if "metric" in preds.columns:
                preds = preds[preds["metric"] == metric]
        else:
            preds = run_cv(data, cfg).predictions
        q = interval_half_widths(preds, predictor, "family", alpha)
        # a planned model is predicted on every task, even if its id happens to be scored in the store
        frames.append(predict_models(data, spec, q, cfg, predictor, alpha, only_unscored=False))
    return pd.concat(frames, ignore_index=True)


@guarded
def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    from njsl.paths import paper_release_dir

    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", help="YAML file describing the planned model")
    parser.add_argument("--db_path", default=None, help="store (default: the shared paper release)")
    parser.add_argument("--metrics", nargs="+", choices=["accuracy", "brier_score"], default=["accuracy",
                                                                                              "brier_score"])
    parser.add_argument("--predictor", default="xgb_all")
    parser.add_argument("--alpha", type=float, default=0.1, help="1 - coverage of the interval")
    parser.add_argument("--pseudo_feats_csv", default=None)
    parser.add_argument("--residuals_csv", default=None,
                        help="predictions.csv of a report (reuses its family-CV residuals instead of running CV)")
    parser.add_argument("--output", default=None, help="also write the table as CSV")
    parser.add_argument("--n_jobs", type=int, default=0)
    args = parser.parse_args(argv)
    if not 0 < args.alpha < 1:
        raise PredictionInputError(f"--alpha must be in (0, 1), got {args.alpha}")
    spec = load_spec(args.spec)
    table = predict_model(spec, args.db_path or str(paper_release_dir()), metrics=args.metrics,
                          predictor=args.predictor, alpha=args.alpha, pseudo_feats_csv=args.pseudo_feats_csv,
                          residuals_csv=args.residuals_csv, n_jobs=args.n_jobs)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if args.output:
        from njsl.atomic import atomic_open

        with atomic_open(args.output) as fh:
            table.to_csv(fh, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
