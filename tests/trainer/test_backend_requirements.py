"""Backend checks report the first unmet requirement, worded the same by every backend (and the BERT encoder)."""
import pytest

from pretraining.models.architectures.families import bert_check
from pretraining.config import ModelConfig
from pretraining.models.registry import BACKENDS, first_unmet, needs


def _cfg(**kw) -> ModelConfig:
    base = dict(dimension=64, num_layers=2, num_heads=4, ffn_hidden_size=96, vocab_size=100, sequence_length=32)
    return ModelConfig(**{**base, **kw})


def test_first_unmet_reports_in_order_and_none_when_all_hold():
    c = _cfg(layer_norm_type="layernorm", positional_embeddings="alibi")
    reqs = (needs("layer_norm_type", "layernorm"), needs("positional_embeddings", "rope"), needs("biases", "all"))
    assert first_unmet(c, reqs) == "needs positional_embeddings rope"
    assert first_unmet(c, reqs[:1]) is None


@pytest.mark.parametrize("kw,expected", [
    # defaults (rmsnorm, rope, swiglu, no biases) are the Llama layout
    (dict(), {"llama": None, "gpt_neox": "needs layer_norm_type layernorm", "gpt2": "needs layer_norm_type layernorm",
              "falcon": "needs layer_norm_type layernorm"}),
    (dict(layer_norm_type="layernorm", activation="gelu", num_kv_heads=2, biases="all"),
     {"llama": "needs layer_norm_type rmsnorm", "gpt_neox": "multi-head attention only (num_kv_heads == num_heads)",
      "gpt2": "needs positional_embeddings learned", "falcon": "needs positional_embeddings alibi"}),
    (dict(activation="gelu", biases="ln_only"),
     {"llama": "needs a gated activation (swiglu or geglu)", "gpt_neox": "needs layer_norm_type layernorm"}),
    (dict(biases="ln_only", activation="geglu"), {"llama": "RMSNorm has no bias (biases ln_only impossible)"}),
    (dict(layer_norm_type="layernorm", positional_embeddings="alibi", activation="relu"),
     {"falcon": "needs activation gelu"}),
    (dict(layer_norm_type="layernorm", positional_embeddings="alibi", activation="gelu", num_kv_heads=2),
     {"falcon": "mha or mqa only (num_kv_heads == num_heads or 1)"}),
    (dict(layer_norm_type="layernorm", positional_embeddings="alibi", activation="gelu", biases="attn_only"),
     {"falcon": "needs biases all or ln_only"}),
    (dict(layer_norm_type="layernorm", positional_embeddings="rope", activation="swiglu"),
     {"gpt_neox": "needs a non-gated activation (gelu, gelu_new, relu, silu)"}),
])
def test_backend_reasons(kw, expected):
    checks = {b.name: b.check for b in BACKENDS}
    c = _cfg(**kw)
    assert {name: checks[name](c) for name in expected} == expected


@pytest.mark.parametrize("kw,reason", [
    (dict(layer_norm_type="layernorm", positional_embeddings="learned", activation="gelu", biases="all"), None),
    (dict(layer_norm_type="layernorm", activation="gelu", biases="all"),
     "needs positional_embeddings learned (absolute)"),
    (dict(layer_norm_type="layernorm", positional_embeddings="learned", activation="gelu", biases="all",
          block_type="parallel"), "needs block_type sequential"),
])
def test_bert_check_shares_the_wording(kw, reason):
    assert bert_check(_cfg(**kw)) == reason


def test_rope_theta_reaches_the_model_config():
    """A non-default RoPE base is what the built model uses (transformers 5 ignores a rope_theta keyword)."""
    from pretraining.models.registry import transformer_backend

    for kw in (dict(), dict(layer_norm_type="layernorm", activation="gelu", biases="all")):
        m = ModelConfig(dimension=64, num_layers=1, num_heads=4, ffn_hidden_size=96, vocab_size=50,
                        rope_theta=500000.0, **kw)
        config = transformer_backend(m).make_config(m)
        assert config.rope_parameters["rope_theta"] == 500000.0
