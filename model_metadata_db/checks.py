"""Data-quality checks: report problems in the store instead of hiding them.

``check_store(store)`` returns a list of :class:`Finding` (code, severity, count, message, examples, details).
``details`` is a DataFrame where a finding has rows worth inspecting (e.g. every model scored under two names of
one benchmark with both values) so callers — the predictor resolving aliases — can use it directly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .aliases import alias_overlaps, load_aliases, propose_aliases
from .benchmarks import BENCHMARK_ALIASES
from .schema import columns
from .validation import PERCENT_COLUMNS, PERCENT_SUM_LIMIT
from .vocabulary import VOCABULARY

# (alias benchmark, alias metric) -> (canonical benchmark, canonical metric); settings must match.
ALIAS_METRICS: dict[tuple[str, str], tuple[str, str]] = {
    ("arc:challenge", "accuracy"): ("arc_challenge", "accuracy"),
    ("arc:challenge", "acc_norm"): ("arc_challenge", "acc_norm"),
    ("truthfulqa:mc", "mc2"): ("truthfulqa_mc2", "accuracy"),
    ("truthfulqa:mc", "mc1"): ("truthfulqa_mc1", "accuracy"),
}
_PATH_SQL = r"regexp_matches(id, '^(/|~|\.{1,2}/|[A-Za-z]:\\)')"
_HEADER_IDS = ["model_name", "id", "model"]


@dataclass
class Finding:
    code: str
    severity: str            # "error" (wrong data) | "warning" (suspicious or inconsistent) | "info"
    count: int
    message: str
    examples: list[Any] = field(default_factory=list)
    details: pd.DataFrame | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "count": self.count, "message": self.message,
                "examples": self.examples}


def _ids_everywhere(store) -> str:
    return ("(SELECT id, 'model_annotations' AS tbl FROM model_annotations UNION ALL "
            "SELECT DISTINCT id, 'evaluation_results' FROM evaluation_results UNION ALL "
            "SELECT id, 'dataset_info' FROM dataset_info)")


def check_path_ids(store) -> Finding:
    df = store.query(f"SELECT DISTINCT id, tbl FROM {_ids_everywhere(store)} WHERE {_PATH_SQL} ORDER BY id")
    unmapped = sorted(set(df["id"]) - set(load_aliases()))
    n = df["id"].nunique()
    return Finding("path_ids", "error" if unmapped else "warning", n,
                   f"{n} model id(s) are filesystem paths of another machine (in {sorted(set(df['tbl']))}); "
                   f"{n - len(unmapped)} are mapped to model names by metadata/model_aliases.csv, "
                   f"{len(unmapped)} join no annotation", df["id"].unique().tolist()[:5], df)


def check_header_ids(store) -> Finding:
    df = store.query(f"SELECT DISTINCT id, tbl FROM {_ids_everywhere(store)} WHERE list_contains(?, id)",
                     [_HEADER_IDS])
    return Finding("header_ids", "error", df["id"].nunique(),
                   f"{df['id'].nunique()} id(s) are a leaked CSV header (e.g. 'model_name')",
                   df["id"].unique().tolist(), df)


def check_case_duplicates(store) -> Finding:
    df = store.query(f"SELECT lower(id) AS key, list(DISTINCT id ORDER BY id) AS ids FROM {_ids_everywhere(store)} "
                     "GROUP BY key HAVING count(DISTINCT id) > 1 ORDER BY key")
    return Finding("case_duplicate_ids", "warning", len(df),
                   f"{len(df)} model(s) appear under ids differing only in case",
                   [list(ids) for ids in df["ids"]][:5], df)


def check_unannotated(store) -> Finding:
    df = store.query("SELECT id, count(*) AS n_scores FROM evaluation_results WHERE id NOT IN "
                     "(SELECT id FROM model_annotations) GROUP BY id ORDER BY id")
    return Finding("evaluated_without_annotation", "warning", len(df),
                   f"{len(df)} evaluated model id(s) have no model_annotations row (their scores cannot be "
                   "used with design features)", df["id"].tolist()[:5], df)


def check_dataset_info_orphans(store) -> Finding:
    df = store.query("SELECT id FROM dataset_info WHERE id NOT IN (SELECT id FROM model_annotations) ORDER BY id")
    return Finding("dataset_info_without_annotation", "info", len(df),
                   f"{len(df)} dataset_info row(s) have no model_annotations row", df["id"].tolist()[:5], df)


def check_sentinels(store) -> Finding:
    rows = []
    for table in ("model_annotations", "dataset_info", "evaluation_results"):
        for col in columns()[table]:
            if not col.numeric or col.name == "metric_value":
                continue
            n_minus1, n_null = store.query(
                f'SELECT count(*) FILTER (WHERE "{col.name}" = -1), count(*) FILTER (WHERE "{col.name}" IS NULL) '
                f"FROM {table}").iloc[0].tolist()
            if n_minus1:
                rows.append({"table": table, "column": col.name, "minus_one": int(n_minus1), "null": int(n_null)})
    df = pd.DataFrame(rows, columns=["table", "column", "minus_one", "null"])
    total = int(df["minus_one"].sum()) if len(df) else 0
    return Finding("minus_one_as_missing", "warning", total,
                   f"{total} value(s) in {len(df)} numeric column(s) store -1 for 'missing' beside NULL; reads "
                   "return both as NaN", [f"{r.table}.{r.column}: {r.minus_one}× -1, {r.null}× NULL"
                                          for r in df.itertuples()][:6], df)


def benchmark_alias_pairs(store) -> pd.DataFrame:
    """Every (model, setting) scored under both names of one benchmark, with both values and their difference."""
    frames = []
    for (alias, alias_metric), (canon, canon_metric) in ALIAS_METRICS.items():
        df = store.query(
            "SELECT a.id, a.setting, ? AS alias, ? AS canonical, ? AS alias_metric, ? AS canonical_metric, "
            "a.metric_value AS alias_value, b.metric_value AS canonical_value, "
            "abs(a.metric_value - b.metric_value) AS abs_diff FROM evaluation_results a JOIN evaluation_results b "
            "ON a.id = b.id AND a.setting = b.setting WHERE a.benchmark = ? AND a.metric = ? "
            "AND b.benchmark = ? AND b.metric = ?",
            [alias, canon, alias_metric, canon_metric, alias, alias_metric, canon, canon_metric])
        frames.append(df)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return out.sort_values("abs_diff", ascending=False, ignore_index=True)


def check_benchmark_aliases(store) -> Finding:
    pairs = benchmark_alias_pairs(store)
    present = store.query("SELECT DISTINCT benchmark FROM evaluation_results WHERE list_contains(?, benchmark)",
                          [list(BENCHMARK_ALIASES)])["benchmark"].tolist()
    if pairs.empty:
        msg = (f"benchmark(s) {present} are older names of {[BENCHMARK_ALIASES[p] for p in present]}; no model "
               "has both") if present else "no benchmark stored under two names"
        return Finding("benchmark_aliases", "warning" if present else "info", 0, msg, [], pairs)
    worst = pairs.iloc[0]
    n_models = pairs["id"].nunique()
    return Finding(
        "benchmark_aliases", "warning", n_models,
        f"{n_models} model(s) are scored under two names of one benchmark ({', '.join(sorted(set(pairs['alias'])))} "
        f"vs {', '.join(sorted(set(pairs['canonical'])))}); values differ by up to {worst['abs_diff']:.3f} "
        f"({worst['id']}, {worst['alias']} {worst['alias_metric']})",
        [f"{r.id}: {r.alias}={r.alias_value:.3f} {r.canonical}={r.canonical_value:.3f}"
         for r in pairs.head(3).itertuples()], pairs)


def check_mmlu_families(store) -> Finding:
    fam = store.query(
        "SELECT CASE WHEN benchmark LIKE 'hendrycksTest-%' THEN 'hendrycksTest-*' ELSE 'mmlu_*' END AS family, "
        "setting, metric, count(DISTINCT id) AS n_models, count(DISTINCT benchmark) AS n_subjects "
        "FROM evaluation_results WHERE benchmark LIKE 'hendrycksTest-%' OR benchmark LIKE 'mmlu\\_%' ESCAPE '\\' "
        "GROUP BY ALL ORDER BY ALL")
    both = store.query(
        "SELECT count(DISTINCT a.id) AS n, max(abs(a.metric_value - b.metric_value)) AS max_diff "
        "FROM evaluation_results a JOIN evaluation_results b ON a.id = b.id AND a.setting = b.setting "
        "AND a.metric = b.metric AND b.benchmark = 'mmlu_' || substr(a.benchmark, 15) "
        "WHERE a.benchmark LIKE 'hendrycksTest-%'").iloc[0]
    families = sorted(set(fam["family"]))
    n_both = int(both["n"])
    msg = (f"MMLU comes from {len(families)} task families ({', '.join(families)}): "
           + "; ".join(f"{r.family} {r.setting} {r.metric}: {r.n_models} models" for r in fam.itertuples()))
    if n_both:
        msg += f"; {n_both} model(s) have both (subject scores differ by up to {both['max_diff']:.3f})"
    return Finding("mmlu_two_families", "warning" if len(families) > 1 else "info", len(families), msg, [], fam)


def check_vocabulary(store) -> Finding:
    rows = []
    for column, allowed in VOCABULARY.items():
        df = store.query(f'SELECT "{column}" AS value, count(*) AS n, list(id ORDER BY id) AS ids '
                         f'FROM model_annotations WHERE "{column}" IS NOT NULL AND NOT list_contains(?, "{column}") '
                         "GROUP BY value", [list(allowed)])
        for r in df.itertuples():
            rows.append({"column": column, "value": r.value, "n": int(r.n), "ids": list(r.ids)})
    df = pd.DataFrame(rows, columns=["column", "value", "n", "ids"])
    total = int(df["n"].sum()) if len(df) else 0
    return Finding("out_of_vocabulary", "error" if total else "info", total,
                   f"{total} annotation value(s) outside the schema's vocabulary",
                   [f"{r.column}={r.value!r} ({r.n} models, e.g. {r.ids[0]})" for r in df.itertuples()], df)


def check_percentages(store) -> Finding:
    shares = " + ".join(f'greatest(coalesce("{c}", 0), 0)' for c in PERCENT_COLUMNS)
    df = store.query(f"SELECT id, {shares} AS share_sum FROM dataset_info WHERE {shares} > ? ORDER BY share_sum DESC",
                     [100.5])
    bad = df[df["share_sum"] > PERCENT_SUM_LIMIT]
    return Finding("percent_sum_above_100", "error" if len(bad) else ("warning" if len(df) else "info"), len(df),
                   f"{len(df)} dataset_info row(s) have domain shares summing above 100 "
                   f"({len(bad)} above {PERCENT_SUM_LIMIT:g})",
                   [f"{r.id}: {r.share_sum:.2f}" for r in df.head(3).itertuples()], df)


def check_nan_scores(store) -> Finding:
    df = store.query("SELECT benchmark, setting, metric, count(*) AS n, list(id ORDER BY id) AS ids "
                     "FROM evaluation_results WHERE isnan(metric_value) GROUP BY ALL ORDER BY n DESC, benchmark")
    total = int(df["n"].sum()) if len(df) else 0
    return Finding("nan_scores", "warning" if total else "info", total,
                   f"{total} score(s) are NaN ({', '.join(sorted(set(df['metric'])))})" if total else
                   "no NaN scores", [f"{r.benchmark} {r.setting} {r.metric}: {r.n}" for r in df.head(3).itertuples()],
                   df)


def check_flagged_scores(store) -> Finding:
    """Scores excluded from training by default (broken runs, partial evaluations, rows outside a task's
    definition), each with its reason (hygiene.py)."""
    flags = store.flagged_scores()
    by = flags.groupby(["flag", "reason"]).agg(n=("id", "size"), models=("id", "nunique")).reset_index() \
        if len(flags) else pd.DataFrame(columns=["flag", "reason", "n", "models"])
    examples = [f"{r.flag}: {r.n} score(s) of {r.models} model(s): {r.reason}" for r in by.head(6).itertuples()]
    broken = flags[flags["flag"] == "broken_run"]
    return Finding("flagged_scores", "warning" if len(flags) else "info", len(flags),
                   f"{len(flags)} score(s) are excluded from training by default "
                   f"({broken['id'].nunique()} model(s) with broken runs); see details for each reason",
                   examples, flags)


def check_alias_proposals(store) -> Finding:
    """Ids that look like one model under two names and are not yet in metadata/model_aliases.csv."""
    ids = store.query(f"SELECT DISTINCT id FROM {_ids_everywhere(store)}")["id"].tolist()
    df = propose_aliases(ids)
    return Finding("alias_proposals", "warning" if len(df) else "info", len(df),
                   f"{len(df)} id(s) look like another id's alias; review and add them to metadata/model_aliases.csv"
                   if len(df) else "no new alias candidates",
                   [f"{r.alias} -> {r.canonical} ({r.reason})" for r in df.head(5).itertuples()], df)


def check_alias_overlaps(store) -> Finding:
    """Scores a model has under an alias and its canonical id; reads keep the canonical id's value."""
    df = alias_overlaps(store.scores(canonical=False))
    differ = df[(df["alias_value"] - df["value"]).abs() > 1e-6] if len(df) else df
    return Finding("alias_overlaps", "warning" if len(differ) else "info", len(df),
                   f"{len(df)} score(s) exist under an alias and its canonical id ({len(differ)} with different "
                   "values); reads keep the canonical id's value", [
                       f"{r.alias}/{r.benchmark}/{r.metric}: {r.alias_value:.4f} vs {r.value:.4f}"
                       for r in differ.head(3).itertuples()], df)


CHECKS = (check_path_ids, check_header_ids, check_case_duplicates, check_unannotated, check_dataset_info_orphans,
          check_sentinels, check_nan_scores, check_benchmark_aliases, check_mmlu_families, check_vocabulary,
          check_percentages, check_flagged_scores, check_alias_proposals, check_alias_overlaps)


def check_store(store) -> list[Finding]:
    """Run every data-quality check; findings are returned in a fixed order (errors are not raised)."""
    return [check(store) for check in CHECKS]
