"""Faults: corrupt/truncated stores, missing stores, masked errors, all-or-nothing imports, the DuckDB floor."""
from __future__ import annotations

import hashlib
import json
import shutil

import duckdb
import pyarrow as pa
import pytest

from model_metadata_db import AnalysisStore, StoreError
from model_metadata_db.cli import main as db_main
from model_metadata_db.store import STORAGE_COMPATIBILITY
from model_metadata_db.upsert import upsert_arrow

ROW = {"id": "org/m", "benchmark": "hellaswag", "setting": "10-shot", "metric": "acc_norm", "metric_value": 0.4}


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def results_file(tmp_path, value=0.3, name="r.json", model="org/x"):
    path = tmp_path / name
    path.write_text(json.dumps({"results": {"piqa": {"acc,none": value}}, "n-shot": {"piqa": 0},
                                "config": {"model_args": f"pretrained={model}"}}))
    return path


@pytest.fixture
def filled(tmp_path):
    db = tmp_path / "s.duckdb"
    with AnalysisStore.create(db) as s:
        s.add_eval_results([{**ROW, "id": f"org/m{i}"} for i in range(300)])
    return db


def test_corrupt_block_refuses_reads_and_writes(filled, tmp_path, capsys):
    # the second 256 KiB block holds table data: the old store accepted writes to such a file
    with filled.open("r+b") as fh:
        fh.seek(12288 + 262144 + 8)
        fh.write(b"\xff" * 64)
    before = digest(filled)
    with pytest.raises(StoreError, match="corrupt or not a DuckDB"):
        AnalysisStore.from_existing(filled)
    assert db_main(["add-eval", str(results_file(tmp_path)), "--db", str(filled)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "corrupt" in err and "Traceback" not in err and err.count("\n") == 1
    assert digest(filled) == before


def test_truncated_store_is_one_clear_error(filled, capsys):
    data = filled.read_bytes()
    filled.write_bytes(data[:5000])
    before = digest(filled)
    assert db_main(["info", "--db", str(filled)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot open store") and "corrupt" in err and "Traceback" not in err
    assert digest(filled) == before


def test_new_store_in_an_unwritable_place(tmp_path):
    with pytest.raises(StoreError, match="cannot create store"):
        AnalysisStore.create("/proc/njsl-test.duckdb")  # not writable even for root
    with pytest.raises(StoreError, match="folder .* does not exist"):
        AnalysisStore.create(tmp_path / "no" / "such" / "s.duckdb")


def test_missing_store_is_an_error_for_reads_and_writes(tmp_path, capsys):
    db = tmp_path / "typo.duckdb"
    assert db_main(["check", "--db", str(db)]) == 2
    assert db_main(["add-eval", str(results_file(tmp_path)), "--db", str(db)]) == 2
    assert "no store at" in capsys.readouterr().err and not db.exists()
    assert db_main(["add-eval", str(results_file(tmp_path)), "--db", str(db), "--continue-on-error"]) == 2
    assert db_main(["create", str(db)]) == 0 and db.exists()
    assert db_main(["create", str(db)]) == 2


def test_paper_constructor_creates_a_usable_store(tmp_path):
    path = tmp_path / "x.duckdb"
    with AnalysisStore(str(path)) as s:
        s.add_eval_results([ROW])
    with AnalysisStore(str(path)) as s:  # opening again never empties it (the paper's dropped its tables)
        assert s.counts()["evaluation_results"] == 1
    with pytest.raises(StoreError, match="already exists and create_new=True"):
        AnalysisStore(str(path), create_new=True)


def test_the_real_duckdb_error_is_not_masked():
    con = duckdb.connect()
    con.execute("CREATE TABLE t(id VARCHAR PRIMARY KEY, n INTEGER)")
    con.execute("BEGIN TRANSACTION")
    with pytest.raises(duckdb.Error) as err:
        upsert_arrow(con, "evaluation_results", ["id"], pa.table({"id": ["a"]}))  # no such table here
    assert "evaluation_results" in str(err.value) and "aborted" not in str(err.value)


def test_a_failing_write_leaves_all_or_nothing(store, monkeypatch):
    store.upsert_annotation({"id": "org/m", "dimension": 8})
    calls = []

    def boom(table, rows):
        calls.append(table)
        if len(calls) == 2:
            raise RuntimeError("killed while writing the second table")
        return original(table, rows)
    original = store._write
    monkeypatch.setattr(store, "_write", boom)
    from model_metadata_db.conflicts import Incoming
    with pytest.raises(RuntimeError, match="killed"):
        store.apply({"model_annotations": [Incoming({"id": "org/n", "dimension": 16}, "t")],
                     "evaluation_results": [Incoming(ROW, "t")]})
    assert store.counts()["model_annotations"] == 1 and store.counts()["evaluation_results"] == 0


def test_multi_file_import_is_all_or_nothing(tmp_path, capsys):
    db = tmp_path / "s.duckdb"
    assert db_main(["create", str(db)]) == 0
    good = results_file(tmp_path, name="good.json", model="org/a")
    bad = tmp_path / "bad.json"
    bad.write_text("{broken")
    assert db_main(["add-eval", str(good), str(bad), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "1 of 2 source file(s) cannot be imported; nothing was written" in err and "bad.json" in err
    with AnalysisStore.from_existing(db) as s:
        assert s.counts()["evaluation_results"] == 0
    assert db_main(["add-eval", str(good), str(bad), "--db", str(db), "--continue-on-error"]) == 1
    captured = capsys.readouterr()
    assert "failed:" in captured.out and "bad.json" in captured.out
    with AnalysisStore.from_existing(db) as s:
        assert s.scores()["id"].tolist() == ["org/a"]


def test_folder_where_every_file_failed_is_an_error(tmp_path, capsys):
    db = tmp_path / "s.duckdb"
    AnalysisStore.create(db).close()
    root = tmp_path / "records" / "model_scores"
    root.mkdir(parents=True)
    (root / "a.json").write_text(json.dumps({"model_name": "model_name", "results": {"harness": {}}}))
    (root / "b.json").write_text("[")
    assert db_main(["import", str(root.parent), "--db", str(db)]) == 2
    assert db_main(["import", str(root.parent), "--db", str(db), "--continue-on-error"]) == 2
    assert "nothing to import" in capsys.readouterr().err


def test_import_parses_before_taking_the_write_lock(tmp_path, monkeypatch):
    """JSON is parsed with no connection open, so readers are not blocked by a long parse."""
    import model_metadata_db.batch_import as bi
    import model_metadata_db.cli as cli
    db = tmp_path / "s.duckdb"
    AnalysisStore.create(db).close()
    order = []
    real_parse, real_open = bi.parse_sources, cli.open_for_write

    def parse(*a, **k):
        order.append("parse")
        # another process could read now: a read-only connection opens while we parse
        duckdb.connect(str(db), read_only=True).close()
        return real_parse(*a, **k)

    def open_write(*a, **k):
        order.append("open")
        return real_open(*a, **k)
    monkeypatch.setattr(bi, "parse_sources", parse)
    monkeypatch.setattr(cli, "open_for_write", open_write)
    assert cli.main(["add-eval", str(results_file(tmp_path)), "--db", str(db)]) == 0
    assert order == ["parse", "open"]


def test_files_are_written_in_the_format_of_the_duckdb_floor(tmp_path):
    """pyproject says duckdb>=1.1: files are written in DuckDB 1.1's storage format, which it can read.

    (Checked with duckdb 1.1.3 itself: it opens a store this package wrote and reads its rows; README.)"""
    db = tmp_path / "s.duckdb"
    with AnalysisStore.create(db) as s:
        s.add_eval_results([ROW])
    con = duckdb.connect(str(db), read_only=True)
    tags = con.execute("SELECT tags FROM duckdb_databases() WHERE database_name = 's'").fetchall()[0][0]
    con.close()
    assert STORAGE_COMPATIBILITY == "v1.1.0" and tags["storage_version"].startswith("v1.")
    from pathlib import Path
    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert '"duckdb>=1.1' in pyproject


def test_store_copy_elsewhere_still_opens(filled, tmp_path):
    copy = tmp_path / "moved" / "s.duckdb"
    copy.parent.mkdir()
    shutil.copy(filled, copy)
    with AnalysisStore.from_existing(copy) as s:
        assert s.counts()["evaluation_results"] == 300
