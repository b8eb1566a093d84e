"""Executors: kill -9 mid-pipeline resumes to the same output; Slurm submission scripts; a local Ray cluster."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from data_tagging.cli import main as tag_main
from data_tagging.pipeline import run_tagging_pipeline
from njsl.scaleout.executors import parse_options

REPO = Path(__file__).resolve().parents[2]
FEATURES = "char_len,tokens"


def frames(folder: Path) -> dict[str, pd.DataFrame]:
    return {p.name: pd.read_parquet(p) for p in sorted(folder.glob("*.parquet"))}


def kill_after_completions(cmd: list[str], cwd: Path, completions: str, at_least: int = 2) -> int:
    """Start ``cmd``, ``kill -9`` its process group once ``at_least`` tasks completed; the number completed."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(list(cwd.glob(completions))) < at_least:
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and anything it started
    finally:
        proc.wait()
    return len(list(cwd.glob(completions)))


def rerun(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=cwd, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def test_kill_9_mid_pipeline_resumes_to_the_same_output(tmp_path, paragraphs, corpus_writer):
    corpus = corpus_writer(tmp_path / "docs", paragraphs * 40, 12)  # 12 files, one task each, run one at a time
    ref = tmp_path / "ref"
    run_tagging_pipeline(str(corpus), str(ref), FEATURES, parse_options({"tasks": 12, "workers": 1}))
    cmd = [sys.executable, "-m", "njsl", "tag", "run", "--feature", FEATURES, "--input", str(corpus),
           "--output", "attrs", "--tasks", "12", "--workers", "1"]
    done_before = kill_after_completions(cmd, tmp_path, "attrs/.datatrove/*/tag/completions/*")
    assert 2 <= done_before < 12, "the kill did not land mid-pipeline"
    assert f"Skipping {done_before} already completed tasks" in rerun(cmd, tmp_path).stderr
    got, want = frames(tmp_path / "attrs"), frames(ref)
    assert got.keys() == want.keys()
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name])
    assert not list((tmp_path / "attrs").rglob(".*.tmp-*"))  # the killed task's temporary file was replaced


def test_a_rerun_removes_the_temporary_file_a_killed_write_left(tmp_path, paragraphs, corpus_writer):
    """The kill above lands at a random point; when it hits a task mid-write, that task's ``.NAME.tmp-*`` file
    (its suffix is the killed writer's) must not outlive the rerun. Planted here so the case is always tested."""
    corpus = corpus_writer(tmp_path / "docs", paragraphs * 4, 3)
    ref, out = tmp_path / "ref", tmp_path / "attrs"
    run_tagging_pipeline(str(corpus), str(ref), FEATURES, parse_options({"tasks": 3, "workers": 1}))
    names = sorted(frames(ref))
    out.mkdir()
    stale = out / f".{names[1]}.tmp-dead0001"
    stale.write_bytes(b"half a parquet file")
    run_tagging_pipeline(str(corpus), str(out), FEATURES, parse_options({"tasks": 3, "workers": 1}))
    assert not stale.exists() and not list(out.rglob(".*.tmp-*"))
    got, want = frames(out), frames(ref)
    assert got.keys() == want.keys()
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name])


@pytest.mark.slow  # 12 tasks in a subprocess, twice, plus the reference run
def test_kill_9_mid_entropy_count_resumes_to_the_same_numbers(tmp_path, paragraphs, corpus_writer):
    from whole_corpus_measures import cli as entropy_cli

    corpus = corpus_writer(tmp_path / "docs", paragraphs * 40, 12)
    argv = ["--input", str(corpus), "--ngram", "1", "2", "--tasks", "12", "--workers", "1"]
    assert entropy_cli.main([*argv, "--output", str(tmp_path / "ref.json")]) == 0
    cmd = [sys.executable, "-m", "njsl", "entropy", *argv, "--output", "e.json"]
    done_before = kill_after_completions(cmd, tmp_path, ".e.json.datatrove/*/count/completions/*")
    assert 2 <= done_before < 12 and not (tmp_path / "e.json").exists(), "the kill did not land mid-pipeline"
    assert f"Skipping {done_before} already completed tasks" in rerun(cmd, tmp_path).stderr
    got, want = json.loads((tmp_path / "e.json").read_text()), json.loads((tmp_path / "ref.json").read_text())
    assert got["entropy"] == want["entropy"] and got["tokens"] == want["tokens"]  # same runs, same merge


def test_slurm_dry_run_renders_the_submission_scripts(corpus, tmp_path, capsys):
    import dill

    from whole_corpus_measures import cli as entropy_cli

    logs = tmp_path / "logs"
    rc = entropy_cli.main(["--input", str(corpus), "--output", str(tmp_path / "e.json"), "--executor", "slurm",
                           "--tasks", "3", "--workers", "2", "--partition", "cpu", "--time", "01:30:00",
                           "--cpus_per_task", "2", "--mem_per_cpu_gb", "3", "--max_array_size", "2",
                           "--logging_dir", str(logs), "--dry_run", "--venv_path", "/opt/venv/bin/activate"])
    assert rc == 0 and "dry run" in capsys.readouterr().out
    count = (logs / "count" / "launch_script.slurm").read_text()
    for line in ("#SBATCH --partition=cpu", "#SBATCH --time=01:30:00", "#SBATCH --cpus-per-task=2",
                 "#SBATCH --mem-per-cpu=3072M", "#SBATCH --array=0-1%2", "#SBATCH --job-name=njsl-entropy-count",
                 "source /opt/venv/bin/activate", f"launch_pickled_pipeline {logs / 'count' / 'executor.pik'}"):
        assert line in count, line
    merge = (logs / "merge" / "launch_script.slurm").read_text()
    assert "#SBATCH --array=0-0" in merge and "#SBATCH --job-name=njsl-entropy-merge" in merge
    assert json.loads((logs / "count" / "ranks_to_run.json").read_text()) == [0, 1, 2]
    submit = (logs / "submit.sh").read_text().splitlines()
    # 3 tasks with arrays of at most 2: two array jobs (RUN_OFFSET 0 and 1), then the merge after them
    count_lines = [line for line in submit if "RUN_OFFSET" in line and "count/launch_script.slurm" in line]
    assert len(count_lines) == 2 and "--dependency" not in count_lines[0]
    assert "--dependency=afterany:$JOB_COUNT " in count_lines[1]  # the last count job ends after the first
    assert any("--dependency=afterok:$JOB_COUNT" in line and "merge/launch_script.slurm" in line for line in submit)
    with open(logs / "count" / "executor.pik", "rb") as fh:
        executor = dill.load(fh)
    assert executor.tasks == 3 and [type(s).__name__ for s in executor.pipeline] == ["DocumentReader",
                                                                                      "EntropyCountStep"]
    assert not (tmp_path / "e.json").exists()  # nothing ran


def test_slurm_without_sbatch_is_a_clear_error(corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    rc = tag_main(["run", "--feature", FEATURES, "--input", str(corpus), "--output", str(tmp_path / "a"),
                   "--executor", "slurm", "--partition", "cpu", "--tasks", "2"])
    assert rc == 2 and "sbatch" in capsys.readouterr().err


@pytest.mark.slow  # ~15 s for Ray to start and stop, plus megatron-core imported in each task
def test_ray_local_cluster_two_tasks_each_stage(corpus, tmp_path):
    import ray

    from pretraining.data.preprocess import preprocess
    from pretraining.data.preprocess_pipeline import run_preprocess_pipeline
    from whole_corpus_measures import cli as entropy_cli
    from whole_corpus_measures.cli import default_tokenizer_dir
    from whole_corpus_measures.pipeline import run_entropy_pipeline

    ref = tmp_path / "ref"
    run_tagging_pipeline(str(corpus), str(ref), FEATURES, parse_options({"tasks": 1, "workers": 1}))
    e_args = entropy_cli.build_parser().parse_args(["--input", str(corpus), "--output", str(tmp_path / "e.json"),
                                                    "--ngram", "0", "2"])
    e_ref = entropy_cli.run(e_args)
    tok = default_tokenizer_dir()
    p_ref = preprocess(corpus, tmp_path / "p_ref", tok, progress=False)
    import shutil
    import tempfile

    ray_tmp = tempfile.mkdtemp(prefix="ray17-", dir="/tmp")  # Ray's socket paths must stay under 107 bytes
    ray.init(num_cpus=2, _node_ip_address="127.0.0.1", include_dashboard=False, object_store_memory=80 << 20,
             log_to_driver=False, _temp_dir=ray_tmp)
    try:
        out = tmp_path / "attrs"
        opts = parse_options({"executor": "ray", "tasks": 2, "mem_per_cpu_gb": 0.25})
        summary = run_tagging_pipeline(str(corpus), str(out), FEATURES, opts)
        assert summary.run.complete
        _, e_got = run_entropy_pipeline(e_args, opts, batch_chars=1 << 20)
        stage, _ = run_preprocess_pipeline(str(corpus), str(tmp_path / "p"), tok, opts)
        assert stage.complete
    finally:
        ray.shutdown()
        shutil.rmtree(ray_tmp, ignore_errors=True)
    got, want = frames(out), frames(ref)
    assert got.keys() == want.keys() and len(got) == 3
    for name in want:
        pd.testing.assert_frame_equal(got[name], want[name])
    assert e_got["tasks"] == 2 and e_got["tokens"] == e_ref["tokens"]
    for n, o in e_ref["entropy"].items():
        assert e_got["entropy"][n]["percentiles_context_entropy_bits"] == o["percentiles_context_entropy_bits"]
        got_h = e_got["entropy"][n]["conditional_entropy_bits"]
        assert got_h == pytest.approx(o["conditional_entropy_bits"], rel=1e-12)
    for suffix in (".bin", ".idx"):
        name = p_ref.prefix.name + suffix
        assert (tmp_path / "p" / name).read_bytes() == (tmp_path / "p_ref" / name).read_bytes()


def test_slurm_launch_submits_count_then_merge_after_it(corpus, tmp_path, monkeypatch, capsys):
    """The real launch path, with a stand-in ``sbatch`` on PATH that records its arguments and script."""
    from whole_corpus_measures import cli as entropy_cli

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "sbatch.log"
    (bin_dir / "sbatch").write_text(
        "#!/bin/bash\n"
        f"n=$(( $(cat {log} 2>/dev/null | grep -c '^ARGS') + 101 ))\n"
        f"echo \"ARGS $n ${{@:1:$#-1}}\" >> {log}\n"
        f"grep -E '^#SBATCH --(job-name|array)' \"${{@: -1}}\" >> {log}\n"
        "echo \"Submitted batch job $n\"\n")
    (bin_dir / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    rc = entropy_cli.main(["--input", str(corpus), "--output", str(tmp_path / "e.json"), "--executor", "slurm",
                           "--tasks", "3", "--partition", "cpu", "--logging_dir", str(tmp_path / "logs")])
    assert rc == 0 and "submitted to Slurm" in capsys.readouterr().out
    lines = log.read_text().splitlines()
    jobs = [(line.split()[1], line) for line in lines if line.startswith("ARGS")]
    names = [line for line in lines if "job-name" in line]
    # count array (job 101), its stats merge, then the merge array depending on the count array
    assert names[0].endswith("njsl-entropy-count") and "#SBATCH --array=0-2" in lines
    merge = next(line for _, line in jobs if "afterok:101" in line and "RUN_OFFSET" in line)
    assert merge.split()[1] != "101"
    assert not (tmp_path / "e.json").exists()  # submitted, not run here


def test_an_atomic_write_removes_the_temporary_files_of_killed_writes_of_the_same_file(tmp_path):
    from datatrove.io import get_datafolder

    from njsl.scaleout.io import write_json_atomic

    (tmp_path / "tasks").mkdir()
    killed = tmp_path / "tasks" / ".00003.json.tmp-dead0001"
    other = tmp_path / "tasks" / ".00004.json.tmp-dead0002"   # another task's file: not ours to remove
    killed.write_text("{")
    other.write_text("{")
    write_json_atomic(get_datafolder(str(tmp_path)), "tasks/00003.json", {"tokens": 3})
    assert json.loads((tmp_path / "tasks" / "00003.json").read_text()) == {"tokens": 3}
    assert not killed.exists() and other.exists()
