"""Taggers as datatrove pipelines: equal to the single-process runner, incremental, fsspec paths, bad input."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from data_tagging.aggregate import aggregate_features, read_tag_outputs
from data_tagging.cli import main as tag_main
from data_tagging.pipeline import from_attribute_columns, run_tagging_pipeline
from data_tagging.registry import TaggingError
from data_tagging.runner import run_tagging
from njsl.scaleout.executors import ScaleoutError, parse_options

FEATURES = "char_len,tokens"


def single_process(corpus: Path, tmp_path: Path) -> pd.DataFrame:
    run_tagging(corpus, tmp_path / "ref.parquet", FEATURES, progress=False)
    return pd.read_parquet(tmp_path / "ref.parquet")


def attributes(folder: Path | str, names: list[str]) -> pd.DataFrame:
    frames = [pd.read_parquet(f"{folder}/{n}") for n in names]
    frame = pd.concat(frames, ignore_index=True)
    return frame.rename(columns=from_attribute_columns(frame.columns))


@pytest.mark.parametrize("tasks,workers", [(2, 1), (3, 2)])
def test_local_executor_equals_single_process(corpus, tmp_path, tasks, workers):
    ref = single_process(corpus, tmp_path)
    out = tmp_path / "attrs"
    summary = run_tagging_pipeline(str(corpus), str(out), FEATURES, parse_options({"tasks": tasks, "workers": workers}))
    names = ["part00.parquet", "part01.parquet", "part02.parquet"]
    assert sorted(p.name for p in out.glob("*.parquet")) == names  # one attributes file per input file
    got = attributes(out, names)
    assert "tokens__ttr" in pd.read_parquet(out / names[0]).columns  # dolma-style tagger__feature names
    pd.testing.assert_frame_equal(got, ref)
    assert summary.documents == len(ref) and summary.run.complete
    # aggregation reads the attributes folder as it reads today's output
    assert aggregate_features(read_tag_outputs([out])) == aggregate_features(ref)


def test_incremental_run_tags_only_new_files_and_refuses_other_requests(corpus, tmp_path, paragraphs, corpus_writer):
    out = tmp_path / "attrs"
    opts = parse_options({"tasks": 2, "workers": 1})
    run_tagging_pipeline(str(corpus), str(out), FEATURES, opts)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.parquet")}
    corpus_writer(tmp_path / "more", paragraphs[:5], 1)
    os.replace(tmp_path / "more" / "part00.jsonl", corpus / "part03.jsonl")
    summary = run_tagging_pipeline(str(corpus), str(out), FEATURES, opts)
    assert summary.already_done == 3 and summary.files == 4
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("*.parquet")}
    assert {k: after[k] for k in before} == before and "part03.parquet" in after
    with pytest.raises(TaggingError, match="another request.*features"):
        run_tagging_pipeline(str(corpus), str(out), "char_len", opts)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.parquet")} == after  # nothing touched
    summary = run_tagging_pipeline(str(corpus), str(out), "char_len", opts, overwrite=True)  # removes, redoes all
    assert summary.already_done == 0 and summary.files == 4
    assert list(attributes(out, ["part03.parquet"]).columns) == ["id", "doc_skip_reason", "char_len"]


def test_fsspec_paths_memory_filesystem(corpus, tmp_path):
    import fsspec

    ref = single_process(corpus, tmp_path)
    mem = fsspec.filesystem("memory")
    for p in sorted(corpus.iterdir()):
        mem.pipe(f"/in17/{p.name}", p.read_bytes())
    try:
        run_tagging_pipeline("memory:///in17", "memory:///out17", FEATURES, parse_options({"tasks": 2, "workers": 1}))
        names = sorted(p.rsplit("/", 1)[-1] for p in mem.ls("/out17", detail=False) if p.endswith(".parquet"))
        assert names == ["part00.parquet", "part01.parquet", "part02.parquet"]
        pd.testing.assert_frame_equal(attributes("memory:///out17", names), ref)
        assert mem.exists("/out17/.datatrove")  # completion markers live on the same filesystem
    finally:
        mem.rm("/in17", recursive=True)
        mem.rm("/out17", recursive=True)


def test_bad_text_column_fails_before_launch_and_writes_nothing(corpus, tmp_path, capsys):
    out = tmp_path / "attrs"
    rc = tag_main(["run", "--feature", FEATURES, "--input", str(corpus), "--output", str(out), "--tasks", "2",
                   "--text_column", "body"])
    err = capsys.readouterr().err
    assert rc == 2 and "no text column 'body'" in err and "Traceback" not in err
    assert not out.exists() or not list(out.rglob("*.parquet"))


@pytest.mark.parametrize("argv,message", [
    (["--executor", "slurm"], "--partition"),
    (["--workers", "0"], "--workers"),
    (["--shard", "3/2"], "--shard"),
    (["--tasks", "0"], "--tasks"),
    (["--limit", "5", "--tasks", "2"], "--limit"),
])
def test_bad_executor_options_name_the_flag(corpus, tmp_path, capsys, argv, message):
    out = tmp_path / "attrs"
    rc = tag_main(["run", "--feature", FEATURES, "--input", str(corpus), "--output", str(out), *argv])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and err.startswith("error:")
    assert not out.exists()


def test_parquet_output_with_executor_is_refused(corpus, tmp_path, capsys):
    rc = tag_main(["run", "--feature", FEATURES, "--input", str(corpus), "--output", str(tmp_path / "o.parquet"),
                   "--executor", "local"])
    assert rc == 2 and "folder" in capsys.readouterr().err
    assert not (tmp_path / "o.parquet").exists()


def test_shard_maps_onto_tasks(corpus, tmp_path):
    ref = single_process(corpus, tmp_path)
    out = tmp_path / "attrs"
    for i in (1, 0):  # any order: the last shard to finish completes the stage
        assert tag_main(["run", "--feature", FEATURES, "--input", str(corpus), "--output", str(out),
                         "--shard", f"{i}/2", "--executor", "local"]) == 0
    names = ["part00.parquet", "part01.parquet", "part02.parquet"]
    pd.testing.assert_frame_equal(attributes(out, names), ref)


def test_options_model_rejects_unknown_field():
    with pytest.raises(ScaleoutError, match="bogus"):
        parse_options({"bogus": 1})


def test_single_input_file_without_ids(tmp_path, paragraphs, corpus_writer):
    folder = corpus_writer(tmp_path / "one", paragraphs[:12], 1, with_ids=False)
    src = folder / "part00.jsonl"
    run_tagging(src, tmp_path / "ref.parquet", FEATURES, progress=False)
    run_tagging_pipeline(str(src), str(tmp_path / "attrs"), FEATURES, parse_options({"tasks": 4}))
    got = attributes(tmp_path / "attrs", ["part00.parquet"])
    pd.testing.assert_frame_equal(got, pd.read_parquet(tmp_path / "ref.parquet"))
    assert got["id"].iloc[0] == "1"  # a single file's fallback ids are its line numbers, as today
