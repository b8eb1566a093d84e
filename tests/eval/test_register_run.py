"""`njsl register-run`: annotation + data composition + evals of a run, in one transaction."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from model_metadata_db import AnalysisStore, StoreError
from pretraining.evaluate import register_run as rr
from pretraining.evaluate.lm_eval import score_rows
from pretraining.evaluate.annotation import annotation_from_model_config
from pretraining.models.run_config import load_run_config

REPO = Path(__file__).resolve().parents[2]


def make_run_dir(root: Path, results_json: Path, *, model_id="njsl-test/tiny-nl80", finished=True) -> Path:
    """A run directory in the trainer's layout (docs/CONTRACTS.md) for an 80/20 NL/code mix."""
    run = root / "run"
    (run / "checkpoints" / "step_10").mkdir(parents=True)
    mix = root / "nl80_code20.yaml"
    mix.write_text("name: nl80_code20\ndomains:\n"
                   "  - {name: nl, weight: 80, path: data/nl_text_document, category: web}\n"
                   "  - {name: code, weight: 20, path: data/code_text_document, category: code}\n")
    cfg = load_run_config(REPO / "pretraining/configs/models/tiny_cpu.yaml")
    cfg.model.vocab_size = 512
    cfg.data.path, cfg.data.tokenizer = str(mix), "tok"
    (run / "config.yaml").write_text(cfg.to_yaml())
    (run / "run_info.json").write_text(json.dumps({
        "model_id": model_id, "mix": str(mix), "tokens_seen": 2_000_000, "steps_done": 10 if finished else 4,
        "total_steps": 10, "finished": finished, "last_checkpoint": str(run / "checkpoints" / "step_10")}))
    (run / "eval" / "local").mkdir(parents=True)
    shutil.copy(results_json, run / "eval" / "local" / "results.json")
    (run / "eval" / "perplexity_stdlib.json").write_text(json.dumps({"loss": 5.0, "perplexity": 148.41,
                                                                     "tokens": 1000}))
    return run


def _records(frame) -> list[dict]:
    return frame.astype(object).where(frame.notna(), None).to_dict("records")  # NaN != NaN; None == None


def snapshot(db: Path) -> dict:
    with AnalysisStore.from_existing(db) as store:
        return {"ann": _records(store.annotations()), "data": _records(store.dataset_info()),
                "scores": _records(store.scores()), "counts": store.counts()}


@pytest.fixture
def db(tmp_path) -> Path:
    """A store that already holds another model, so 'unchanged' is checked against real content."""
    path = tmp_path / "store.duckdb"
    with AnalysisStore.create(path) as store:
        store.upsert_annotation({"id": "org/other", "dimension": 64, "num_heads": 4})
        store.add_eval_results([{"id": "org/other", "benchmark": "hellaswag", "setting": "10-shot",
                                 "metric": "accuracy", "metric_value": 0.5, "metric_stderr": 0.01}])
    return path


def test_register_writes_annotation_composition_and_evals(tmp_path, eval_run, db, capsys):
    run = make_run_dir(tmp_path, eval_run.results_path)
    assert rr.main([str(run), "--db", str(db)]) == 0
    assert "registered njsl-test/tiny-nl80" in capsys.readouterr().out
    with AnalysisStore.from_existing(db) as store:
        ann = store.annotations().set_index("id").loc["njsl-test/tiny-nl80"]
        expected = annotation_from_model_config(load_run_config(run / "config.yaml"), "njsl-test/tiny-nl80")
        assert ann["dimension"] == expected["dimension"] == 256 and ann["num_layers"] == 4
        assert ann["attention_variant"] == expected["attention_variant"] and ann["total_params"] > 0
        info = store.dataset_info().set_index("id").loc["njsl-test/tiny-nl80"]
        assert info["pretraining_summary_percentage_web"] == pytest.approx(80)
        assert info["pretraining_summary_percentage_code"] == pytest.approx(20)
        assert info["pretraining_summary_total_tokens_billions"] == pytest.approx(0.002)
        scores = store.scores(ids=["njsl-test/tiny-nl80"])
        assert len(scores) == len(score_rows(eval_run.results)) + 1
        ppl = scores[scores.benchmark == "heldout_stdlib"].iloc[0]
        assert (ppl.setting, ppl.metric, ppl.metric_value) == ("0-shot", "perplexity", pytest.approx(148.41))
    before = snapshot(db)
    assert rr.main([str(run), "--db", str(db)]) == 0  # registering again changes nothing
    assert snapshot(db) == before


def _old_results(path: Path) -> None:
    path.write_text(json.dumps({"results": {"njsl_stdlib_nextline": {"acc": 0.25, "acc_stderr": 0.1}},
                                "versions": {"njsl_stdlib_nextline": 0},
                                "config": {"model": "hf-causal", "model_args": "pretrained=x"}}))


@pytest.mark.parametrize("case, message", [
    ("unfinished", "has no finished checkpoint: run_info.json says finished=false (step 4 of 10)"),
    ("no_checkpoint", "has no finished checkpoint"),
    ("no_run_info", "not a training run directory"),
    ("old_lm_eval", "lm-eval 0.3"),
    ("bad_config", "model.num_heads"),
    ("moved_mix", "give the mix with --mix PATH"),
])
def test_bad_run_dir_leaves_store_unchanged(case, message, tmp_path, eval_run, db, capsys):
    run = make_run_dir(tmp_path, eval_run.results_path, finished=case != "unfinished")
    if case == "no_checkpoint":
        shutil.rmtree(run / "checkpoints")
    elif case == "no_run_info":
        (run / "run_info.json").unlink()
    elif case == "old_lm_eval":
        _old_results(run / "eval" / "local" / "results_old.json")
    elif case == "moved_mix":
        (tmp_path / "nl80_code20.yaml").rename(tmp_path / "elsewhere.yaml")
    elif case == "bad_config":
        text = (run / "config.yaml").read_text().replace("num_heads: 4", "num_heads: -4")
        (run / "config.yaml").write_text(text)
    before = snapshot(db)
    assert rr.main([str(run), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert snapshot(db) == before


def test_failure_inside_the_transaction_rolls_everything_back(tmp_path, eval_run, db, monkeypatch):
    run = make_run_dir(tmp_path, eval_run.results_path)
    record = rr.collect_run(run)

    def broken_import(store, path, model_id=None):
        raise StoreError(f"{path}: simulated failure after the annotation was written")

    monkeypatch.setattr("model_metadata_db.importers.import_lm_eval_results", broken_import)
    before = snapshot(db)
    with AnalysisStore.from_existing(db) as store, pytest.raises(StoreError, match="simulated failure"):
        rr.register(store, record)
    assert snapshot(db) == before


def test_run_on_a_single_prefix_stores_tokens_without_composition(tmp_path, eval_run, db):
    run = make_run_dir(tmp_path, eval_run.results_path)
    info = json.loads((run / "run_info.json").read_text())
    info["mix"] = str(tmp_path / "data" / "all_text_document")
    (run / "run_info.json").write_text(json.dumps(info))
    record, _ = rr.register_run(run, db, model_id="njsl-test/single")
    assert any("composition unknown" in n for n in record.notes)
    with AnalysisStore.from_existing(db) as store:
        row = store.dataset_info().set_index("id").loc["njsl-test/single"]
        assert row["pretraining_summary_total_tokens_billions"] == pytest.approx(0.002)
        assert row.isna()["pretraining_summary_percentage_code"]


def test_db_is_required(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("NJSL_DB", raising=False)
    assert rr.main([str(tmp_path)]) == 2
    assert "--db" in capsys.readouterr().err


def test_path_like_model_id_is_refused(tmp_path, eval_run, db, capsys):
    run = make_run_dir(tmp_path, eval_run.results_path)
    before = snapshot(db)
    assert rr.main([str(run), "--db", str(db), "--model_id", "/abs/path/model"]) == 2
    assert "is a filesystem path" in capsys.readouterr().err
    assert snapshot(db) == before
