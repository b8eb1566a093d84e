"""The what-if YAML spec: every bad field is named, a good spec becomes one model-table row."""
from __future__ import annotations

import pytest

from performance_prediction.errors import PredictionInputError
from performance_prediction.what_if import load_spec


@pytest.mark.parametrize("text,message", [
    ("- a list\n", "expected a mapping with total_params"),
    ("tokens_billions: 100\n", "field 'total_params' is required"),
    ("total_params: lots\ntokens_billions: 100\n", "field 'total_params' must be a number, got 'lots'"),
    ("total_params: 1e9\ntokens_billions: 100\nparams: 3\n", "unknown field(s) params"),
    ("total_params: 1e9\ntokens_billions: 100\ndata: [1, 2]\n", "field 'data' must be a mapping"),
    ("total_params: 1e9\ntokens_billions: 100\ndata: {code: 120}\n", "data.code = 120.0 is not a percentage"),
    ("total_params: 1e9\ntokens_billions: 100\narchitecture: {num_heads: 0}\n",
     "field 'num_heads' must be > 0"),
    ("total_params: 1e9\ntokens_billions: 100\npseudo: {ttr: high}\n", "field 'ttr' must be a number"),
])
def test_bad_spec_names_the_field(tmp_path, text, message):
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    with pytest.raises(PredictionInputError) as err:
        load_spec(spec)
    assert str(err.value).startswith(f"spec {spec}") and message in str(err.value), str(err.value)
    assert [p.name for p in tmp_path.iterdir()] == ["spec.yaml"]  # nothing written


def test_good_spec_is_one_row_in_store_columns(tmp_path):
    spec = tmp_path / "planned.yaml"
    spec.write_text("total_params: 1.1e9\ntokens_billions: '100'\narchitecture: {dimension: 2048, activation: swiglu}\n"
                    "data: {web: 60, code: 30}\npseudo: {question_words_ratio: 0.01}\n")
    row = load_spec(spec)
    assert list(row.index) == ["planned"]
    r = row.iloc[0]
    assert r["total_params"] == 1.1e9 and r["pretraining_summary_total_tokens_billions"] == 100
    assert r["dimension"] == 2048 and r["activation"] == "swiglu" and r["question_words_ratio"] == 0.01
    assert r["pretraining_summary_percentage_code"] == 30
