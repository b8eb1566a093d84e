"""Load what the predictor needs from the store: one row per model (features) and one target per task.

Reads through ``model_metadata_db.AnalysisStore`` (a ``.duckdb`` file or an ``EXPORT DATABASE`` folder such as
the shared release). The store returns the release's -1 sentinels as NaN, so -1 never reaches a model as a
number. Features written to the store's ``features`` table (kind ``model``) are pseudo features; a pseudo-features
CSV (the paper's generation features) is merged with them by :func:`merge_store_and_csv_features` (the store wins).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import PredictionFileNotFoundError, PredictionInputError
from .features import CATEGORICAL, DATA_FEATURES, NUMERIC_ARCH, OPTIONAL_ARCH, SCALING
from .tasks import MIN_MODELS, TaskSpec, build_targets, mmlu_subjects, paper_tasks, resolve_aliases

_log = logging.getLogger(__name__)

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "model_annotations": ("id", "total_params", "is_instruction_tuned", *NUMERIC_ARCH, *CATEGORICAL),
    "dataset_info": ("id", "pretraining_summary_total_tokens_billions", *DATA_FEATURES),
    "evaluation_results": ("id", "benchmark", "setting", "metric", "metric_value"),
}


@dataclass
class PredictionData:
    """Everything a cross-validation run needs; pure data, no store handle."""

    models: pd.DataFrame                  # index id; raw feature columns (scaling, arch, data, pseudo)
    targets: pd.DataFrame                 # task, id, value, n_parts
    tasks: list[TaskSpec]
    metric: str
    pseudo_features: list[str] = field(default_factory=list)
    alias_conflicts: pd.DataFrame = field(default_factory=pd.DataFrame)
    skipped_tasks: dict[str, str] = field(default_factory=dict)   # task -> reason

    def task_frame(self, task: str) -> tuple[pd.DataFrame, np.ndarray]:
        """Feature rows (index id) and target values of one task, models sorted by id (deterministic)."""
        t = self.targets[self.targets["task"] == task].set_index("id")["value"]
        ids = sorted(set(t.index) & set(self.models.index))
        return self.models.loc[ids], t.loc[ids].to_numpy(dtype=float)

    @property
    def task_names(self) -> list[str]:
        return [t.name for t in self.tasks]


def open_store(db_path: str | Path):
    """Open the store at ``db_path`` (``.duckdb`` file or export folder) with a clear error when absent."""
    from model_metadata_db import AnalysisStore

    path = Path(db_path)
    if not path.exists():
        raise PredictionFileNotFoundError(
            f"--db_path {path} does not exist; give a .duckdb file or an EXPORT DATABASE folder "
            "(e.g. ../shared/data/paper_db_2025_03_03)")
    if path.is_file():
        # inspect read-only first: a file lacking tables/columns gets a clear error and stays untouched
        # (opening it through the store would add the missing pieces empty)
        import duckdb

        try:
            con = duckdb.connect(str(path), read_only=True)
        except duckdb.Error as err:
            raise PredictionInputError(f"--db_path {path} is not a readable DuckDB database: {err}") from err
        try:
            _check_columns(con.execute("SELECT table_name, column_name FROM information_schema.columns").df())
        finally:
            con.close()
    return AnalysisStore.from_existing(path)


def check_tables(store) -> None:
    """Fail with the missing table/column named (and how to fix it) before any modelling starts."""
    _check_columns(store.query("SELECT table_name, column_name FROM information_schema.columns"))
    for table in REQUIRED_COLUMNS:
        n = int(store.query(f"SELECT count(*) AS n FROM {table}")["n"].iloc[0])
        if n == 0:
            fix = ("import evaluations (`njsl db add-eval` / `njsl db import`)" if table == "evaluation_results"
                   else "import the paper's release or add models (`njsl db import`, `njsl db add-model`)")
            raise PredictionInputError(f"table {table!r} in the database is empty; {fix}")


def _check_columns(have: pd.DataFrame) -> None:
    cols: dict[str, set[str]] = {}
    for table, col in have.itertuples(index=False):
        cols.setdefault(table, set()).add(col)
    for table, needed in REQUIRED_COLUMNS.items():
        if table not in cols:
            raise PredictionInputError(
                f"the database has no table {table!r}; the predictor needs model_annotations, dataset_info and "
                "evaluation_results (import the paper's release with `njsl db import` or check --db_path)")
        missing = [c for c in needed if c not in cols[table]]
        if missing:
            raise PredictionInputError(
                f"table {table!r} lacks column(s) {', '.join(missing)}; add them (nullable) with "
                "`njsl db check`/`njsl db import`, or use a store created by model_metadata_db")


def load_pseudo_features(csv_path: str | Path) -> pd.DataFrame:
    """The paper's generation ('pseudo') features: a CSV keyed on ``id``; duplicate ids keep the first row."""
    path = Path(csv_path)
    if not path.is_file():
        raise PredictionFileNotFoundError(f"--pseudo_feats_csv {path} does not exist; give the CSV of "
                                          "generation features (e.g. njsl.paths.generation_features_csv())")
    frame = pd.read_csv(path)
    if "id" not in frame.columns:
        raise PredictionInputError(
            f"--pseudo_feats_csv {path} has no 'id' column (columns: {', '.join(map(str, frame.columns[:6]))}...); "
            "add a column named 'id' holding the model ids as in the store")
    frame = frame.drop_duplicates(subset="id", keep="first").set_index("id")
    numeric = frame.apply(pd.to_numeric, errors="coerce")
    # a column that is entirely non-numeric carries no signal for the regressor; drop it rather than guess
    numeric = numeric.loc[:, numeric.notna().any()]
    return numeric.astype("float64")


def merge_store_and_csv_features(models: pd.DataFrame, csv: pd.DataFrame) -> pd.DataFrame:
    """The one merge rule for pseudo features: per model and feature, the store's value where it has one,
    else the CSV's. Columns only in the CSV are joined on ``id``; what was filled and overridden is logged.

    A new model's features (written to the store by the taggers) therefore survive ``--pseudo_feats_csv``, and
    the paper's values fill in for the models the store has none for.
    """
    shared = [c for c in csv.columns if c in models.columns]
    out = models.join(csv[[c for c in csv.columns if c not in models.columns]], how="left")
    aligned = csv.reindex(models.index)
    kept = filled = 0
    for col in shared:
        store_has = models[col].notna()
        csv_has = aligned[col].notna()
        kept += int((store_has & csv_has).sum())
        filled += int((~store_has & csv_has).sum())
        out[col] = models[col].where(store_has, aligned[col])
    # A warning when the store overrides CSV values, so it shows without any logging setup (Python prints
    # warnings to stderr by default); otherwise an info line.
    level = logging.WARNING if kept else logging.INFO
    _log.log(level, "pseudo features: %d column(s) from the CSV only, %d in both; %d value(s) filled from the CSV, "
             "%d kept from the store where both had one (store wins)",
             len(csv.columns) - len(shared), len(shared), filled, kept)
    return out


def load_data(db_path: str | Path | None = None, *, store=None, metric: str = "accuracy",
              merge_mmlu: bool = True, merge_arithmetic: bool = False, drop_instruction_tuned: bool = False,
              pseudo_feats_csv: str | Path | None = None, sel_tasks: list[str] | None = None,
              min_models: int = MIN_MODELS, use_store_features: bool = True) -> PredictionData:
    """Load models and targets for ``metric`` from the store at ``db_path`` (or an open ``store``).

    Models need both scaling features (params and tokens, positive); tasks with fewer than ``min_models``
    such models are skipped with the reason recorded (an explicitly selected one is an error).
    """
    models, scores = _read_store(db_path, store, metric)
    pseudo = _store_pseudo_features(models, _KNOWN) if use_store_features else []
    if pseudo_feats_csv:
        models, pseudo = _merge_pseudo_csv(models, pseudo, pseudo_feats_csv)
    params = pd.to_numeric(models["total_params"], errors="coerce")
    tokens = pd.to_numeric(models["pretraining_summary_total_tokens_billions"], errors="coerce")
    keep = (params > 0) & (tokens > 0)
    if drop_instruction_tuned:
        keep &= models["is_instruction_tuned"].astype("boolean").fillna(False) == False  # noqa: E712
    models = models[keep].copy()
    scores, conflicts = resolve_aliases(scores)
    tasks = _paper_tasks(scores, metric, merge_mmlu, merge_arithmetic, sel_tasks)
    targets = build_targets(scores, tasks)
    targets = targets[targets["id"].isin(models.index)]
    kept, skipped = _tasks_with_enough_models(targets, tasks, metric, min_models, explicit=bool(sel_tasks))
    targets = targets[targets["task"].isin([t.name for t in kept])].reset_index(drop=True)
    return PredictionData(models=models, targets=targets, tasks=kept, metric=metric, pseudo_features=pseudo,
                          alias_conflicts=conflicts, skipped_tasks=skipped)


_KNOWN = set(SCALING) | set(NUMERIC_ARCH) | set(CATEGORICAL) | set(DATA_FEATURES)


def _merge_pseudo_csv(models: pd.DataFrame, pseudo: list[str], csv_path) -> tuple[pd.DataFrame, list[str]]:
    """``models`` with the CSV's generation features merged in (the store wins), and the pseudo-feature names."""
    extra = load_pseudo_features(csv_path)
    extra = extra[[c for c in extra.columns if c not in _KNOWN]]
    return merge_store_and_csv_features(models, extra), pseudo + [c for c in extra.columns if c not in pseudo]


def with_pseudo_features(data: PredictionData, csv_path: str | Path) -> PredictionData:
    """``data`` with a pseudo-feature CSV merged into its models (as ``load_data(pseudo_feats_csv=...)`` would do),
    without reading the store again."""
    models, pseudo = _merge_pseudo_csv(data.models, list(data.pseudo_features), csv_path)
    return replace(data, models=models, pseudo_features=pseudo)


def _read_store(db_path: str | Path | None, store, metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(models with their features, indexed by id; training scores of ``metric``) from an open store or a path."""
    own = store is None
    if own:
        if db_path is None:
            raise PredictionInputError("give the store: --db_path PATH")
        store = open_store(db_path)
    try:
        check_tables(store)
        # canonical ids (metadata/model_aliases.csv); flagged and partial scores are left out by the store
        return store.models_with_features().set_index("id"), store.training_scores(metric=metric)
    finally:
        if own:
            store.close()


def _store_pseudo_features(models: pd.DataFrame, known: set[str]) -> list[str]:
    """Features written to the store (kind "model") are pseudo features; the store prefixes clashing names."""
    not_features = {"batch_instances", "batch_tokens", "num_layers", "num_kv_heads", "vocab_size", "ffn_hidden_size",
                    "total_params", *OPTIONAL_ARCH}
    return [c for c in models.columns if c not in known and pd.api.types.is_float_dtype(models[c])
            and c not in not_features and models[c].notna().any()]


def _paper_tasks(scores: pd.DataFrame, metric: str, merge_mmlu: bool, merge_arithmetic: bool,
                 sel_tasks: list[str] | None) -> list:
    """The paper's tasks of ``metric`` (only ``sel_tasks`` when given; an unknown one is an error)."""
    subjects = mmlu_subjects(scores) if not merge_mmlu else None
    tasks = paper_tasks(metric, merge_mmlu=merge_mmlu, merge_arithmetic=merge_arithmetic, mmlu_subjects=subjects)
    if not sel_tasks:
        return tasks
    unknown = [t for t in sel_tasks if t not in {x.name for x in tasks}]
    if unknown:
        raise PredictionInputError(
            f"--sel_tasks: unknown task(s) {', '.join(unknown)} for metric {metric!r}; "
            f"choose from {', '.join(x.name for x in tasks)}")
    return [t for t in tasks if t.name in sel_tasks]


def _tasks_with_enough_models(targets: pd.DataFrame, tasks: list, metric: str, min_models: int,
                              explicit: bool) -> tuple[list, dict[str, str]]:
    """(tasks with >= ``min_models`` scored models, {skipped task: why}); an error when none is left, or
    when a task the user selected (``explicit``) is too small."""
    counts = targets.groupby("task")["id"].nunique()
    kept, skipped = [], {}
    for task in tasks:
        n = int(counts.get(task.name, 0))
        if n < min_models:
            skipped[task.name] = f"only {n} models with a score and params/tokens (needs >= {min_models})"
        else:
            kept.append(task)
    if explicit and skipped:
        raise PredictionInputError(
            "too few models for " + "; ".join(f"task {k!r}: {v}" for k, v in skipped.items())
            + ". Add evaluations to the store, or pass --min_models with a smaller number (results get noisy)")
    if not kept:
        raise PredictionInputError(
            f"no task has >= {min_models} models for metric {metric!r}; import evaluations "
            "(`njsl db add-eval`) or check --metric/--db_path")
    return kept, skipped
