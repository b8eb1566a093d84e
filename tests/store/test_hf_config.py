"""HF config.json → annotation: the decisions per family and the parameter formula against known counts."""
from __future__ import annotations

import pytest

from model_metadata_db import AnalysisStore, StoreError
from model_metadata_db.importers.hf_config import annotation_from_hf_config, count_params, resolve_arch

# Configs written by hand from the models' published config.json values.
LLAMA2_7B = {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008, "num_attention_heads": 32,
             "num_hidden_layers": 32, "num_key_value_heads": 32, "vocab_size": 32000,
             "max_position_embeddings": 4096, "hidden_act": "silu", "tie_word_embeddings": False}
LLAMA2_13B = {**LLAMA2_7B, "hidden_size": 5120, "intermediate_size": 13824, "num_attention_heads": 40,
              "num_hidden_layers": 40, "num_key_value_heads": 40}
MISTRAL_7B = {"model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336, "num_attention_heads": 32,
              "num_hidden_layers": 32, "num_key_value_heads": 8, "vocab_size": 32000,
              "max_position_embeddings": 32768, "hidden_act": "silu", "sliding_window": 4096,
              "tie_word_embeddings": False}
GPT2 = {"model_type": "gpt2", "n_embd": 768, "n_head": 12, "n_layer": 12, "n_positions": 1024, "vocab_size": 50257,
        "activation_function": "gelu_new"}


def pythia(d, ffn, heads, layers):
    return {"model_type": "gpt_neox", "hidden_size": d, "intermediate_size": ffn, "num_attention_heads": heads,
            "num_hidden_layers": layers, "vocab_size": 50304, "max_position_embeddings": 2048, "rotary_pct": 0.25,
            "use_parallel_residual": True, "hidden_act": "gelu", "tie_word_embeddings": False}


FALCON_7B = {"model_type": "falcon", "hidden_size": 4544, "num_attention_heads": 71, "num_hidden_layers": 32,
             "vocab_size": 65024, "multi_query": True, "parallel_attn": True, "bias": False, "alibi": False,
             "new_decoder_architecture": False}
OLMO_7B = {"model_type": "olmo", "hidden_size": 4096, "intermediate_size": 11008, "num_attention_heads": 32,
           "num_hidden_layers": 32, "num_key_value_heads": 32, "vocab_size": 50304, "max_position_embeddings": 2048,
           "hidden_act": "silu", "tie_word_embeddings": False}
QWEN2_05B = {"model_type": "qwen2", "hidden_size": 896, "intermediate_size": 4864, "num_attention_heads": 14,
             "num_hidden_layers": 24, "num_key_value_heads": 2, "vocab_size": 151936,
             "max_position_embeddings": 32768, "hidden_act": "silu", "tie_word_embeddings": True}
GEMMA_2B = {"model_type": "gemma", "hidden_size": 2048, "intermediate_size": 16384, "num_attention_heads": 8,
            "num_key_value_heads": 1, "head_dim": 256, "num_hidden_layers": 18, "vocab_size": 256000,
            "max_position_embeddings": 8192, "hidden_act": "gelu", "hidden_activation": "gelu_pytorch_tanh"}


@pytest.mark.parametrize("config, published", [
    (LLAMA2_7B, 6_738_415_616), (LLAMA2_13B, 13_015_864_320), (MISTRAL_7B, 7_241_732_096), (GPT2, 124_439_808),
    (pythia(768, 3072, 12, 12), 162_322_944), (pythia(1024, 4096, 16, 24), 405_334_016),
    (pythia(2048, 8192, 8, 16), 1_011_781_632), (FALCON_7B, 6_921_720_704), (OLMO_7B, 6_888_095_744),
    (QWEN2_05B, 494_032_768), (GEMMA_2B, 2_506_172_416),
], ids=["llama2-7b", "llama2-13b", "mistral-7b", "gpt2", "pythia-160m", "pythia-410m", "pythia-1b", "falcon-7b",
        "olmo-7b", "qwen2-0.5b", "gemma-2b"])
def test_params_match_published_counts(config, published):
    assert annotation_from_hf_config(config, "x")["total_params"] == published


@pytest.mark.parametrize("model_id, config", [
    ("EleutherAI/pythia-160m", pythia(768, 3072, 12, 12)), ("EleutherAI/pythia-410m", pythia(1024, 4096, 16, 24)),
    ("EleutherAI/pythia-1b", pythia(2048, 8192, 8, 16)), ("openai-community/gpt2", GPT2),
    ("meta-llama/Llama-2-13b-hf", LLAMA2_13B), ("tiiuae/falcon-7b", FALCON_7B),
    ("allenai/OLMo-7B-hf", OLMO_7B), ("mistralai/Mistral-7B-v0.1", MISTRAL_7B),
])
def test_release_total_params_are_explained(release, model_id, config):
    """The release counted old state dicts, persistent buffers included (causal masks, RoPE inv_freq)."""
    stored = release.annotations().set_index("id").loc[model_id, "total_params"]
    weights = count_params(resolve_arch(config))
    with_buffers = count_params(resolve_arch(config), include_buffers=True)
    assert stored in (weights, with_buffers)


def test_decisions_per_family():
    llama = annotation_from_hf_config(LLAMA2_7B, "l")
    assert (llama["attention_variant"], llama["activation"], llama["layer_norm_type"], llama["biases"],
            llama["block_type"], llama["positional_embeddings"], llama["weight_tying"]) == \
        ("full", "swiglu", "rmsnorm", "none", "sequential", "rope", False)
    assert llama["mlp_ratio"] == pytest.approx(2.6875) and llama["num_layers"] == 32
    assert annotation_from_hf_config(MISTRAL_7B, "m")["attention_variant"] == "gqa"
    falcon = annotation_from_hf_config(FALCON_7B, "f")
    assert (falcon["attention_variant"], falcon["block_type"], falcon["biases"], falcon["layer_norm_type"]) == \
        ("mqa", "parallel", "ln_only", "parametric")  # the release's row for tiiuae/falcon-7b says the same
    neox = annotation_from_hf_config(pythia(768, 3072, 12, 12), "p")
    assert (neox["block_type"], neox["biases"], neox["activation"]) == ("parallel", "all", "gelu")
    assert annotation_from_hf_config({**pythia(768, 3072, 12, 12), "use_parallel_residual": False},
                                     "p")["block_type"] == "sequential"
    gpt2 = annotation_from_hf_config(GPT2, "g")
    assert (gpt2["positional_embeddings"], gpt2["weight_tying"], gpt2["activation"], gpt2["sequence_length"]) == \
        ("learned", True, "gelu_new", 1024)
    assert annotation_from_hf_config(OLMO_7B, "o")["layer_norm_type"] == "non-parametric"
    assert annotation_from_hf_config(QWEN2_05B, "q")["biases"] == "attn_only"
    gemma = annotation_from_hf_config(GEMMA_2B, "g")
    assert (gemma["activation"], gemma["attention_variant"], gemma["weight_tying"]) == ("geglu", "mqa", True)


def test_annotation_is_a_valid_store_row():
    with AnalysisStore.create(None) as store:
        for i, cfg in enumerate([LLAMA2_7B, MISTRAL_7B, GPT2, pythia(768, 3072, 12, 12), FALCON_7B, OLMO_7B,
                                 QWEN2_05B, GEMMA_2B]):
            store.upsert_annotation(annotation_from_hf_config(cfg, f"m{i}"))
        assert store.counts()["model_annotations"] == 8


def test_given_param_count_wins():
    assert annotation_from_hf_config({**GPT2, "num_parameters": 5}, "g")["total_params"] == 5


def test_unsupported_or_broken_config_is_a_clear_error():
    with pytest.raises(StoreError, match="model_type 'mamba' is not supported"):
        annotation_from_hf_config({"model_type": "mamba"}, "m")
    with pytest.raises(StoreError, match="'hidden_size' must be a positive integer"):
        annotation_from_hf_config({**LLAMA2_7B, "hidden_size": "4096"}, "m")
    with pytest.raises(StoreError, match="'intermediate_size' is missing"):
        annotation_from_hf_config({k: v for k, v in LLAMA2_7B.items() if k != "intermediate_size"}, "m")
    with pytest.raises(StoreError, match="must divide"):
        annotation_from_hf_config({**LLAMA2_7B, "num_key_value_heads": 5}, "m")


TINY = {
    "llama": {"model_type": "llama", "hidden_size": 64, "intermediate_size": 172, "num_attention_heads": 4,
              "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 101, "max_position_embeddings": 128},
    "mistral": {"model_type": "mistral", "hidden_size": 64, "intermediate_size": 96, "num_attention_heads": 4,
                "num_key_value_heads": 1, "num_hidden_layers": 2, "vocab_size": 101},
    "qwen2": {"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 96, "num_attention_heads": 4,
              "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 101, "tie_word_embeddings": True},
    "olmo": {"model_type": "olmo", "hidden_size": 64, "intermediate_size": 96, "num_attention_heads": 4,
             "num_hidden_layers": 2, "vocab_size": 101},
    "olmo2": {"model_type": "olmo2", "hidden_size": 64, "intermediate_size": 96, "num_attention_heads": 4,
              "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 101},
    "gemma": {"model_type": "gemma", "hidden_size": 64, "intermediate_size": 96, "num_attention_heads": 4,
              "num_key_value_heads": 1, "head_dim": 32, "num_hidden_layers": 2, "vocab_size": 101},
    "gemma2": {"model_type": "gemma2", "hidden_size": 64, "intermediate_size": 96, "num_attention_heads": 4,
               "num_key_value_heads": 2, "head_dim": 16, "num_hidden_layers": 2, "vocab_size": 101},
    "gpt_neox": {"model_type": "gpt_neox", "hidden_size": 64, "intermediate_size": 256, "num_attention_heads": 4,
                 "num_hidden_layers": 2, "vocab_size": 101, "rotary_pct": 0.25},
    "gpt2": {"model_type": "gpt2", "n_embd": 64, "n_head": 4, "n_layer": 2, "n_positions": 128, "vocab_size": 101},
    "falcon": {"model_type": "falcon", "hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2,
               "vocab_size": 101, "multi_query": True, "parallel_attn": True, "bias": False},
    "falcon-new": {"model_type": "falcon", "hidden_size": 64, "num_attention_heads": 4, "num_kv_heads": 2,
                   "num_hidden_layers": 2, "vocab_size": 101, "new_decoder_architecture": True, "bias": False},
    "phi": {"model_type": "phi", "hidden_size": 64, "intermediate_size": 256, "num_attention_heads": 4,
            "num_hidden_layers": 2, "vocab_size": 101},
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_formula_matches_the_instantiated_transformers_model(name):
    """Build each family with transformers (on the meta device: no memory, no download) and count weights."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    config = TINY[name]
    hf_config = transformers.AutoConfig.for_model(**config)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(hf_config)
    expected = sum(p.numel() for p in model.parameters())  # tied weights counted once
    assert annotation_from_hf_config(config, name)["total_params"] == expected
