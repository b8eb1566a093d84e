"""The report's section "Models in the store without scores on these tasks" (and its CSV)."""
from __future__ import annotations

import pandas as pd
import pytest

from performance_prediction.cli import main

NEW = "lab/planned-1b-code30"        # annotated, params + tokens, no score anywhere
PARTIAL = "org0/fam0-999b"           # scored on arc_challenge only


def _add_models(store, with_partial: bool = True) -> None:
    anns = [{"id": NEW, "total_params": int(1.1e9), "dimension": 2048, "num_heads": 16, "activation": "swiglu",
             "layer_norm_type": "rmsnorm", "is_instruction_tuned": False}]
    infos = [{"id": NEW, "pretraining_summary_total_tokens_billions": 300.0,
              "pretraining_summary_percentage_code": 30.0, "pretraining_summary_percentage_web": 70.0}]
    evals = []
    if with_partial:
        anns.append({**anns[0], "id": PARTIAL, "total_params": int(3e9)})
        infos.append({**infos[0], "id": PARTIAL, "pretraining_summary_percentage_code": 5.0})
        evals.append({"id": PARTIAL, "benchmark": "arc_challenge", "setting": "25-shot", "metric": "accuracy",
                      "metric_value": 0.4, "metric_stderr": 0.01})
    with store.transaction():
        store.upsert_rows("model_annotations", anns)
        store.upsert_rows("dataset_info", infos)
        if evals:
            store.add_eval_results(evals)


@pytest.fixture
def store_with_new(tmp_path, store_factory):
    """conftest's synthetic store (40 models in 8 families, scored on both tasks) + NEW and PARTIAL."""
    path = tmp_path / "store.duckdb"
    store = store_factory(path, tasks=("arc_challenge", "hellaswag"))
    _add_models(store)
    store.close()
    return path


def _report(db, out, *extra) -> int:
    return main(["report", "--db_path", str(db), "--out", str(out), "--metrics", "accuracy", "--n_seeds", "1",
                 "--paper_only", "--n_jobs", "1", "--paper_port_seeds", *extra])


def test_unscored_models_listed_with_prediction_and_interval(store_with_new, tmp_path):
    out = tmp_path / "report"
    assert _report(store_with_new, out) == 0
    table = pd.read_csv(out / "unscored_models_predictions.csv")
    # the new model on both tasks, the partly scored one only where it lacks a score, no fully scored model
    assert sorted(zip(table.id, table.task, strict=False)) == [(NEW, "arc_challenge"), (NEW, "hellaswag"), (PARTIAL,
                                                                                                            "hellaswag")]
    assert table.predicted.between(0, 1).all()
    assert (table.lower <= table.predicted).all() and (table.predicted <= table.upper).all()
    assert (table.upper > table.lower).all()
    # fit on every scored model of the task (PARTIAL is scored on arc_challenge)
    assert dict(zip(table.task, table.n_train_models, strict=False)) == {"arc_challenge": 41, "hellaswag": 40}
    row = table[table.id == NEW].iloc[0]
    assert row.family == "lab/planned" and row.total_params == pytest.approx(1.1e9)
    assert row.tokens_billions == 300 and row.pct_code == 30 and row.pct_web == 70
    # --paper_only runs no law: the headline does not call its reference column one
    index = (out / "index.md").read_text(encoding="utf-8")
    assert "reference = `xgb_scaling` (no scaling law in this run)" in index and "best pure law `" not in index
    assert row.predictor == "xgb_all" and row.scheme_of_residuals == "family"

    # the interval is the report's own family-CV conformal quantile (the same machinery as predict-model)
    from performance_prediction.conformal import interval_half_widths

    preds = pd.read_csv(out / "predictions.csv")
    q = interval_half_widths(preds, "xgb_all", "family", 0.1)
    for r in table.itertuples():
        if r.lower > 0 and r.upper < 1:     # not clipped at the range of the metric
            assert (r.upper - r.lower) / 2 == pytest.approx(q[r.task], rel=1e-6)

    index = (out / "index.md").read_text(encoding="utf-8")
    section = index[index.index("## Models in the store without scores on these tasks"):]
    section = section[:section.index("\n## ", 1)]
    assert NEW in section and PARTIAL in section and "unscored_models_predictions.csv" in section
    assert "org1/fam1-2b" not in section                   # scored everywhere: not listed
    new_row = next(line for line in section.splitlines() if line.startswith(f"| {NEW} | ") and "[" in line)
    assert new_row.count("[") == 2                          # a prediction [interval] on each task


def test_ids_restricts_and_fully_scored_id_gives_empty_section(store_with_new, tmp_path):
    out = tmp_path / "only_partial"
    assert _report(store_with_new, out, "--sel_tasks", "hellaswag", "--ids", PARTIAL) == 0
    table = pd.read_csv(out / "unscored_models_predictions.csv")
    assert list(table.id) == [PARTIAL] and list(table.task) == ["hellaswag"]
    out2 = tmp_path / "scored"
    assert _report(store_with_new, out2, "--sel_tasks", "hellaswag", "--ids", "org1/fam1-2b") == 0
    assert pd.read_csv(out2 / "unscored_models_predictions.csv").empty
    assert "None: every such model is scored" in (out2 / "index.md").read_text(encoding="utf-8")


def test_unknown_id_is_an_error_before_any_work(store_with_new, tmp_path, capsys):
    out = tmp_path / "bad"
    assert _report(store_with_new, out, "--ids", "lab/planned-1b-code3") == 2
    err = capsys.readouterr().err
    assert "--ids" in err and "'lab/planned-1b-code3'" in err and NEW in err   # names it, suggests the close id
    assert not out.exists()                                # nothing written


@pytest.mark.slow
def test_release_plus_synthetic_model(release, tmp_path):
    """The shared release in a store + one synthetic annotated model without scores."""
    from model_metadata_db import AnalysisStore
    from model_metadata_db.importers.export_folder import import_export_folder

    db = tmp_path / "store.duckdb"
    store = AnalysisStore.create(db)
    import_export_folder(store, release)
    _add_models(store, with_partial=False)
    store.close()
    out = tmp_path / "report"
    assert _report(db, out, "--sel_tasks", "winogrande", "--n_jobs", "2") == 0
    table = pd.read_csv(out / "unscored_models_predictions.csv")
    assert NEW in set(table.id)
    # the release's own models without a winogrande score are listed too (three have no score at all)
    assert {"TinyLlama/TinyLlama-1.1B-Chat-v1.0", "llama2_220M_nl_60_code_40"} <= set(table.id)
    assert "EleutherAI/pythia-160m" not in set(table.id)   # scored on winogrande
    # scored under its checkpoint path: the store's alias table gives the scores to the model, not "predicted"
    assert "llama2_460M_nl_code_shuf-hf" not in set(table.id)
    row = table[table.id == NEW].iloc[0]
    # 96 before the alias table; + llama2_460M_nl_code_shuf-hf and meta-llama/Llama-2-7b-hf (model_aliases.csv)
    assert 0 <= row.lower < row.predicted < row.upper <= 1 and row.n_train_models == 98
