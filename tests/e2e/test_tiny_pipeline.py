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
    # the report on the combined store lists the new models with predictions on the paper's tasks
    report = out / "prediction" / "report"
    index = (report / "index.md").read_text(encoding="utf-8")
    section = index[index.index("## Models in the store without scores on these tasks"):]
    pred = pd.read_csv(report / "unscored_models_predictions.csv")
    tasks = {"arc_challenge", "hellaswag", "mmlu_5-shot"}
    for model in NEW:
        assert model in section, model
        mine = pred[pred.id == model]
        assert set(mine.task) == tasks and (mine.metric == "accuracy").all()
        for col in ("predicted", "lower", "upper"):
            assert mine[col].between(0, 1).all(), (model, col, mine[col].tolist())
        assert (mine.lower <= mine.predicted).all() and (mine.predicted <= mine.upper).all()
        assert (mine.upper - mine.lower > 0).all()              # a real interval from the CV residuals
        assert (mine.n_train_models > 80).all()                 # fit on the release's scored models
        assert mine.family.notna().all() and (mine.total_params > 0).all()
        assert mine.pct_code.iloc[0] == pytest.approx(80.0 if model.endswith("code80") else 20.0)
        assert (mine.n_generation_features >= 5).all()          # the generation features reached the predictor
    # a model is listed for a task only where the store has no score for it
    from performance_prediction.data import load_data

    data = load_data(out / "store.duckdb", metric="accuracy", sel_tasks=sorted(tasks))
    scored = set(zip(data.targets.task, data.targets.id, strict=False))
    assert not any((t, i) in scored for t, i in zip(pred.task, pred.id, strict=False))
