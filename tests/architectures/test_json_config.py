"""JSON model configs: the layout maps onto the trainer's config; every bad key is named."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pretraining.config import ConfigError
from pretraining.models.json_layout import (JsonConfigError, layout_from_model_config, model_config_from_layout,
                                            run_config_from_layout)
from pretraining.models.run_config import load_run_config

EXAMPLES = Path(__file__).resolve().parents[2] / "pretraining" / "configs" / "json_examples"
ISSUE_EXAMPLE = {"model_type": "transformer", "mode": "mlm", "tokenizer": "3mer", "helm": False,
                 "model_config": {"model": "gpt2", "d_model": 640, "n_layer": 10, "d_intermediate": 2560,
                                  "pos_embedding": "absolute", "max_position_embeddings": 2048,
                                  "bidirectional": True}}


def test_issue_example_maps_to_store_vocabulary():
    cfg = run_config_from_layout(ISSUE_EXAMPLE)
    m = cfg.model
    assert (m.family, m.objective, m.dimension, m.num_layers, m.ffn_hidden_size) == ("transformer", "mlm", 640, 10,
                                                                                     2560)
    assert (m.num_heads, m.positional_embeddings, m.layer_norm_type, m.sequence_length) == (10, "learned",
                                                                                           "layernorm", 2048)
    assert m.vocab_size == 73 and m.extra == {"mask_token_id": 4}  # 3mer vocabulary and its mask token
    assert cfg.data.tokenizer == "3mer"


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_shipped_examples_load(path):
    cfg = load_run_config(path)  # the trainer's loader hands a JSON layout to run_config_from_layout
    raw = json.loads(path.read_text())
    assert cfg.model.family == raw["model_type"] and cfg.model.objective == raw["mode"]
    assert cfg.model.vocab_size is not None


@pytest.mark.parametrize("family,mode", [(f, m) for f in ("transformer", "mamba", "hyena") for m in ("clm", "mlm")])
def test_layout_round_trip(family, mode):
    layout = {"model_type": family, "mode": mode, "tokenizer": "6mer", "model_config": {"preset": "20M"}}
    cfg = model_config_from_layout(layout, vocab_size=4105)
    again = model_config_from_layout(layout_from_model_config(cfg, "6mer"), vocab_size=4105)
    assert again == cfg


@pytest.mark.parametrize("change,message", [
    ({"modle_type": "x"}, "modle_type: unknown top-level key"),
    ({"model_type": "rwkv"}, "model_type: unknown value 'rwkv'"),
    ({"mode": "prefix"}, "mode: unknown value 'prefix'"),
    ({"helm": "no"}, "helm: expected true or false"),
    ({"tokenizer": 3}, "tokenizer: expected"),
    ({"tokenizer": "7mer-xna"}, None),  # not a k-mer name and not a path: left to the trainer (hub name)
    ({"model_config": {"d_model": 64, "n_layer": 2, "n_layers": 2}}, "model_config.n_layers: unknown key"),
    ({"model_config": {"d_model": 64, "n_layers": 2}}, "model_config.n_layers: unknown key"),  # not "n_layer: missing"
    ({"model_config": {"d_model": 64, "n_layer": 0}}, "model_config.n_layer: expected an integer >= 1"),
    ({"model_config": {"d_model": 64, "n_layer": 2, "bidirectional": False}}, "model_config.bidirectional"),
    ({"model_config": {"d_model": 64, "n_layer": 2, "model": "t5"}}, "model_config.model: unknown transformer"),
    ({"model_config": {"d_model": 64, "n_layer": 2, "pos_embedding": "spiral"}}, "model_config.pos_embedding"),
    ({"model_config": {"d_model": 64, "n_layer": 2, "model": "llama"}}, "model_config.model: 'llama' with mode mlm"),
    ({"mode": "clm", "model_config": {"d_model": 64, "n_layer": 2, "model": "bert", "bidirectional": False}},
     "model_config.model: 'bert' is an encoder"),
    ({"model_config": {"d_model": 60, "n_layer": 2, "n_head": 7}}, "model_config.n_head"),
    ({"model_config": {"preset": "7B"}}, "model_config.preset: unknown size"),
    ({"model_config": {"d_model": 64, "n_layer": 2, "pos_embedding": "rope"}},
     "model_config: a masked-LM transformer is a BERT encoder and needs positional_embeddings learned"),
    ({"model_config": {"d_model": 64, "n_layer": 2, "sequence_length": 4096}}, "model_config.sequence_length"),
])
def test_bad_keys_are_named(change, message):
    raw = {**ISSUE_EXAMPLE, **change}
    if message is None:
        run_config_from_layout(raw)
        return
    with pytest.raises(JsonConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        run_config_from_layout(raw)


def test_family_specific_keys_are_checked():
    with pytest.raises(JsonConfigError, match="model_config.d_state: unknown key for model_type hyena"):
        model_config_from_layout({"model_type": "hyena", "mode": "clm",
                                  "model_config": {"d_model": 64, "n_layer": 2, "d_state": 16}})
    cfg = model_config_from_layout({"model_type": "mamba", "mode": "clm",
                                    "model_config": {"d_model": 64, "n_layer": 2, "d_state": 8, "expand": 3}})
    assert cfg.ffn_hidden_size == 192 and cfg.extra == {"state_size": 8, "conv_kernel": 4}


def test_training_and_data_sections_use_the_trainer_validation():
    with pytest.raises(ConfigError, match="training.lrate: unknown field"):
        run_config_from_layout({**ISSUE_EXAMPLE, "training": {"lrate": 1}})


def test_missing_and_invalid_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json not found"):
        load_run_config(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="bad.json: not valid"):
        load_run_config(bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json"]  # loading never writes


@pytest.mark.parametrize("family,keys,message", [
    ("transformer", {"n_layer": 2}, "model_config.d_model: missing required field"),
    ("transformer", {"dropout": 1.5}, "model_config.dropout: expected a number in [0, 1), got 1.5"),
    ("transformer", {"dropout": True}, "model_config.dropout: expected a number in [0, 1)"),
    ("transformer", {"n_layer": "2"}, "model_config.n_layer: expected an integer >= 1, got '2'"),
    ("transformer", {"init": "xavier"}, "model_config.init: unknown value 'xavier'"),
    ("transformer", {"num_experts": 0}, "model_config.num_experts: expected a positive integer"),
    ("transformer", {"activation": "tanh"}, "model_config.activation: unknown value 'tanh'"),
    ("transformer", {"tie_embeddings": "yes"}, "model_config.tie_embeddings: expected true or false"),
    ("transformer", {"pos_embedding": 3}, "model_config.pos_embedding: unknown value 3"),
    ("transformer", {"model": "bert"}, "model_config.model: 'bert' is an encoder"),  # mode clm comes from the top
    ("mamba", {"expand": 0.5}, "model_config.expand: expected an integer >= 1, got 0.5"),
    ("mamba", {"num_experts": 2}, "model_config.num_experts: unknown key for model_type mamba"),
    ("hyena", {"filter_emb_dim": 2}, "model_config.filter_emb_dim: expected an integer >= 3, got 2"),
    ("hyena", {"bidirectional": True}, "model_config.bidirectional: True contradicts mode clm"),
])
def test_model_config_keys_are_typed_per_model_type(family, keys, message):
    raw = {"model_type": family, "mode": "clm", "model_config": {"d_model": 64, "n_layer": 2, **keys}}
    if "d_model" not in keys and message.startswith("model_config.d_model"):
        del raw["model_config"]["d_model"]
    with pytest.raises(JsonConfigError, match="^" + re.escape(message)):
        model_config_from_layout(raw)


def test_store_spellings_and_defaults_of_model_config_keys():
    cfg = model_config_from_layout({"model_type": "transformer", "mode": "clm", "model_config": {
        "d_model": 128, "n_layer": 2, "model": "llama", "pos_embedding": "ROTARY", "activation": "SwiGLU",
        "norm": "rms_norm", "n_kv_head": 1, "num_experts": 4}})
    assert (cfg.positional_embeddings, cfg.activation, cfg.layer_norm_type) == ("rope", "swiglu", "rmsnorm")
    assert (cfg.num_heads, cfg.num_kv_heads, cfg.ffn_hidden_size, cfg.num_experts) == (2, 1, 512, 4)
    assert cfg.moe_top_k == 2 and cfg.weight_tying is False  # ModelConfig's default; llama's untied output
