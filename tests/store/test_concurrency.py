"""Two processes reading while one writes: every read sees a consistent store, nothing is lost or corrupted."""
from __future__ import annotations

import multiprocessing as mp
import time

from model_metadata_db import AnalysisStore

N_WRITES = 15


def _writer(path: str, n: int) -> None:
    store = AnalysisStore.from_existing(path)
    for i in range(n):
        # One transaction writes two tables; a reader must never see one without the other.
        with store.transaction():
            store.upsert_annotation({"id": f"m{i}", "dimension": 8 * (i + 1)})
            store.set_features("model", f"m{i}", {"x": float(i)}, source="writer")
        time.sleep(0.005)


def _reader(path: str, stop, out) -> None:
    store = AnalysisStore.from_existing(path)
    reads, inconsistent = 0, 0
    deadline = time.monotonic() + 60
    while (not stop.is_set() or reads < 5) and time.monotonic() < deadline:
        df = store.query("SELECT (SELECT count(*) FROM model_annotations) AS a, "
                         "(SELECT count(*) FROM features) AS f")
        reads += 1
        inconsistent += int(df["a"][0] != df["f"][0])
        time.sleep(0.02)  # a reader that works with what it read, not a tight loop
    out.put((reads, inconsistent))


def test_two_readers_and_one_writer_in_separate_processes(tmp_path):
    path = str(tmp_path / "shared.duckdb")
    AnalysisStore.create(path).close()
    ctx = mp.get_context("spawn")  # no inherited DuckDB state
    out = ctx.Queue()
    stop = ctx.Event()
    readers = [ctx.Process(target=_reader, args=(path, stop, out)) for _ in range(2)]
    writer = ctx.Process(target=_writer, args=(path, N_WRITES))
    for p in readers + [writer]:
        p.start()
    writer.join(90)
    stop.set()
    for p in readers:
        p.join(90)
    assert writer.exitcode == 0 and all(p.exitcode == 0 for p in readers)
    results = [out.get(timeout=5) for _ in readers]
    assert all(reads > 0 for reads, _ in results)
    assert all(bad == 0 for _, bad in results)
    with AnalysisStore.from_existing(path) as store:
        assert store.counts()["model_annotations"] == N_WRITES
        assert sorted(store.features_wide("model")["x"]) == [float(i) for i in range(N_WRITES)]


def test_lock_timeout_is_a_clear_error(tmp_path):
    import pytest

    from model_metadata_db import StoreLockedError
    path = tmp_path / "locked.duckdb"
    AnalysisStore.create(path).close()
    ctx = mp.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(path), ready, release))
    holder.start()
    try:
        assert ready.wait(60)
        with pytest.raises(StoreLockedError, match="locked by another process for more than 0.5 s"):
            AnalysisStore.from_existing(path, lock_timeout=0.5)
    finally:
        release.set()
        holder.join(30)
    with AnalysisStore.from_existing(path) as store:  # usable again once the other process is done
        assert store.counts()["model_annotations"] == 0


def _hold(path: str, ready, release) -> None:
    import duckdb
    con = duckdb.connect(path)  # read-write: excludes every other process
    ready.set()
    release.wait(60)
    con.close()
