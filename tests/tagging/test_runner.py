"""Files, bad input, shards and resume of ``njsl tag run`` (in process and as real subprocesses)."""
from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from data_tagging.cli import main
from data_tagging.runner import run_tagging, shard_output_path, work_dir_for

REPO = Path(__file__).resolve().parents[2]

SLOW_PLUGIN = '''
import time
from data_tagging import register, Tagger

@register
class SlowLen(Tagger):
    """char_len that takes 10 ms per document, so a test can kill a run in the middle."""
    name = "slow_len"
    columns = ("slow_len",)

    def tag(self, docs):
        time.sleep(0.01 * len(docs))
        return [{"slow_len": float(len(d.text))} for d in docs]
'''


def test_run_writes_rows_keyed_by_id(tmp_path, docs_jsonl, docstrings, capsys):
    out = tmp_path / "out.parquet"
    assert main(["run", "--feature", "char_len,keyword_ratios", "--input", str(docs_jsonl),
                 "--output", str(out), "--quiet"]) == 0
    df = pd.read_parquet(out)
    assert list(df["id"]) == [f"doc{i}" for i in range(24)]
    assert list(df["char_len"]) == [float(len(t)) for t in docstrings[:24]]
    assert not work_dir_for(out).exists()
    assert "wrote 24 document rows" in capsys.readouterr().out
    # a second identical run finds the finished output and does nothing
    assert main(["run", "--feature", "char_len,keyword_ratios", "--input", str(docs_jsonl),
                 "--output", str(out), "--quiet"]) == 0
    assert "already complete" in capsys.readouterr().out


def test_malformed_lines_reported_and_skipped_or_fatal_with_strict(tmp_path, docstrings, capsys):
    path = tmp_path / "bad.jsonl"
    lines = [json.dumps({"text": docstrings[0]}), "{not json", json.dumps({"text": docstrings[1]}), "[1, 2]",
             json.dumps({"text": "   "})]
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"text": "caf\xe9 au lait"}\n')
    out = tmp_path / "o.parquet"
    assert main(["run", "--feature", "char_len", "--input", str(path), "--output", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "bad.jsonl:2: skipped malformed line" in captured.err
    assert "bad.jsonl:4: skipped malformed line" in captured.err
    assert "2 malformed line(s)" in captured.out and "1 empty document(s)" in captured.out
    assert "doc skipped, empty text: 1 document(s)" in captured.out
    assert "invalid UTF-8" in captured.out
    df = pd.read_parquet(out)
    assert list(df["id"]) == ["1", "3", "5", "6"]  # ids are line numbers; the non-UTF-8 line is kept, bytes replaced
    assert df["char_len"].iloc[3] == len("caf\ufffd au lait")
    assert pd.isna(df["char_len"].iloc[2]) and df["doc_skip_reason"].fillna("").tolist() == ["", "", "empty text", ""]

    strict_out = tmp_path / "strict.parquet"
    assert main(["run", "--feature", "char_len", "--input", str(path), "--output", str(strict_out),
                 "--strict", "--quiet"]) == 2
    assert "bad.jsonl:2: malformed JSON line" in capsys.readouterr().err
    assert not strict_out.exists() and not work_dir_for(strict_out).exists()


def test_missing_text_column_is_a_clear_error(tmp_path, capsys, jsonl):
    path = jsonl(tmp_path / "x.jsonl", [{"body": "hello there"}])
    out = tmp_path / "o.parquet"
    assert main(["run", "--feature", "char_len", "--input", str(path), "--output", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no text column 'text'" in err and "['body']" in err and "--text_column" in err
    assert not out.exists() and not work_dir_for(out).exists()
    assert main(["run", "--feature", "char_len", "--input", str(path), "--output", str(out), "--quiet",
                 "--text_column", "body"]) == 0
    assert pd.read_parquet(out)["char_len"].tolist() == [11.0]


def test_content_column_is_read_when_text_is_absent(tmp_path, capsys, jsonl):
    """The Stack's ``content``, renamed to ``text`` by the paper's loader: used, and said in the summary."""
    path = jsonl(tmp_path / "stack.jsonl", [{"content": "def f():\n    return 1\n", "lang": "python"},
                                            {"content": "x = 2\n"}])
    out = tmp_path / "o.parquet"
    assert main(["run", "--feature", "char_len", "--input", str(path), "--output", str(out), "--quiet"]) == 0
    assert "2 record(s) read their text from 'content' (no 'text' column)" in capsys.readouterr().out
    assert pd.read_parquet(out)["char_len"].tolist() == [22.0, 6.0]


def test_resps_format_gz_and_parquet_inputs(tmp_path, docstrings):
    records = [{"doc_id": i, "resps": [[t]], "doc": {"q": "x"}} for i, t in enumerate(docstrings[:5])]
    gz = tmp_path / "samples.jsonl.gz"
    with gzip.open(gz, "wt") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in records)
    out = tmp_path / "g.parquet"
    assert main(["run", "--feature", "char_len", "--input", str(gz), "--output", str(out), "--resps_format",
                 "--quiet"]) == 0
    assert pd.read_parquet(out)["id"].tolist() == ["0", "1", "2", "3", "4"]
    pq_in = tmp_path / "in.parquet"
    pd.DataFrame({"id": ["a", "b"], "text": docstrings[:2]}).to_parquet(pq_in)
    out2 = tmp_path / "p.parquet"
    assert main(["run", "--feature", "char_len", "--input", str(pq_in), "--output", str(out2), "--quiet"]) == 0
    assert pd.read_parquet(out2)["id"].tolist() == ["a", "b"]


def test_shards_then_aggregate(tmp_path, docs_jsonl, capsys):
    out = tmp_path / "tags" / "t.parquet"
    for i in range(3):
        assert main(["run", "--feature", "char_len,ttr", "--input", str(docs_jsonl), "--output", str(out),
                     "--shard", f"{i}/3", "--quiet"]) == 0
    files = sorted((tmp_path / "tags").glob("*.parquet"))
    assert [f.name for f in files] == [f"t-{i:05d}-of-00003.parquet" for i in range(3)]
    parts = pd.concat([pd.read_parquet(f) for f in files])
    assert sorted(parts["id"]) == sorted(f"doc{i}" for i in range(24))
    whole = tmp_path / "whole.parquet"
    assert main(["run", "--feature", "char_len,ttr", "--input", str(docs_jsonl), "--output", str(whole),
                 "--quiet"]) == 0
    j_sharded, j_whole = tmp_path / "s.json", tmp_path / "w.json"
    assert main(["aggregate", str(tmp_path / "tags"), "--id", "corpus", "--output", str(j_sharded)]) == 0
    assert main(["aggregate", str(whole), "--id", "corpus", "--output", str(j_whole)]) == 0
    fs, fw = json.loads(j_sharded.read_text())["features"], json.loads(j_whole.read_text())["features"]
    assert fs.keys() == fw.keys() and all(fs[k] == pytest.approx(fw[k]) for k in fs)
    # a missing shard is an error naming it (unless allowed)
    files[1].unlink()
    capsys.readouterr()
    assert main(["aggregate", str(tmp_path / "tags"), "--id", "c", "--output", str(tmp_path / "x.json")]) == 2
    assert "t-00001-of-00003.parquet" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
    assert main(["aggregate", str(tmp_path / "tags"), "--id", "c", "--output", str(tmp_path / "x.json"),
                 "--allow_missing_shards"]) == 0


def test_shard_output_names():
    assert shard_output_path("a/b.parquet", (3, 8)).name == "b-00003-of-00008.parquet"
    assert shard_output_path("a/b.parquet", None).name == "b.parquet"


def test_resume_refuses_different_options(tmp_path, docs_jsonl, capsys):
    out = tmp_path / "o.parquet"
    work = work_dir_for(out)
    work.mkdir()
    (work / "run.json").write_text(json.dumps({"features": ["tokens"]}))
    pd.DataFrame({"id": ["x"]}).to_parquet(work / "part-000000.parquet")
    assert main(["run", "--feature", "char_len", "--input", str(docs_jsonl), "--output", str(out), "--quiet"]) == 2
    assert "unfinished run with different" in capsys.readouterr().err
    assert main(["run", "--feature", "char_len", "--input", str(docs_jsonl), "--output", str(out), "--quiet",
                 "--overwrite"]) == 0
    assert len(pd.read_parquet(out)) == 24


def _cmd(input_: Path, output: Path, plugin_dir: Path, n_process: int) -> tuple[list[str], dict]:
    cmd = [sys.executable, str(REPO / "data_tagging" / "get_doc_level_features.py"), "--feature",
           "slow_len,char_len", "--plugin", "slow_plugin", "--input", str(input_), "--output", str(output),
           "--part_docs", "20", "--batch_size", "10", "--n_process", str(n_process), "--quiet"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin_dir), str(REPO)])}
    return cmd, env


@pytest.mark.parametrize("n_process", [1, 2])
def test_killed_run_resumes_to_identical_output(tmp_path, docstrings, n_process, jsonl):
    (tmp_path / "slow_plugin.py").write_text(SLOW_PLUGIN)
    texts = (docstrings * 4)[:200]
    data = jsonl(tmp_path / "d.jsonl", [{"id": f"k{i}", "text": t} for i, t in enumerate(texts)])
    out = tmp_path / "killed.parquet"
    cmd, env = _cmd(data, out, tmp_path, n_process)
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    progress = work_dir_for(out) / "progress.json"
    deadline = time.time() + 60
    while time.time() < deadline:
        if progress.exists() and json.loads(progress.read_text())["documents_done"] >= 60:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole group: parent and pool workers
    proc.wait()
    assert not out.exists()  # nothing that looks complete
    parts = sorted(work_dir_for(out).glob("part-*.parquet"))
    done = sum(pq.ParquetFile(p).metadata.num_rows for p in parts)  # complete parts are what resume trusts
    assert 60 <= done < 200 and done % 20 == 0
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"resumed after {done}" in result.stdout
    reference = tmp_path / "reference.parquet"
    cmd_ref, _ = _cmd(data, reference, tmp_path, 1)
    assert subprocess.run(cmd_ref, env=env, capture_output=True, timeout=120).returncode == 0
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(reference))
    assert pq.read_schema(out).names == pq.read_schema(reference).names
    assert not work_dir_for(out).exists()


def test_api_run_tagging_empty_input(tmp_path):
    empty = tmp_path / "e.jsonl"
    empty.write_text("\n")
    summary = run_tagging(empty, tmp_path / "e.parquet", "char_len,parse", progress=False)
    assert summary.documents == 0
    df = pd.read_parquet(tmp_path / "e.parquet")
    assert len(df) == 0 and "dep_parse_dep_head_dist_median" in df.columns


def test_summary_counts_skipped_documents(tmp_path, docstrings, jsonl, capsys):
    german = ("Die Katze sitzt auf dem Tisch und schaut aus dem Fenster, weil draußen die Vögel singen und "
              "der Hund im Garten schläft.")
    data = jsonl(tmp_path / "mix.jsonl", [{"text": docstrings[0]}, {"text": german}])
    out = tmp_path / "m.parquet"
    assert main(["run", "--feature", "parse", "--input", str(data), "--output", str(out), "--quiet"]) == 0
    assert "parse skipped, non-English (de, by lingua): 1 document(s)" in capsys.readouterr().out
    df = pd.read_parquet(out)
    assert df["parse_skip_reason"].isna().tolist() == [True, False]
