"""The command lines as users type them: ``njsl tag ...`` and the paper's script, in subprocesses."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
NJSL = Path(sys.executable).with_name("njsl")


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def test_njsl_tag_list():
    out = subprocess.run([str(NJSL), "tag", "list"], capture_output=True, text=True, env=_env(), timeout=60)
    assert out.returncode == 0, out.stderr
    for name in ("char_len", "tokens", "parse", "keyword_ratios", "code_features", "edu_classifier", "set all"):
        assert name in out.stdout


def test_paper_script_all_features_two_processes(tmp_path, docs_jsonl):
    out = tmp_path / "feats.parquet"
    cmd = [sys.executable, str(REPO / "data_tagging" / "get_doc_level_features.py"), "--feature", "all",
           "--input", str(docs_jsonl), "--output", str(out), "--n_process", "2", "--batch_size", "8"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert res.returncode == 0, res.stderr
    df = pd.read_parquet(out)
    assert len(df) == 24 and df["id"].is_unique
    assert df["dep_parse_dep_head_dist_median"].notna().sum() >= 20
    assert df["numbers_ratio"].notna().all() and df["ttr"].between(0, 1).all()


def test_njsl_tag_without_subcommand_means_run_and_errors_exit_2(tmp_path, docs_jsonl):
    out = tmp_path / "c.parquet"
    ok = subprocess.run([str(NJSL), "tag", "--feature", "char_len", "--input", str(docs_jsonl), "--output",
                         str(out), "--quiet"], capture_output=True, text=True, env=_env(), timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert len(pd.read_parquet(out)) == 24
    bad = subprocess.run([str(NJSL), "tag", "run", "--feature", "bogus", "--input", str(docs_jsonl), "--output",
                          str(tmp_path / "b.parquet")], capture_output=True, text=True, env=_env(), timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --feature: unknown feature 'bogus'")
    assert "Traceback" not in bad.stderr
    missing = subprocess.run([str(NJSL), "tag", "run", "--feature", "char_len", "--input",
                              str(tmp_path / "nope.jsonl"), "--output", str(tmp_path / "n.parquet")],
                             capture_output=True, text=True, env=_env(), timeout=60)
    assert missing.returncode == 2 and "input not found" in missing.stderr
