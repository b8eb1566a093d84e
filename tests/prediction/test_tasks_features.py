import numpy as np
import pandas as pd
import pytest

from performance_prediction.errors import PredictionInputError
from performance_prediction.families import family_of, family_rule
from performance_prediction.features import FeatureEncoder, check_features
from performance_prediction.tasks import TaskSpec, build_targets, canonical_benchmark, resolve_aliases


def _scores(rows):
    return pd.DataFrame(rows, columns=["id", "benchmark", "setting", "metric", "metric_value"])


@pytest.mark.parametrize("order", [1, -1])
def test_alias_rule_canonical_wins_regardless_of_row_order(order):
    rows = [("m", "arc:challenge", "25-shot", "accuracy", 0.30), ("m", "arc_challenge", "25-shot", "accuracy", 0.55),
            ("n", "arc:challenge", "25-shot", "accuracy", 0.40)]
    resolved, conflicts = resolve_aliases(_scores(rows[::order]))
    got = resolved.set_index("id")["metric_value"]
    assert got["m"] == 0.55 and got["n"] == 0.40          # canonical wins; alias fills the gap
    assert set(resolved["benchmark"]) == {"arc_challenge"}
    assert len(conflicts) == 1 and conflicts["abs_diff"].iloc[0] == pytest.approx(0.25)


def test_canonical_names():
    assert canonical_benchmark("hendrycksTest-anatomy") == "mmlu_anatomy"
    assert canonical_benchmark("hellaswag") == "hellaswag"


def test_build_targets_means_parts_and_drops_nan():
    rows = [("m", "truthfulqa_mc1", "0-shot", "accuracy", 0.2), ("m", "truthfulqa_mc2", "0-shot", "accuracy", 0.4),
            ("m", "xnli_en", "0-shot", "brier_score", np.nan), ("m", "xnli_de", "0-shot", "brier_score", 0.6)]
    tasks = [TaskSpec("truthfulqa", "0-shot", "accuracy", parts=("truthfulqa_mc1", "truthfulqa_mc2")),
             TaskSpec("xnli", "0-shot", "brier_score", prefix="xnli_")]
    t = build_targets(_scores(rows), tasks).set_index("task")
    assert t.loc["truthfulqa", "value"] == pytest.approx(0.3) and t.loc["truthfulqa", "n_parts"] == 2
    assert t.loc["xnli", "value"] == pytest.approx(0.6) and t.loc["xnli", "n_parts"] == 1


def test_encoder_is_fit_on_training_fold_only():
    train = pd.DataFrame({"activation": ["gelu", "swiglu", None], "total_params": [1e9, 1e10, np.nan],
                          "dimension": [1.0, 2.0, np.nan]})
    test = pd.DataFrame({"activation": ["relu", "gelu", None], "total_params": [1e8, -1.0, 1e9],
                         "dimension": [3.0, 4.0, 5.0]})
    enc = FeatureEncoder(["activation", "total_params", "dimension"]).fit(train)
    Z = enc.transform(test)
    assert np.isnan(Z[0, 0])               # category unseen in the training fold -> missing
    assert Z[1, 0] == 0.0                  # gelu is code 0 of the training categories
    assert np.isnan(Z[2, 0])               # missing stays missing (never a code, never -1)
    assert Z[0, 1] == pytest.approx(np.log(1e8)) and np.isnan(Z[1, 1])   # log; non-positive -> missing


def test_unknown_feature_message_names_it_and_suggests():
    with pytest.raises(PredictionInputError, match=r"unknown feature\(s\) 'dimensoin'.*did you mean 'dimension'"):
        check_features(["total_params", "dimensoin"], ["total_params", "dimension"])


@pytest.mark.parametrize("mid,fam", [("EleutherAI/pythia-1.4b-deduped", "eleutherai/pythia"),
                                     ("EleutherAI/pythia-70m", "eleutherai/pythia"),
                                     ("meta-llama/Llama-2-13b-hf", "meta-llama/llama-2"),
                                     ("Salesforce/codegen-350M-mono", "salesforce/codegen"),
                                     ("mistralai/Mixtral-8x7B-v0.1", "mistralai/mixtral"),
                                     ("bigscience/bloom-1b7", "bigscience/bloom"),
                                     ("llama2_220M_nl_0_code_100", "llama2")])
def test_family_rule(mid, fam):
    assert family_rule(mid) == fam


def test_family_override_table():
    assert family_of("allenai/tulu-2-70b") == "meta-llama/llama-2"
    assert family_of("Qwen/Qwen2.5-3B") == family_of("Qwen/Qwen1.5-110B")
    assert family_of("x/y-7b", overrides={"x/y-7b": "z"}) == "z"
