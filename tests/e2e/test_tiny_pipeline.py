"""The closed loop on CPU: demo_scripts/tiny_pipeline.sh end to end, then its outputs are checked."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
NEW = ["njsl-tiny/nl20_code80", "njsl-tiny/nl80_code20"]


@pytest.mark.slow
def test_tiny_pipeline_end_to_end(tmp_path, shared):
    out = tmp_path / "pipeline"
    env = {**os.environ, "NJSL_SHARED_DIR": str(shared), "PYTHON": sys.executable,
           "TRAIN_STEPS": "30", "EVAL_LIMIT": "20", "NUM_GENERATIONS": "8"}
    proc = subprocess.run(["bash", str(REPO / "demo_scripts" / "tiny_pipeline.sh"), str(out)], env=env,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]

    from model_metadata_db import AnalysisStore

    with AnalysisStore.from_existing(out / "store.duckdb") as store:
        ann = store.annotations().set_index("id")
        assert len(ann) > 100 and set(NEW) <= set(ann.index)  # the paper's release + the two new models
        assert (ann.loc[NEW, "dimension"] == 128).all() and (ann.loc[NEW, "num_layers"] == 4).all()
        assert (ann.loc[NEW, "total_params"] > 0).all()
        info = store.dataset_info().set_index("id")
        code = info.loc[NEW, "pretraining_summary_percentage_code"]
        assert code.tolist() == pytest.approx([80.0, 20.0])
        assert (info.loc[NEW, "pretraining_summary_percentage_reference"] == 100 - code).all()
        assert (info.loc[NEW, "pretraining_summary_total_tokens_billions"] > 0).all()
        scores = store.scores(ids=NEW)
        for model in NEW:
            got = set(scores[scores.id == model].benchmark)
            assert {"njsl_stdlib_nextline", "njsl_docstring_continuation", "heldout_stdlib_code",
                    "heldout_stdlib_nl"} <= got, (model, got)
        feats = store.features("model")
        for model in NEW:
            names = set(feats[feats.id == model].feature)
            assert any(n.startswith("domain_") for n in names), (model, names)
            assert len(names) >= 5
    pred = pd.read_csv(out / "prediction" / "new_models_predictions.csv")
    assert set(pred.id) == set(NEW)
    assert pred.predicted.notna().all() and pred.task.nunique() >= 5
