"""The paper's ``AnalysisStore`` API (``metadata/duckdb/model_metadata_db.py`` of the paper's repository) on ours.

Same member names and arguments; every import goes through our validation and conflict policy. Where the
paper's code fails on the release (its queries name ``accuracy``/``accuracy_stderr`` columns the release's
``evaluation_results`` no longer has; ``transform_to_wide_format`` pivots one benchmark measured in two settings),
ours works; the README lists each difference.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any
from collections.abc import Mapping

import pandas as pd

from njsl.units import number_or_same

from .aliases import canonical_id, load_aliases
from .conflicts import Incoming, Plan, compare, plan_rows
from .errors import StoreError
from .importers.common import read_json
from .importers.csv_files import _cell, _model_id, read_csv_rows, rows_by_table, score_rows_from_frame
from .importers.lm_eval import model_id_from_results, rows_from_lm_eval
from .importers.metadata_records import failure_message, parse_records, write_parsed
from .schema import KEYS, TABLES, columns
from .validation import validate_row, validate_score_rows

# Facts of the paper's class, taken over as data (same names): metric aliases, stderr suffixes and the
# default settings its import_scores_from_json_dir used for records without a shot level.
METRIC_MAPPING: dict[str, str] = {
    "acc": "accuracy", "exact_match": "accuracy", "accuracy": "accuracy", "perplexity": "perplexity",
    "ppl": "perplexity", "brier_score": "brier_score", "f1": "f1", "rouge1": "rouge1", "rouge2": "rouge2",
    "rougeL": "rougeL", "pass@1,create_test": "accuracy",
}
STDERR_SUFFIXES: tuple[str, ...] = ("_stderr", "_std", "_stddev", "_error", "_stderr,none", "_stderr,strict-match")
BENCHMARK_DEFAULTS: dict[str, str] = {
    "arc_challenge": "25-shot", "hellaswag": "10-shot", "mmlu": "5-shot", "truthfulqa": "0-shot",
    "winogrande": "5-shot", "lambada": "0-shot", "drop": "3-shot", "gsm8k": "5-shot", "arithmetic": "5-shot",
    "minerva": "5-shot", "mathqa": "0-shot", "xnli": "0-shot", "anli": "0-shot", "logiqa2": "0-shot",
    "fld": "0-shot", "asdiv": "5-shot",
}
# The columns the paper's get_analysis_data/transform_to_wide_format keep per model.
WIDE_FEATURES = ("id", "dimension", "num_heads", "mlp_ratio", "layer_norm_type", "positional_embeddings",
                 "attention_variant", "biases", "block_type", "activation", "sequence_length", "batch_instances",
                 "batch_tokens", "weight_tying", "is_instruction_tuned", "is_preference_tuned", "total_params",
                 "pretraining_summary_total_tokens_billions", "pretraining_summary_percentage_web",
                 "pretraining_summary_percentage_code", "pretraining_summary_percentage_books")



class PaperAPI:
    """Members of the paper's ``AnalysisStore``, implemented on our store (mixed into :class:`AnalysisStore`)."""

    METRIC_MAPPING = METRIC_MAPPING
    STDERR_SUFFIXES = list(STDERR_SUFFIXES)
    BENCHMARK_DEFAULTS = BENCHMARK_DEFAULTS

    # ------------------------------------------------------------------ schema / inspection
    def setup_schema(self) -> None:
        """Create the tables that are missing (the paper's version drops and recreates them; ours never drops)."""
        self._migrate()

    def verify_data(self) -> dict[str, int]:
        """Print each table's row count and first rows (as the paper's does); returns the counts."""
        counts = {}
        print("\nData Verification:")
        for table in ("model_annotations", "evaluation_results", "dataset_info"):
            counts[table] = int(self.query(f"SELECT count(*) AS n FROM {table}")["n"].iloc[0])
            print(f"\n{table} count: {counts[table]}")
            print("\nSample data:")
            print(self.query(f"SELECT * FROM {table} LIMIT 3"))
        return counts

    def get_model_profile(self, model_id: str) -> dict[str, pd.DataFrame]:
        """``model_features``, ``dataset_features`` and ``benchmark_scores`` of one model (canonical id)."""
        model_id = canonical_id(model_id)
        ann = self.annotations()
        info = self.dataset_info()
        scores = self.scores(ids=[model_id])
        return {"model_features": ann[ann["id"] == model_id].reset_index(drop=True),
                "dataset_features": info[info["id"] == model_id].reset_index(drop=True),
                "benchmark_scores": scores[["benchmark", "setting", "metric", "metric_value", "metric_stderr"]]
                .sort_values(["benchmark", "setting"], kind="stable", ignore_index=True)}

    def get_analysis_data(self, format: str = "long") -> pd.DataFrame:  # noqa: A002 (the paper's argument name)
        """Models ⟕ dataset_info ⟕ accuracy scores: the paper's long frame (``accuracy``/``accuracy_stderr`` are
        the ``accuracy`` metric's value/stderr), or ``format="wide"`` via :meth:`transform_to_wide_format`."""
        if format not in ("long", "wide"):
            raise StoreError(f"format must be 'long' or 'wide', got {format!r}")
        ann = self.annotations()
        info = self.dataset_info()[["id", *WIDE_FEATURES[-4:]]]
        acc = self.scores(metric="accuracy").rename(columns={"metric_value": "accuracy",
                                                             "metric_stderr": "accuracy_stderr"})
        df = ann.merge(info, on="id", how="left").merge(
            acc[["id", "benchmark", "setting", "accuracy", "accuracy_stderr"]], on="id", how="left")
        return self.transform_to_wide_format(df) if format == "wide" else df

    @staticmethod
    def transform_to_wide_format(df: pd.DataFrame) -> pd.DataFrame:
        """One row per model: the paper's feature columns, then ``<benchmark>_acc`` and ``<benchmark>_acc_stderr``.

        A benchmark present in more than one setting gets ``<benchmark>_<setting>_acc`` columns instead (the
        paper's pivot raises on it: the release has mmlu subjects at 0- and 5-shot).
        """
        missing = [c for c in (*WIDE_FEATURES, "benchmark", "setting", "accuracy", "accuracy_stderr")
                   if c not in df.columns]
        if missing:
            raise StoreError(f"transform_to_wide_format: columns {missing} are missing; pass get_analysis_data()")
        features = df[list(WIDE_FEATURES)].drop_duplicates("id")
        data = df[["id", "benchmark", "setting", "accuracy", "accuracy_stderr"]].dropna(subset=["benchmark"]).copy()
        multi = data.groupby("benchmark")["setting"].nunique()
        multi = set(multi[multi > 1].index)
        pairs = zip(data["benchmark"], data["setting"], strict=True)
        data["name"] = [f"{b}_{s}" if b in multi else b for b, s in pairs]
        acc = data.pivot(index="id", columns="name", values="accuracy")
        acc.columns = [f"{c}_acc".rstrip("_") for c in acc.columns]
        err = data.pivot(index="id", columns="name", values="accuracy_stderr")
        err.columns = [f"{c}_acc_stderr".rstrip("_") for c in err.columns]
        out = features.merge(acc.reset_index(), on="id", how="left")
        return out.merge(err.reset_index(), on="id", how="left")

    @classmethod
    def extract_metrics(cls, data: Mapping[str, Any], exclude_keys: list[str] | tuple[str, ...] = ()) -> dict:
        """``{metric: {"value": v, "stderr": s}}`` from one task's metric dict (lm-eval or record layout).

        As the paper's: ``,none``/``,strict-match`` filter suffixes dropped, ``flexible`` filters and
        ``timestamp`` skipped, numeric strings read as numbers, names mapped by ``METRIC_MAPPING`` and each
        metric's stderr found by ``STDERR_SUFFIXES``.
        """
        cleaned = {str(k).replace(",none", "").replace(",strict-match", ""): v for k, v in data.items()}
        cleaned = {k: v for k, v in cleaned.items() if "flexible" not in k}
        out: dict[str, dict[str, Any]] = {}
        for key, value in cleaned.items():
            if key == "timestamp" or key in exclude_keys or not isinstance(value, (int, float, str)):
                continue
            if any(suffix in key for suffix in cls.STDERR_SUFFIXES):
                continue
            stderr = next((number_or_same(cleaned[key + s]) for s in cls.STDERR_SUFFIXES if key + s in cleaned), None)
            out[cls.METRIC_MAPPING.get(key, key)] = {"value": number_or_same(value), "stderr": stderr}
        return out

    # ------------------------------------------------------------------ imports
    def _import_batch(self, batch, source: str, on_conflict: str):
        return self.apply(batch, on_conflict=on_conflict, source=source)

    def import_model_features_from_csv(self, csv_path: str, *, on_conflict: str = "error"):
        """Import a model-features CSV (the paper's ``model.csv`` layout); returns the :class:`ImportReport`."""
        return self._import_batch(rows_by_table("models", csv_path), str(csv_path), on_conflict)

    def import_dataset_features_from_csv(self, csv_path: str, *, on_conflict: str = "error"):
        """Import a dataset-features CSV (the paper's ``dataset.csv`` layout)."""
        return self._import_batch(rows_by_table("datasets", csv_path), str(csv_path), on_conflict)

    def import_scores_from_csv(self, csv_path: str, *, on_conflict: str = "error", assume_shots: int | None = None):
        """Import a wide scores CSV (the paper's ``scores.csv`` layout: ``<bench>_<N>-shot_<metric>`` columns)."""
        return self._import_batch(rows_by_table("scores", csv_path, assume_shots=assume_shots), str(csv_path),
                                  on_conflict)

    def import_scores_from_lm_eval_json(self, json_path: str, excludes: list[str] | tuple[str, ...] = (),
                                        alternate_name_map: Mapping[str, str] | None = None, *,
                                        on_conflict: str = "error"):
        """Import one lm-eval results file; tasks in ``excludes`` are skipped and ``alternate_name_map`` renames
        the model id (as in the paper's, which mapped checkpoint folders to model names)."""

        data = read_json(json_path)
        if isinstance(data, dict) and isinstance(data.get("results"), dict):
            data = {**data, "results": {t: m for t, m in data["results"].items() if t not in set(excludes)}}
        raw = model_id_from_results(data) if isinstance(data, dict) else None
        if raw is not None and alternate_name_map:
            raw = alternate_name_map.get(raw, alternate_name_map.get(raw.rstrip("/") + "/", raw))
        rows, notes = rows_from_lm_eval(data, raw, source=str(json_path))
        report = self._import_batch({"evaluation_results": [Incoming(r, str(json_path))
                                                            for r in validate_score_rows(rows)]},
                                    str(json_path), on_conflict)
        report.warnings = notes + report.warnings
        return report

    def import_scores_from_json_dir(self, json_dir: str, benchmark_defaults: Mapping[str, str] | None = None, *,
                                    on_conflict: str = "error", continue_on_error: bool = False):
        """Import every score record (``model_scores`` layout) in ``json_dir`` in one transaction.

        ``benchmark_defaults`` (task-name prefix -> ``"N-shot"``) gives the setting of tasks recorded without one;
        ``None`` refuses such records (the paper's defaults are ``AnalysisStore.BENCHMARK_DEFAULTS``).
        """
        folder = Path(json_dir)
        if not folder.is_dir():
            raise StoreError(f"{folder}: not a folder of score records")
        files = [("scores", p) for p in sorted(folder.glob("*.json"))]
        if not files:
            raise StoreError(f"{folder}: no *.json score records")
        parsed, failed = parse_records(files, assume_shots=benchmark_defaults, progress=False)
        if failed and not continue_on_error:
            raise StoreError(failure_message(failed, len(files)))
        report = write_parsed(self, parsed, on_conflict=on_conflict)
        report.errors += [f["reason"] for f in failed]
        return report

    def verify_scores(self) -> dict[str, pd.DataFrame]:
        """Print (and return) a sample of accuracy scores and of other metrics, as the paper's did."""
        acc = self.query("SELECT id, benchmark, setting, metric_value AS accuracy, metric_stderr AS accuracy_stderr "
                         "FROM evaluation_results WHERE metric = 'accuracy' LIMIT 5")
        other = self.query("SELECT id, benchmark, setting, metric, metric_value FROM evaluation_results "
                           "WHERE metric IN ('brier_score', 'perplexity') LIMIT 5")
        print("\nScore import verification:\n\nSample of scores with accuracy:")
        print(acc)
        print("\nSample of scores with other metrics:")
        print(other)
        return {"accuracy": acc, "other_metrics": other}

    # ------------------------------------------------------------------ conflicts
    def safe_import_scores(self, scores_df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Compare a wide scores frame (``id`` + ``<bench>_<N>-shot_<metric>`` columns) with the store, writing
        nothing: (rows with new keys, conflicts with the stored values beyond rounding)."""
        items = score_rows_from_frame(scores_df)
        plan = Plan()
        stored = self._stored_rows("evaluation_results", items)
        plan_rows("evaluation_results", items, stored, "keep", plan)
        new = [i.row for i in items if (i.row["id"], i.row["benchmark"], i.row["setting"], i.row["metric"])
               not in stored]
        return pd.DataFrame(new), plan.diff()

    def import_scores_safely(self, scores_df: pd.DataFrame, auto_resolve: bool = False,
                             resolution_strategy: str = "newer"):
        """Import a wide scores frame: new scores are inserted; conflicts are kept as stored unless
        ``auto_resolve``, then ``newer`` (the imported values are the newer ones) or ``larger``/``smaller``
        replaces them and ``older`` keeps them. The paper's asked on stdin without ``auto_resolve``; ours keeps."""
        if resolution_strategy not in ("newer", "older", "larger", "smaller"):
            raise StoreError("resolution_strategy must be newer, older, larger or smaller, "
                             f"got {resolution_strategy!r}")
        items = score_rows_from_frame(scores_df)
        if not auto_resolve or resolution_strategy == "older":
            return self.apply({"evaluation_results": items}, on_conflict="keep", source="import_scores_safely")
        if resolution_strategy == "newer":
            return self.apply({"evaluation_results": items}, on_conflict="replace", source="import_scores_safely")
        stored = self._stored_rows("evaluation_results", items)
        better = max if resolution_strategy == "larger" else min
        chosen = []
        for item in items:
            old = stored.get((item.row["id"], item.row["benchmark"], item.row["setting"], item.row["metric"]))
            if old is None or better(old["metric_value"], item.row["metric_value"]) == item.row["metric_value"]:
                chosen.append(item)
        report = self.apply({"evaluation_results": chosen}, on_conflict="replace", source="import_scores_safely")
        report.counts["refused"] += len(items) - len(chosen)
        return report

    def check_for_conflicts(self) -> pd.DataFrame:
        """Scores stored more than once for one model: the same (benchmark, setting, metric) under ids that are
        one model (alias table) with values differing beyond rounding. Columns: id, benchmark, setting, metric,
        occurrence_count, ids, values."""
        aliases = load_aliases()
        raw = self.scores(canonical=False)
        raw = raw.assign(canonical=raw["id"].map(lambda i: aliases.get(i, i)))
        keys = ["canonical", "benchmark", "setting", "metric"]
        multi = raw[raw.duplicated(keys, keep=False)]
        rows = []
        for key, group in multi.groupby(keys, sort=True):
            values = group["metric_value"].tolist()
            if compare(min(values), max(values), sentinel=False) == "conflict":  # the import's rounding rule
                rows.append({"id": key[0], "benchmark": key[1], "setting": key[2], "metric": key[3],
                             "occurrence_count": len(group), "ids": group["id"].tolist(), "values": values})
        return pd.DataFrame(rows, columns=["id", "benchmark", "setting", "metric", "occurrence_count", "ids",
                                           "values"])

    def resolve_conflicts(self, conflicts_df: pd.DataFrame, resolution: str = "newer"):
        """Settle the conflicts of :meth:`check_for_conflicts`: keep the ``larger`` or ``smaller`` value under the
        canonical id and remove the alias rows of those keys (one transaction). ``newer``/``older`` need
        timestamps, which the release does not keep: they are refused."""
        if resolution not in ("newer", "older", "larger", "smaller"):
            raise StoreError(f"resolution must be newer, older, larger or smaller, got {resolution!r}")
        if resolution in ("newer", "older"):
            raise StoreError(f"resolution {resolution!r} needs the time of each value; the store keeps none. "
                             "Use 'larger' or 'smaller', or re-import the newer file with on_conflict='replace'")
        need = {"id", "benchmark", "setting", "metric", "ids", "values"}
        if not need <= set(conflicts_df.columns):
            raise StoreError(f"conflicts_df needs columns {sorted(need)} (the frame check_for_conflicts returns)")
        items = []
        raw = self.scores(canonical=False)
        with self.transaction() as con:
            for r in conflicts_df.itertuples(index=False):
                pick = max if resolution == "larger" else min
                i = r.values.index(pick(r.values))
                src = raw[(raw["id"] == r.ids[i]) & (raw["benchmark"] == r.benchmark) & (raw["setting"] == r.setting)
                          & (raw["metric"] == r.metric)].iloc[0]
                for other in r.ids:
                    if other != r.id:
                        con.execute("DELETE FROM evaluation_results WHERE id = ? AND benchmark = ? AND setting = ? "
                                    "AND metric = ?", [other, r.benchmark, r.setting, r.metric])
                row = {"id": r.id, "benchmark": r.benchmark, "setting": r.setting, "metric": r.metric,
                       "metric_value": float(src["metric_value"]),
                       "metric_stderr": None if pd.isna(src["metric_stderr"]) else float(src["metric_stderr"])}
                items.append(Incoming(row, f"resolve_conflicts({resolution})"))
            return self.apply({"evaluation_results": items}, on_conflict="replace",
                              source=f"resolve_conflicts({resolution})")

    # ------------------------------------------------------------------ saving
    def preview_changes(self, temp_db_path: str = ":memory:") -> dict[str, pd.DataFrame]:
        """Rows that differ between this store and the store/export at ``temp_db_path``, per table (column
        ``change``: only_here / only_there). ``":memory:"`` or a missing path: nothing to compare, ``{}``."""
        if temp_db_path == ":memory:" or not Path(temp_db_path).exists():
            print("No previous database found. Skipping comparison.")
            return {}
        with type(self).from_existing(temp_db_path) as other:
            changes = {}
            for table in TABLES[:3]:
                mine = self.query(f"SELECT * FROM {table}")
                theirs = other.query(f"SELECT * FROM {table}")
                both = mine.astype(str).merge(theirs.astype(str), how="outer", indicator="change")
                both = both[both["change"] != "both"]
                both["change"] = both["change"].map({"left_only": "only_here", "right_only": "only_there"})
                changes[table] = both.reset_index(drop=True)
        return changes

    def save_database(self, output_path: str, preview: bool = True) -> None:
        """Write the store as an ``EXPORT DATABASE`` folder (``njsl db export``). ``preview`` prints each table's
        row count first; it does not ask for confirmation (the paper's asked on stdin). Errors raise."""
        if preview:
            print("\nDatabase contents:")
            for table, n in self.counts().items():
                print(f"- {table}: {n}")
        self.export(output_path, overwrite=False)
        print(f"\nDatabase saved successfully to {output_path}")


def update_specific_columns(store, csv_path: str, columns_to_update: list[str], table: str = "model_annotations",
                            *, on_conflict: str = "replace"):
    """Update only ``columns_to_update`` of ``table`` from a CSV keyed on ``id`` (other columns are kept).

    The paper's version overwrote these columns; ours does the same (``on_conflict="replace"``) but reports
    every replaced value, and an empty cell keeps the stored value (as the paper's COALESCE did)."""
    if table not in ("model_annotations", "dataset_info"):
        raise StoreError(f"update_specific_columns: table must be model_annotations or dataset_info, got {table!r}")
    header, rows = read_csv_rows(csv_path)
    types = {c.name: c.type for c in columns()[table]}
    bad = [c for c in columns_to_update if c not in types or c in KEYS[table]]
    if bad or "id" not in header:
        raise StoreError(f"{csv_path}: columns {bad} are not updatable columns of {table}" if bad
                         else f"{csv_path}: no 'id' column")
    absent = [c for c in columns_to_update if c not in header]
    if absent:
        raise StoreError(f"{csv_path}: column(s) {absent} are not in the CSV")
    items = []
    for n, raw in enumerate(rows, start=2):
        where = f"{csv_path} line {n}"
        row = {"id": _model_id(raw["id"], where)}
        row.update({c: _cell(raw[c], types[c], f"{where} column {c!r}") for c in columns_to_update})
        items.append(Incoming(validate_row(table, row), str(csv_path)))
    return store.apply({table: items}, on_conflict=on_conflict, source=str(csv_path))
