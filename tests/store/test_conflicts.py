"""The conflict policy: no import replaces a stored value silently; every import ends with its counts."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from model_metadata_db import AnalysisStore, ConflictError, StoreError
from model_metadata_db.cli import main as db_main
from model_metadata_db.conflicts import REL_TOL, compare
from model_metadata_db.importers import import_lm_eval_results
from model_metadata_db.importers.metadata_records import import_metadata_records

SCORE = {"id": "org/m", "benchmark": "hellaswag", "setting": "10-shot", "metric": "acc_norm",
         "metric_value": 0.40, "metric_stderr": 0.01}


def snapshot(store) -> dict:
    return {t: store.query(f"SELECT * FROM {t} ORDER BY ALL") for t in
            ("model_annotations", "dataset_info", "evaluation_results", "features")}


def same(a: dict, b: dict) -> None:
    for t in a:
        pd.testing.assert_frame_equal(a[t], b[t], obj=t)


def score_record(root, name, model, value, *, shots="10-shot", updated=None):
    folder = root / "model_scores"
    folder.mkdir(parents=True, exist_ok=True)
    task = {shots: {"acc_norm": value, "acc_norm_stderr": 0.01, "timestamp": "2024-01-01T00:00:00"}} if shots \
        else {"acc_norm": value, "acc_norm_stderr": 0.01}
    record = {"model_name": model, "results": {"harness": {"hellaswag": task}}}
    if updated:
        record["last_updated"] = updated
    (folder / name).write_text(json.dumps(record))
    return folder / name


def test_tolerance_classes():
    assert compare(0.4, 0.4) == "same"
    assert compare(0.4, 0.4 + REL_TOL / 2) == "rounding"
    assert compare(0.4, 0.4 + 1e-4) == "conflict"  # one item of a 10,000-item benchmark
    assert compare(None, 0.4) == "fill" and compare(-1, 8) == "fill" and compare(0.4, None) == "same"
    assert compare(-1.0, 0.2, sentinel=False) == "conflict"  # metric_value: -1 is a value (*_diff metrics)
    assert compare("gqa", "full") == "conflict"


def test_real_change_needs_a_policy(store):
    store.add_eval_results([SCORE])
    before = snapshot(store)
    with pytest.raises(ConflictError) as err:
        store.add_eval_results([{**SCORE, "metric_value": 0.45}], source="new.json")
    msg = str(err.value)
    assert "org/m hellaswag 10-shot acc_norm metric_value: 0.4 -> 0.45 (from new.json" in msg
    assert "nothing was written" in msg and "--on-conflict keep|replace" in msg
    diff = err.value.diff
    assert diff[["id", "column", "old", "new", "source"]].iloc[0].tolist() == [
        "org/m", "metric_value", 0.4, 0.45, "new.json"]
    same(before, snapshot(store))
    kept = store.add_eval_results([{**SCORE, "metric_value": 0.45}], on_conflict="keep")
    assert kept.counts["refused"] == 1 and kept.counts["replaced"] == 0
    assert store.scores()["metric_value"].tolist() == [0.40]
    replaced = store.add_eval_results([{**SCORE, "metric_value": 0.45, "metric_stderr": 0.02}],
                                      on_conflict="replace")
    assert replaced.counts["replaced"] == 1 and replaced.changed == 1
    assert store.scores()[["metric_value", "metric_stderr"]].iloc[0].tolist() == [0.45, 0.02]


def test_rounding_only_reimport_keeps_the_stored_value(store):
    store.add_eval_results([SCORE, {**SCORE, "benchmark": "arc_challenge", "setting": "25-shot"}])
    report = store.add_eval_results([{**SCORE, "metric_value": 0.40 + 1e-9},
                                     {**SCORE, "benchmark": "arc_challenge", "setting": "25-shot"}])
    assert report.counts == {"inserted": 0, "unchanged": 1, "rounding_only": 1, "filled": 0, "replaced": 0,
                             "refused": 0}
    assert store.scores(benchmark="hellaswag")["metric_value"].iloc[0] == 0.40


def test_missing_stored_values_are_filled_without_permission(store):
    store.upsert_annotation({"id": "org/m", "dimension": 512})
    store.add_eval_results([{**SCORE, "metric_stderr": None}])
    report = store.add_eval_results([SCORE])
    assert report.counts["filled"] == 1
    ann = store.upsert_annotation({"id": "org/m", "dimension": 512, "num_heads": 8})
    assert ann.counts["filled"] == 1
    with pytest.raises(ConflictError, match="dimension: 512 -> 1024"):
        store.upsert_annotation({"id": "org/m", "dimension": 1024})


def test_shotless_record_is_refused_unless_shots_are_given(store, tmp_path):
    root = tmp_path / "records"
    score_record(root, "results_org__m.json", "org/m", 0.4, shots=None)
    with pytest.raises(StoreError, match=r"shot count of 1 task\(s\) is not recorded .*'hellaswag'"):
        import_metadata_records(store, root, progress=False)
    assert store.counts()["evaluation_results"] == 0
    import_metadata_records(store, root, progress=False, assume_shots=0)
    assert store.scores()["setting"].tolist() == ["0-shot"]
    store.delete_model("org/m")
    import_metadata_records(store, root, progress=False, assume_shots="standard")
    assert store.scores()["setting"].tolist() == ["10-shot"]


def test_two_records_for_one_model_in_one_import(store, tmp_path):
    root = tmp_path / "records"
    score_record(root, "results_org__m.json", "org/m", 0.40, updated="2024-12-04")
    score_record(root, "results_org_m.json", "org/m", 0.45, updated="2023-06-01")
    with pytest.raises(ConflictError, match="two rows in this import") as err:
        import_metadata_records(store, root, progress=False)
    assert set(err.value.diff["source"]) == {str(root / "model_scores" / "results_org_m.json")}
    assert store.counts()["evaluation_results"] == 0
    keep = import_metadata_records(store, root, progress=False, on_conflict="keep").total
    assert keep.counts["refused"] == 2 and store.counts()["evaluation_results"] == 0  # neither file is trusted
    newest = import_metadata_records(store, root, progress=False, on_conflict="newest").total
    assert newest.counts["inserted"] == 1 and store.scores()["metric_value"].tolist() == [0.40]  # 2024 wins
    store.delete_model("org/m")
    import_metadata_records(store, root, progress=False, on_conflict="replace")
    assert store.scores()["metric_value"].tolist() == [0.45]  # the later file in import order (sorted names)


def test_newest_needs_dates(store, tmp_path):
    root = tmp_path / "records"
    score_record(root, "a.json", "org/m", 0.40)
    score_record(root, "b.json", "org/m", 0.45)
    with pytest.raises(ConflictError, match="needs a distinct last_updated"):
        import_metadata_records(store, root, progress=False, on_conflict="newest")


def test_lm_eval_import_follows_the_policy(store, tmp_path):
    def results(value):
        path = tmp_path / f"r{value}.json"
        path.write_text(json.dumps({"results": {"hellaswag": {"acc_norm,none": value}}, "n-shot": {"hellaswag": 10},
                                    "config": {"model_args": "pretrained=org/m"}}))
        return path
    import_lm_eval_results(store, results(0.4))
    with pytest.raises(ConflictError):
        import_lm_eval_results(store, results(0.5))
    assert import_lm_eval_results(store, results(0.5), on_conflict="replace").counts["replaced"] == 1
    no_shots = tmp_path / "noshots.json"
    no_shots.write_text(json.dumps({"results": {"piqa": {"acc,none": 0.6}}, "config": {"model_args": "pretrained=a"}}))
    with pytest.raises(StoreError, match="'piqa' has no shot count"):
        import_lm_eval_results(store, no_shots)
    assert import_lm_eval_results(store, no_shots, assume_shots=0).counts["inserted"] == 1


def test_cli_prints_counts_and_the_diff(tmp_path, capsys):
    db = tmp_path / "s.duckdb"
    root = tmp_path / "records"
    score_record(root, "results_org__m.json", "org/m", 0.40)
    assert db_main(["import", str(root), "--db", str(db), "--create"]) == 0
    out = capsys.readouterr().out
    assert "1 inserted, 0 unchanged, 0 rounding-only, 0 filled, 0 replaced, 0 refused" in out
    score_record(root, "results_org__m.json", "org/m", 0.47)
    assert db_main(["import", str(root), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: 1 stored value(s) would change") and "0.4 -> 0.47" in err
    assert "Traceback" not in err
    assert db_main(["import", str(root), "--db", str(db), "--on-conflict", "keep"]) == 0
    assert "1 refused" in capsys.readouterr().out
    assert db_main(["import", str(root), "--db", str(db), "--on-conflict", "replace"]) == 0
    out = capsys.readouterr().out
    assert "1 replaced" in out and "replaced: evaluation_results org/m hellaswag 10-shot acc_norm" in out
    with AnalysisStore.from_existing(db) as s:
        assert s.scores()["metric_value"].tolist() == [0.47]


def test_shared_records_over_the_release_replace_nothing_silently(release_dir, shared):
    """The issue's scenario: the release, then every shared record. Without a policy nothing is written."""
    with AnalysisStore.from_existing(release_dir) as store:
        before = store.query("SELECT * FROM evaluation_results ORDER BY ALL")
        kwargs = dict(progress=False, assume_shots="standard", continue_on_error=True)
        with pytest.raises(ConflictError) as err:
            import_metadata_records(store, shared / "data" / "metadata_records", **kwargs)
        assert len(err.value.diff) > 100
        pd.testing.assert_frame_equal(before, store.query("SELECT * FROM evaluation_results ORDER BY ALL"))
        report = import_metadata_records(store, shared / "data" / "metadata_records", on_conflict="keep",
                                         **kwargs).total
        # every score is accounted for; none replaced (the figures model_metadata_db/README.md gives)
        assert report.counts == {"inserted": 297, "unchanged": 1843, "rounding_only": 11516, "filled": 399,
                                 "replaced": 0, "refused": 929}
        assert len(report.conflicts) == 1758
        merged = before.merge(store.query("SELECT * FROM evaluation_results"),
                              on=["id", "benchmark", "setting", "metric"], suffixes=("", "_after"))
        assert ((merged["metric_value"] == merged["metric_value_after"])
                | merged["metric_value"].isna()).all()


def test_register_run_follows_the_policy(store):
    """register-run writes through the store's functions: re-registering a changed run stops with the diff."""
    from pretraining.evaluate.register_run import RunRecord, register
    record = RunRecord("njsl/run-1", {"id": "njsl/run-1", "dimension": 256, "num_heads": 4},
                       {"id": "njsl/run-1", "pretraining_summary_total_tokens_billions": 0.5},
                       eval_rows=[{"id": "njsl/run-1", "benchmark": "heldout_web", "setting": "0-shot",
                                   "metric": "perplexity", "metric_value": 31.0, "metric_stderr": None}])
    register(store, record)
    before = snapshot(store)
    register(store, record)  # the same run again: nothing changes
    same(before, snapshot(store))
    record.eval_rows[0]["metric_value"] = 29.5
    with pytest.raises(ConflictError, match="heldout_web 0-shot perplexity metric_value: 31.0 -> 29.5"):
        register(store, record)
    same(before, snapshot(store))
