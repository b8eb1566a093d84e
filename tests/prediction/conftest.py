"""Fixtures for the predictor tests: a tiny synthetic store and the shared release path."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


def make_store(path=None, n_models: int = 40, tasks=("arc_challenge",), seed: int = 0):
    """A store with ``n_models`` synthetic models in 8 families whose score rises with log params."""
    from model_metadata_db import AnalysisStore

    rng = np.random.default_rng(seed)
    store = AnalysisStore.create(path)
    evals, anns, infos = [], [], []
    with store.transaction():
        for i in range(n_models):
            mid = f"org{i % 8}/fam{i % 8}-{i + 1}b"
            params = float(10 ** rng.uniform(8, 10.5))
            tokens = float(10 ** rng.uniform(1.5, 3.5))
            code = float(rng.uniform(0, 40))
            anns.append({"id": mid, "total_params": int(params), "dimension": 1024 * (1 + i % 3),
                                     "num_heads": 16, "activation": ["swiglu", "gelu"][i % 2],
                                     "layer_norm_type": "rmsnorm", "is_instruction_tuned": False})
            infos.append({"id": mid, "pretraining_summary_total_tokens_billions": tokens,
                                       "pretraining_summary_percentage_code": code,
                                       "pretraining_summary_percentage_web": 100 - code})
            score = 0.1 * np.log10(params) + 0.05 * np.log10(tokens) - 0.002 * code + rng.normal(0, 0.01)
            for task in tasks:
                setting = {"arc_challenge": "25-shot", "hellaswag": "10-shot"}.get(task, "0-shot")
                evals.append({"id": mid, "benchmark": task, "setting": setting, "metric": "accuracy",
                              "metric_value": float(np.clip(score - 0.5, 0, 1)), "metric_stderr": 0.01})
        store.upsert_rows("model_annotations", anns)
        store.upsert_rows("dataset_info", infos)
        store.add_eval_results(evals)
    return store


@pytest.fixture
def store_factory():
    """``make_store`` as a fixture (test modules cannot import conftest under import-mode=importlib)."""
    return make_store


@pytest.fixture(scope="session")
def tiny_store_path(tmp_path_factory):
    """Built once per session; the predictor only reads it."""
    path = tmp_path_factory.mktemp("store") / "tiny.duckdb"
    make_store(path, tasks=("arc_challenge", "hellaswag")).close()
    return path


@pytest.fixture(scope="session")
def release(shared):
    path = shared / "data" / "paper_db_2025_03_03"
    if not path.is_dir():
        pytest.skip(f"paper release not found at {path}")
    return path
