"""The store's MoE/HELM columns are selectable predictor features, never mistaken for pseudo features."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from performance_prediction.cli import _available
from performance_prediction.features import OPTIONAL_ARCH, FeatureEncoder, feature_set


def test_active_params_selectable_and_log_encoded():
    models = pd.DataFrame({"active_params": [1e8, np.nan, 4e8], "training_loss": ["helm", None, "cross_entropy"],
                           "num_experts": [8, 1, 1]}, index=["a", "b", "c"])
    available = _available(SimpleNamespace(pseudo_features=[], models=models))
    assert {"active_params", "training_loss", "num_experts"} <= set(available)
    assert not set(OPTIONAL_ARCH) & set(feature_set("all"))  # the paper's feature sets are unchanged
    enc = FeatureEncoder(["active_params", "training_loss"]).fit(models)
    out = enc.transform(models)
    assert out[0, 0] == np.float32(np.log(1e8)) and np.isnan(out[1, 0])
    assert enc.categories_["training_loss"] == ["cross_entropy", "helm"] and out[0, 1] == 1 and np.isnan(out[1, 1])


def test_optional_columns_are_not_pseudo_features(tmp_path):
    from model_metadata_db import AnalysisStore
    from performance_prediction.data import load_data

    db = tmp_path / "s.duckdb"
    with AnalysisStore.create(db) as store:
        for i in range(4):
            store.upsert_annotation({"id": f"m{i}", "total_params": 1e8 * (i + 1), "dimension": 512, "num_heads": 8,
                                     "mlp_ratio": 4.0, "sequence_length": 2048, "activation": "swiglu",
                                     "attention_variant": "full", "biases": "none", "block_type": "sequential",
                                     "layer_norm_type": "rmsnorm", "positional_embeddings": "rope",
                                     "is_instruction_tuned": False,
                                     # float columns with gaps: what load_data would take for pseudo features
                                     "active_params": 5e7 * (i + 1) if i else None, "num_experts": 8,
                                     "moe_top_k": 2, "training_loss": "helm" if i % 2 else "cross_entropy",
                                     "helm_alpha": 0.2 if i % 2 else None})
            store.upsert_dataset_info({"id": f"m{i}", "pretraining_summary_total_tokens_billions": 10.0 + i})
            store.upsert_rows("evaluation_results", [{"id": f"m{i}", "benchmark": "arc_challenge", "setting": "25-shot",
                                                      "metric": "accuracy", "metric_value": 0.3 + 0.01 * i}])
    data = load_data(db, metric="accuracy", min_models=1)
    assert not set(OPTIONAL_ARCH) & set(data.pseudo_features)
    assert data.models["active_params"].tolist()[1:] == [1e8, 1.5e8, 2e8]
    assert data.models["helm_alpha"].notna().sum() == 2
