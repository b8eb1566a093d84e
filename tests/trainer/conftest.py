"""Tiny real data for trainer tests: a BPE tokenizer and a .bin/.idx dataset from Python's own sources."""
from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
REPO = Path(__file__).resolve().parents[2]
TINY_OVERRIDES = ["model.dimension=64", "model.num_layers=2", "model.num_heads=4", "model.num_kv_heads=2",
                  "model.ffn_hidden_size=128", "model.sequence_length=64", "training.global_batch_size=8",
                  "training.micro_batch_size=4", "training.warmup_steps=2", "training.lr=3e-3",
                  "training.min_lr=3e-4", "training.eval_samples=8", "training.split='90,5,5'",
                  "training.train_tokens=null"]  # --max_steps is then the schedule's length


def stdlib_documents(stdlib_dir: Path, max_chars: int = 400_000) -> list[str]:
    """Docstrings (natural language) and module sources (code) from the standard library, sorted for stability."""
    docs, total = [], 0
    for path in sorted(stdlib_dir.glob("*.py")):
        try:
            src = path.read_text(encoding="utf-8")
            tree = ast.parse(src)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        pieces = [ast.get_docstring(n) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef))]
        pieces = [p for p in pieces if p and len(p) > 80]
        pieces.append(src[:4000])
        for p in pieces:
            docs.append(p)
            total += len(p)
        if total > max_chars:
            break
    return docs


def build_tokenizer(docs: list[str], folder: Path, vocab_size: int = 512) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>", "<|pad|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(docs, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|pad|>",
                                   bos_token="<|endoftext|>")
    fast.save_pretrained(folder)
    return folder


def build_bin(docs: list[str], tokenizer_dir: Path, prefix: Path) -> Path:
    import numpy as np
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    builder = IndexedDatasetBuilder(f"{prefix}.bin", dtype=np.uint16)
    for doc in docs:
        ids = tok(doc, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        builder.add_document(torch.tensor(ids, dtype=torch.int64), [len(ids)])
    builder.finalize(f"{prefix}.idx")
    return prefix


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory, stdlib_dir) -> dict:
    """{"prefix": str, "tokenizer": str, "docs": list[str]} built once per test session."""
    root = tmp_path_factory.mktemp("trainer_data")
    docs = stdlib_documents(stdlib_dir)
    tok_dir = build_tokenizer(docs, root / "tokenizer")
    prefix = build_bin(docs, tok_dir, root / "stdlib_text_document")
    # a two-domain mix in the paper's format: natural language (docstrings) 70%, code (sources) 30%
    nl = build_bin([d for d in docs if "def " not in d and "import " not in d], tok_dir, root / "nl_text_document")
    code = build_bin([d for d in docs if "def " in d or "import " in d], tok_dir, root / "code_text_document")
    mix = root / "nl_code_70_30.txt"
    mix.write_text(f"70 {nl} 30 {code}\n")
    return {"prefix": str(prefix), "tokenizer": str(tok_dir), "docs": docs, "root": root, "mix": str(mix)}


@pytest.fixture(scope="session")
def tiny_overrides() -> list[str]:
    """--set overrides shrinking tiny_cpu.yaml to a model that trains in seconds on 2 cores."""
    return list(TINY_OVERRIDES)


@pytest.fixture(scope="session")
def tiny_config() -> Path:
    return REPO / "pretraining" / "configs" / "models" / "tiny_cpu.yaml"
