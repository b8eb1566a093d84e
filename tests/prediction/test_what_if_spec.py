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
    ("total_params: true\n", "field 'total_params' must be a number, got True"),
    ("total_params: .inf\n", "field 'total_params' must be a finite number"),
    ("total_params: 1e9\narchitecture: 3\n", "field 'architecture' must be a mapping"),
    ("total_params: 1e9\ndata: {wbe: 3}\n", "unknown field 'data.wbe'; allowed: web, code"),
    ("total_params: 1e9\nfoo: 1\nbar: 2\n", "unknown field(s) bar, foo"),
    ("models:\n  - {id: a, total_params: 1e9}\n  - {id: b, total_params: -1}\n",
     "item 2 (id 'b'): field 'total_params' must be > 0"),
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


def test_csv_row_and_yaml_spec_are_one_model(tmp_path):
    """A CSV row is sorted into the YAML spec's sections (store long names and pseudo columns too)."""
    csv = tmp_path / "plans.csv"
    csv.write_text("id,total_params,tokens_billions,dimension,activation,pretraining_summary_percentage_code,web,"
                   "question_words_ratio\nx,1.1e9,,2048,swiglu,30,60,0.01\n")
    yml = tmp_path / "x.yaml"
    yml.write_text("total_params: 1.1e9\narchitecture: {dimension: 2048, activation: swiglu}\n"
                   "data: {web: 60, code: 30}\npseudo: {question_words_ratio: 0.01}\n")
    from_csv, from_yaml = load_spec(csv), load_spec(yml)
    # tokens not given in either: NaN (compared as -1)
    assert from_csv.fillna(-1).to_dict("records") == from_yaml.fillna(-1).to_dict("records")
    assert list(from_csv.index) == ["x"] and from_csv.iloc[0]["pretraining_summary_percentage_code"] == 30
