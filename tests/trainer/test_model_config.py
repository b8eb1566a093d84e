"""Model configs: validation names the bad field, paper configs' parameter counts, FLOPs formula, annotation."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from pretraining.config import ConfigError, ModelConfig
from pretraining.evaluate.annotation import annotation_from_model_config
from pretraining.models.counts import flops_per_token, param_count, steps_for_budget
from pretraining.models.run_config import load_run_config
from pretraining.models.registry import UnsupportedArchitecture, build_model, count_parameters, transformer_backend

CONFIGS = Path(__file__).resolve().parents[2] / "pretraining" / "configs" / "models"


def _analytic_llama(L, d, h, f, V):
    """Textbook Llama-2 count: embeddings + L x (4 d^2 attention + 3 d f SwiGLU + 2 d norms) + final norm + head."""
    return V * d + L * (4 * d * d + 3 * d * f + 2 * d) + d + V * d


@pytest.mark.parametrize("name,L,d,h,f", [("Llama2_220M", 12, 1024, 8, 4096), ("Llama2_460M", 14, 1536, 12, 4128),
                                          ("Llama2_1B", 24, 2048, 16, 4096)])
def test_paper_configs_parameter_count(name, L, d, h, f):
    cfg = load_run_config(CONFIGS / f"{name}.yaml")
    m = cfg.model
    assert (m.num_layers, m.dimension, m.num_heads, m.ffn_hidden_size, m.sequence_length) == (L, d, h, f, 2048)
    assert (m.activation, m.layer_norm_type, m.positional_embeddings, m.biases, m.weight_tying) == \
        ("swiglu", "rmsnorm", "rope", "none", False)
    assert transformer_backend(m).name == "llama"
    n = param_count(m)
    assert n == _analytic_llama(L, d, h, f, 32000)
    with torch.device("meta"):  # instantiate without allocating: exact count of the real HF model
        assert count_parameters(build_model(m)) == n
    print(f"{name}: {n:,} parameters")


def test_paper_schedule_defaults():
    t = load_run_config(CONFIGS / "Llama2_220M.yaml").training
    assert (t.global_batch_size, t.lr, t.min_lr, t.warmup_steps, t.weight_decay, t.beta1, t.beta2) == \
        (512, 1.5e-4, 1e-5, 100, 0.01, 0.9, 0.95)


def test_tiny_config_size():
    cfg = load_run_config(CONFIGS / "tiny_cpu.yaml")
    cfg.model.vocab_size = 8192
    assert 2e6 <= param_count(cfg.model) <= 20e6


@pytest.mark.parametrize("kw", [
    dict(), dict(activation="geglu", biases="all", num_kv_heads=2), dict(biases="attn_only", num_kv_heads=1,
                                                                         weight_tying=True),
    dict(layer_norm_type="layernorm", activation="gelu", biases="all"),
    dict(layer_norm_type="layernorm", activation="relu", biases="all", block_type="parallel", weight_tying=True),
    dict(layer_norm_type="layernorm", activation="gelu_new", biases="all", positional_embeddings="learned"),
    dict(layer_norm_type="layernorm", activation="gelu", biases="ln_only", positional_embeddings="alibi",
         num_kv_heads=1, block_type="parallel"),
])
def test_design_decisions_build_and_count(kw):
    m = ModelConfig(dimension=64, num_layers=2, num_heads=4, ffn_hidden_size=96, vocab_size=100, sequence_length=32,
                    **kw)
    m.validate()
    model = build_model(m)
    assert count_parameters(model) == param_count(m)
    assert model(input_ids=torch.randint(0, 100, (2, 8))).logits.shape == (2, 8, 100)


def test_unsupported_combination_lists_supported():
    m = ModelConfig(dimension=64, num_layers=2, num_heads=4, ffn_hidden_size=96, vocab_size=100,
                    positional_embeddings="none")
    with pytest.raises(UnsupportedArchitecture) as err:
        build_model(m)
    msg = str(err.value)
    assert "positional_embeddings=none" in msg and "llama" in msg and "gpt2" in msg and "gpt_neox" in msg


def _write(tmp_path, model: dict, training: dict | None = None) -> Path:
    base = {"dimension": 64, "num_layers": 2, "num_heads": 4, "ffn_hidden_size": 128, "vocab_size": 100}
    base.update(model)
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump({"model": {k: v for k, v in base.items() if v is not None},
                                 "training": training or {}}))
    return p


@pytest.mark.parametrize("model,training,field", [
    ({"num_heads": 5}, None, "model.num_heads"),
    ({"num_kv_heads": 3}, None, "model.num_kv_heads"),
    ({"activation": "tanh"}, None, "model.activation"),
    ({"layer_norm_type": "batchnorm"}, None, "model.layer_norm_type"),
    ({"dimension": -4}, None, "model.dimension"),
    ({"dimension": None}, None, "model.dimension"),
    ({"num_layerz": 3}, None, "model.num_layerz"),
    ({"ffn_hidden_size": None}, None, "model.ffn_hidden_size"),
    ({"weight_tying": "yes"}, None, "model.weight_tying"),
    ({"positional_embeddings": "none"}, None, "model: no transformer backend"),
    ({}, {"lr": "fast"}, "training.lr"),
    ({}, {"min_lr": 1.0, "lr": 0.1}, "training.min_lr"),
    ({}, {"parallelism": "tp"}, "training.parallelism"),
    ({}, {"global_batch_size": 8, "global_batch_tokens": 1024}, "training.global_batch_size"),
    ({}, {"global_batch_size": None, "global_batch_tokens": 1000}, "training.global_batch_tokens"),
    ({}, {"split": "98,2"}, "training.split"),
])
def test_validation_names_field(tmp_path, model, training, field):
    with pytest.raises(ConfigError) as err:
        load_run_config(_write(tmp_path, model, training))
    assert str(err.value).startswith(field), str(err.value)


def test_mlp_ratio_and_aliases(tmp_path):
    cfg = load_run_config(_write(tmp_path, {"ffn_hidden_size": None, "mlp_ratio": 2.5, "layer_norm_type": "parametric",
                                            "positional_embeddings": "rotary", "activation": "gelu",
                                            "biases": "all"}))
    assert cfg.model.ffn_hidden_size == 160 and cfg.model.layer_norm_type == "layernorm"
    assert cfg.model.positional_embeddings == "rope"


def test_global_batch_in_tokens_and_steps_from_budget(tmp_path):
    cfg = load_run_config(_write(tmp_path, {"sequence_length": 256},
                                 {"global_batch_size": None, "global_batch_tokens": 4096}))
    assert cfg.training.batch_sequences(256) == 16
    assert steps_for_budget(20_000_000_000, 512, 2048) == 19074  # ceil(20e9 / 1,048,576)
    assert steps_for_budget(1_048_576, 512, 2048) == 1
    with pytest.raises(ConfigError, match="training.train_tokens"):
        steps_for_budget(1000, 512, 2048)


def test_annotation_row_uses_store_vocabulary():
    cfg = load_run_config(CONFIGS / "Llama2_460M.yaml")
    row = annotation_from_model_config(cfg, "runs/x")
    assert row["id"] == "runs/x" and row["attention_variant"] == "full" and row["layer_norm_type"] == "rmsnorm"
    assert row["mlp_ratio"] == pytest.approx(4128 / 1536, abs=1e-4) and row["num_layers"] == 14
    assert row["batch_instances"] == 512 and row["batch_tokens"] == 512 * 2048
    assert row["total_params"] == param_count(cfg.model) and row["architecture_family"] == "transformer"
    m = ModelConfig(dimension=64, num_layers=2, num_heads=4, num_kv_heads=1, ffn_hidden_size=96, vocab_size=100,
                    layer_norm_type="layernorm", activation="gelu", biases="ln_only", positional_embeddings="alibi")
    row = annotation_from_model_config(m, "m")
    assert row["attention_variant"] == "mqa" and row["layer_norm_type"] == "parametric"
    try:  # the store accepts the row as is
        from model_metadata_db import AnalysisStore
    except ImportError:
        return
    with AnalysisStore.create(":memory:") as store:
        store.upsert_annotation(row)
        assert store.annotations().set_index("id").loc["m", "attention_variant"] == "mqa"


@pytest.mark.parametrize("kw", [dict(), dict(num_kv_heads=1, weight_tying=True),
                                dict(layer_norm_type="layernorm", activation="gelu", biases="all",
                                     block_type="parallel"),
                                # mixture of experts: tokens only run through their top-k experts (active params)
                                dict(num_experts=4, moe_top_k=2, router_aux_loss_coef=0.0)])
def test_flops_formula_matches_flop_counter(kw):
    from torch.utils.flop_counter import FlopCounterMode

    m = ModelConfig(dimension=64, num_layers=3, num_heads=4, ffn_hidden_size=160, vocab_size=300,
                    sequence_length=32, **kw)
    model = build_model(m)
    model.set_attn_implementation("eager")  # explicit matmuls, so the counter sees the attention products
    if m.num_experts > 1:  # transformers' default grouped_mm expert kernel is invisible to the counter
        model.set_experts_implementation("eager")  # one F.linear per expert on its routed tokens
    tokens = torch.randint(0, 300, (2, 32))
    with FlopCounterMode(display=False) as counter:
        model(input_ids=tokens).logits.float().sum().backward()
    measured = counter.get_total_flops() / tokens.numel()
    assert measured == pytest.approx(flops_per_token(m), rel=0.01)
    assert flops_per_token(m, training=False) == pytest.approx(flops_per_token(m) / 3)
