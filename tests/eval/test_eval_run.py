"""A real lm-eval run on a tiny model (local tasks), the CLI, and its bad-input paths."""
from __future__ import annotations

import json

import pytest

from model_metadata_db import AnalysisStore
from pretraining.evaluate import eval_cli
from pretraining.evaluate.lm_eval import ModelFolderError, check_model_folder, score_rows


def test_results_json_is_lm_eval_04_with_per_task_shots(eval_run):
    data = json.loads(eval_run.results_path.read_text())
    assert data["lm_eval_version"].startswith("0.4")
    assert set(data["results"]) == {"njsl_stdlib_nextline", "njsl_docstring_continuation"}  # wrapper dropped
    assert data["n-shot"] == {"njsl_stdlib_nextline": 2, "njsl_docstring_continuation": 0}
    assert data["config"]["model_args"]["pretrained"].endswith("model")
    for metrics in data["results"].values():
        assert 0 <= metrics["acc,none"] <= 1 and metrics["sample_len"] == 8
        assert metrics["brier_score,none"] >= 0
    rows = score_rows(data, "org/tiny")
    assert {(r["benchmark"], r["setting"], r["metric"]) for r in rows} >= {
        ("njsl_stdlib_nextline", "2-shot", "accuracy"), ("njsl_docstring_continuation", "0-shot", "brier_score")}


def test_log_samples_written_per_task(eval_run):
    names = sorted(p.name for p in eval_run.sample_paths)
    assert names == ["samples_njsl_docstring_continuation.jsonl", "samples_njsl_stdlib_nextline.jsonl"]
    lines = [json.loads(x) for x in eval_run.sample_paths[1].read_text().splitlines()]
    assert len(lines) == 8
    # 2-shot: the prompt holds two solved examples before the item's own context
    prompt = lines[0]["arguments"][0][0] if isinstance(lines[0]["arguments"][0], list) else \
        lines[0]["arguments"]["gen_args_0"]["arg_0"]
    assert prompt.endswith(lines[0]["doc"]["context"]) and len(prompt) > len(lines[0]["doc"]["context"])


def test_model_folder_checks(tiny_model, tiny_model_no_tokenizer, tmp_path):
    assert check_model_folder(tiny_model) == tiny_model
    with pytest.raises(ModelFolderError, match="has no tokenizer .*pass --tokenizer PATH"):
        check_model_folder(tiny_model_no_tokenizer)
    assert check_model_folder(tiny_model_no_tokenizer, tokenizer=tiny_model) == tiny_model_no_tokenizer
    with pytest.raises(ModelFolderError, match="has no config.json"):
        check_model_folder(tmp_path)
    with pytest.raises(ModelFolderError, match="model folder not found"):
        check_model_folder(tmp_path / "nope")


def _store_with_one_row(path):
    store = AnalysisStore.create(path)
    store.add_eval_results([{"id": "org/other", "benchmark": "hellaswag", "setting": "10-shot",
                             "metric": "accuracy", "metric_value": 0.5, "metric_stderr": 0.01}])
    store.close()
    return path.read_bytes()


@pytest.mark.parametrize("case", ["no_tokenizer", "unknown_task", "no_model_id"])
def test_cli_bad_input_writes_nothing(case, tiny_model, tiny_model_no_tokenizer, tmp_path, capsys):
    db = tmp_path / "store.duckdb"
    before = _store_with_one_row(db)
    out = tmp_path / "out"
    model, tasks, extra, message = {
        "no_tokenizer": (tiny_model_no_tokenizer, "njsl-local", ["--model_id", "org/m"], "has no tokenizer"),
        "unknown_task": (tiny_model, "njsl-local,not_a_task", ["--model_id", "org/m"], "unknown task 'not_a_task'"),
        "no_model_id": (tiny_model, "njsl-local", [], "--db needs --model_id"),
    }[case]
    rc = eval_cli.main([str(model), tasks, str(out), "--db", str(db), "--limit", "2", *extra])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not out.exists()
    assert db.read_bytes() == before


def test_cli_list_groups(capsys):
    assert eval_cli.main(["--list_groups"]) == 0
    out = capsys.readouterr().out
    assert "leaderboard-v1" in out and "arc_challenge:25" in out and "reasoning-mcq" in out


def test_humaneval_needs_explicit_confirmation(tiny_model, tmp_path, capsys):
    assert eval_cli.main([str(tiny_model), "humaneval", str(tmp_path / "o")]) == 2
    assert "--allow_code_execution" in capsys.readouterr().err


def test_eval_model_sh_is_the_same_command(tiny_model_no_tokenizer, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "demo_scripts" / "eval_model.sh"
    usage = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert usage.returncode == 2 and "<task group or tasks>" in usage.stderr
    env = {"PYTHON": sys.executable, "PATH": "/usr/bin:/bin"}
    bad = subprocess.run(["bash", str(script), str(tiny_model_no_tokenizer), "njsl-local", str(tmp_path / "o")],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "has no tokenizer" in bad.stderr and not (tmp_path / "o").exists()
