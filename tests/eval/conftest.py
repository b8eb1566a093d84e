"""Fixtures for the evaluation tests: a tiny random Llama with a tokenizer trained here, and one lm-eval run."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")


def make_tiny_model(folder: Path, stdlib_dir: Path, *, with_tokenizer: bool = True) -> Path:
    """A random-init 2-layer Llama (d=32) and a 512-token byte-level BPE trained on a few stdlib files."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.set_num_threads(1)
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(stdlib_dir.glob("*.py"))[:15]]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=512, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                     pad_token="<|endoftext|>")
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(hf_tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=512,
                      eos_token_id=hf_tok.eos_token_id, bos_token_id=hf_tok.bos_token_id)
    LlamaForCausalLM(cfg).save_pretrained(folder)
    if with_tokenizer:
        hf_tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, stdlib_dir) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model", stdlib_dir)


@pytest.fixture(scope="session")
def tiny_model_no_tokenizer(tmp_path_factory, stdlib_dir) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny_notok") / "model", stdlib_dir, with_tokenizer=False)


@pytest.fixture(scope="session")
def manager():
    """lm-eval's task index with the project's tasks (indexing all of lm-eval's YAMLs takes ~10 s)."""
    from pretraining.evaluate.lm_eval import task_manager

    return task_manager()


@pytest.fixture(scope="session")
def eval_run(tiny_model, tmp_path_factory):
    """One real lm-eval run on the two local tasks (8 examples each; the code task 2-shot)."""
    from pretraining.evaluate.lm_eval import EvalOptions, evaluate_model

    out = tmp_path_factory.mktemp("eval") / "local"
    return evaluate_model(tiny_model, "njsl_stdlib_nextline:2,njsl_docstring_continuation", out,
                          EvalOptions(limit=8, log_samples=True, device="cpu", batch_size=8))
