"""The LLM cascade with the real ``openai`` client against a local chat-completions server."""
from __future__ import annotations

import csv
import json

import pytest

from freegens.domains_cli import classify_main, main as domains_main


LANGS = ["--languages", "en,de,fr"]


def _args(server, docs, out, *extra):
    return ["--input", str(docs), "--output", str(out), "--base_url", server.base_url, "--model", "test-model",
            "--retry_base_delay", "0.01", "--timeout", "5", "--concurrency", "3", *LANGS, *extra]


def _read(path):
    with open(path, newline="") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


def test_cascade_labels_every_class_and_stops_at_first_yes(chat_server, sample_docs_jsonl, tmp_path, capsys,
                                                           monkeypatch, expected_labels):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-test-key-123")
    out = tmp_path / "out.csv"
    assert classify_main(_args(chat_server, sample_docs_jsonl, out)) == 0
    rows = _read(out)
    assert {k: r["prediction"] for k, r in rows.items()} == expected_labels
    assert rows["d-code"]["decided_at"] == "code" and rows["d-books"]["decided_at"] == "final"
    assert rows["d-reference"]["language"] == "en"
    # one call per stage until the first yes: incoherent doc 1 call, code 2, web 3, academic 4, others 5
    n_final = 5  # books, datasets, media, reference, unknown
    assert chat_server.stage_calls == {"incoherent": 9, "code": 8, "web": 7, "academic": 6, "final": n_final}
    err = capsys.readouterr().err
    assert "requests sent: 35" in err and "unparsed replies: 1" in err
    assert "sk-secret-test-key-123" not in err
    assert chat_server.auth_headers[0] == "Bearer sk-secret-test-key-123"  # the key is read from the environment


def test_rerun_is_answered_from_cache(chat_server, sample_docs_jsonl, tmp_path, capsys):
    out = tmp_path / "out.csv"
    assert classify_main(_args(chat_server, sample_docs_jsonl, out)) == 0
    first = out.read_text()
    chat_server.reset_counts()
    out.unlink()
    assert classify_main(_args(chat_server, sample_docs_jsonl, out)) == 0
    assert chat_server.requests == 0
    assert out.read_text() == first
    assert "answered from cache: 35" in capsys.readouterr().err


def test_retries_on_429_500_and_timeout(chat_server, sample_docs_jsonl, tmp_path, capsys, expected_labels):
    chat_server.failures.extend(["429", "500", "timeout", "429"])
    out = tmp_path / "out.csv"
    assert classify_main(_args(chat_server, sample_docs_jsonl, out, "--timeout", "1.5")) == 0
    assert {k: r["prediction"] for k, r in _read(out).items()} == expected_labels
    err = capsys.readouterr().err
    assert "429: 2" in err and "500: 1" in err and "timeout: 1" in err
    assert chat_server.answered == 35


def test_failures_resume_after_rerun_without_repeating_done_work(chat_server, sample_docs_jsonl, tmp_path,
                                                                 capsys, sample_docs):
    chat_server.fail_texts.add(sample_docs["d-books"])   # this document's requests always fail with 500
    out = tmp_path / "out.csv"
    rc = classify_main(_args(chat_server, sample_docs_jsonl, out, "--max_retries", "2"))
    assert rc == 1
    err = capsys.readouterr().err
    assert "error: 1 document(s) failed (first: d-books" in err and "rerun the same command to resume" in err
    assert not out.exists()                                  # no half output
    assert not list(tmp_path.glob(".out.csv.tmp*"))
    done_before = chat_server.answered
    chat_server.fail_texts.clear()
    chat_server.reset_counts()
    assert classify_main(_args(chat_server, sample_docs_jsonl, out)) == 0
    assert _read(out)["d-books"]["prediction"] == "books"
    # only d-books' 5 calls are sent again (other documents come from the cache; 4 of its calls never succeeded
    # before the failure, except the ones answered)
    assert chat_server.answered == 35 - done_before


def test_auth_error_is_not_retried(chat_server, sample_docs_jsonl, tmp_path, capsys):
    chat_server.failures.extend(["401"] * 20)
    out = tmp_path / "out.csv"
    assert classify_main(_args(chat_server, sample_docs_jsonl, out, "--concurrency", "1")) == 1
    assert "rejected the API key (HTTP 401): check OPENAI_API_KEY" in capsys.readouterr().err
    assert chat_server.requests == 1  # concurrency 1: the first failure stops the run
    assert not out.exists()


def test_missing_api_key_for_hosted_api(sample_docs_jsonl, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "out.csv"
    assert classify_main(["--input", str(sample_docs_jsonl), "--output", str(out), *LANGS]) == 1
    assert "set OPENAI_API_KEY" in capsys.readouterr().err
    assert not out.exists()


def test_resps_format_limit_and_njsl_subcommand(chat_server, tmp_path, sample_docs):
    gens = tmp_path / "gens.jsonl"
    with open(gens, "w") as fh:
        for i, text in enumerate(sample_docs.values()):
            fh.write(json.dumps({"doc_id": i, "resps": [[text]], "filtered_resps": [text]}) + "\n")
    out = tmp_path / "out.csv"
    assert domains_main(["classify", *_args(chat_server, gens, out, "--resps_format", "--limit", "3")]) == 0
    rows = _read(out)
    assert list(rows) == ["0", "1", "2"]
    assert [r["prediction"] for r in rows.values()] == ["incoherent", "code", "web"]


def test_missing_text_column_is_a_clear_error(chat_server, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "a", "body": "hello"}) + "\n")
    out = tmp_path / "out.csv"
    assert classify_main(_args(chat_server, bad, out)) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "text column 'text'" in err and "--text_column" in err
    assert chat_server.requests == 0 and not out.exists()


@pytest.mark.parametrize("flag,value,msg", [("--limit", "0", "--limit must be >= 1"),
                                            ("--languages", "en,xx", "unknown ISO 639-1 code 'xx'")])
def test_bad_flags(chat_server, sample_docs_jsonl, tmp_path, capsys, flag, value, msg):
    out = tmp_path / "out.csv"
    assert classify_main(_args(chat_server, sample_docs_jsonl, out, flag, value)) == 2
    assert msg in capsys.readouterr().err
    assert not out.exists()


def test_killed_run_resumes_from_the_cache(chat_server, sample_docs_jsonl, tmp_path):
    """SIGKILL the paper's script mid-run; the same command then sends only the requests not yet answered."""
    import os
    import signal
    import sqlite3
    import subprocess
    import sys
    import time
    from pathlib import Path

    import freegens

    script = Path(freegens.__file__).parent / "classify_domains_multistage.py"
    out = tmp_path / "out.csv"
    chat_server.delay = 0.05
    env = {**os.environ, "OPENAI_API_KEY": "sk-test", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(script), *_args(chat_server, sample_docs_jsonl, out,
                                                                 "--concurrency", "1")],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while chat_server.answered < 12 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert not out.exists()
    cached = sqlite3.connect(tmp_path / "out.csv.cache.sqlite").execute("SELECT count(*) FROM answers").fetchone()[0]
    assert 8 <= cached < 35  # answers received but not yet committed at the kill are asked again
    chat_server.delay = 0.0
    deadline = time.time() + 10
    while chat_server.inflight and time.time() < deadline:  # the killed client's last request may still finish
        time.sleep(0.02)
    time.sleep(0.05)
    chat_server.reset_counts()
    assert classify_main(_args(chat_server, sample_docs_jsonl, out)) == 0
    assert chat_server.answered == 35 - cached
    assert len(_read(out)) == 9


def test_concurrency_limit(chat_server, sample_docs_jsonl, tmp_path):
    chat_server.delay = 0.05
    out = tmp_path / "out.csv"
    assert classify_main(_args(chat_server, sample_docs_jsonl, out, "--concurrency", "3")) == 0
    assert 2 <= chat_server.max_inflight <= 3
