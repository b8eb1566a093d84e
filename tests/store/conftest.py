"""Fixtures of the store tests: the paper's release loaded once per session (read-only use)."""
from __future__ import annotations

import pytest

from model_metadata_db import AnalysisStore


@pytest.fixture(scope="session")
def release_dir(shared):
    path = shared / "data" / "paper_db_2025_03_03"
    if not (path / "load.sql").is_file():
        pytest.skip(f"paper release not found at {path}")
    return path


@pytest.fixture(scope="session")
def release(release_dir):
    """The release imported into memory. Tests must not write to it (use release_copy for that)."""
    store = AnalysisStore.from_existing(release_dir)
    yield store
    store.close()


@pytest.fixture
def release_copy(release_dir):
    store = AnalysisStore.from_existing(release_dir)
    yield store
    store.close()


@pytest.fixture
def store():
    with AnalysisStore.create(None) as s:
        yield s


@pytest.fixture(scope="session")
def mini_release_dir(tmp_path_factory):
    """A small EXPORT DATABASE folder of our own with the release's quirks, for tests of behaviour (not of the
    release's facts), so they run without ../shared: load.sql names another machine's absolute paths, -1 marks
    missing values beside NULL, a checkpoint-path id and a case twin name one model, one score is NaN."""
    from model_metadata_db.conflicts import Incoming
    root = tmp_path_factory.mktemp("mini")
    folder = root / "paper_db"
    with AnalysisStore.create(None) as store:
        store.apply({
            "model_annotations": [Incoming(r, "mini") for r in (
                {"id": "org/a", "dimension": 512, "num_heads": 8, "mlp_ratio": -1.0, "total_params": 1_000_000,
                 "biases": "none"},
                {"id": "EleutherAI/pythia-410m", "dimension": 1024, "num_heads": 16, "total_params": 405_334_016},
                {"id": "llama2_460M_nl_code_shuf-hf", "dimension": 1024, "total_params": 460_000_000})],
            "dataset_info": [Incoming(r, "mini") for r in (
                {"id": "org/a", "pretraining_summary_total_tokens_billions": 10.0,
                 "pretraining_summary_percentage_web": -1.0},
                {"id": "EleutherAI/pythia-410m", "pretraining_summary_total_tokens_billions": 300.0})],
            "evaluation_results": [Incoming(r, "mini") for r in (
                {"id": "org/a", "benchmark": "hellaswag", "setting": "10-shot", "metric": "acc_norm",
                 "metric_value": 0.3, "metric_stderr": 0.01},
                {"id": "org/a", "benchmark": "anli_r1", "setting": "0-shot", "metric": "brier_score",
                 "metric_value": float("nan"), "metric_stderr": None},
                {"id": "EleutherAI/pythia-410M", "benchmark": "piqa", "setting": "0-shot", "metric": "accuracy",
                 "metric_value": 0.66, "metric_stderr": 0.01},
                {"id": "/data/tir/projects/tir5/users/mengyan3/dolma_checkpts/llama2_460M_nl_code_shuf-hf",
                 "benchmark": "piqa", "setting": "0-shot", "metric": "accuracy", "metric_value": 0.58,
                 "metric_stderr": 0.01})]}, canonical=False)
        store.export(folder)
    load = folder / "load.sql"
    load.write_text(load.read_text().replace(str(folder.resolve()), "/data/tir/elsewhere/2025_03_03.duckdb"))
    return folder
