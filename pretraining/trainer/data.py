"""Data glue: a mix file or one ``.bin/.idx`` prefix -> megatron-core blended GPT datasets -> batches.

The order of samples is fixed by the seed (megatron-core shuffles documents and samples with it), and the
batch of optimizer step ``s`` is a pure function of ``s``: the data position in a checkpoint is the step.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pretraining.model_config import ConfigError
from pretraining.objectives import PAD_ID


class DataError(ValueError):
    """The data path, mix or tokenizer cannot be used for training."""


def _is_prefix(path: str) -> str | None:
    p = path[:-4] if path.endswith((".bin", ".idx")) else path
    return p if Path(p + ".bin").is_file() and Path(p + ".idx").is_file() else None


def resolve_blend(path: str) -> tuple[list[str], list[float] | None]:
    """``(prefixes, weights)`` for megatron-core from a ``.bin/.idx`` prefix or a data-mix file."""
    prefix = _is_prefix(str(path))
    if prefix:
        return [prefix], None
    if not Path(path).is_file():
        raise DataError(f"data: {path} is neither a .bin/.idx prefix nor a mix file; pass the prefix of a "
                        "preprocessed dataset (see 'njsl preprocess') or a mix file (see 'njsl mix')")
    try:
        from pretraining.mixes import load_mix
    except ImportError:  # the mixes module is optional for the trainer; read the paper's format ourselves
        load_mix = None
    if load_mix is not None:
        blend = load_mix(path).megatron_blend()
    else:
        blend = Path(path).read_text(encoding="utf-8").split()
    if len(blend) % 2 or not blend:
        raise DataError(f"data: mix {path} must list 'weight prefix' pairs")
    weights, prefixes = [float(w) for w in blend[0::2]], [str(p) for p in blend[1::2]]
    for i, p in enumerate(prefixes):
        if not _is_prefix(p) and _is_prefix(str(Path(path).parent / p)):
            prefixes[i] = str(Path(path).parent / p)
        if not _is_prefix(prefixes[i]):
            raise DataError(f"data: mix {path} names {p}, which has no .bin/.idx pair")
    return [_is_prefix(p) for p in prefixes], weights


@dataclass
class _TokenizerInfo:
    """The little megatron-core's GPTDataset needs from a tokenizer (duck-typed MegatronTokenizer)."""

    eod: int
    pad: int = PAD_ID
    vocab_size: None = None  # let the .idx decide the token dtype

    @property
    def unique_identifiers(self) -> dict:
        return {"class": "njsl", "eod": self.eod, "pad": self.pad}


@dataclass
class Splits:
    train: object
    valid: object | None
    test: object | None


def build_datasets(path: str, *, seed: int, sequence_length: int, split: str, eod_id: int,
                   n_train: int, n_valid: int, n_test: int, cache_dir: str | None) -> Splits:
    """megatron-core's ``BlendedMegatronDatasetBuilder`` over the mix, sized for the run."""
    from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig

    prefixes, weights = resolve_blend(path)
    logging.getLogger("megatron.core").setLevel(logging.WARNING)  # its INFO lines swamp the progress bar
    config = GPTDatasetConfig(
        random_seed=seed, sequence_length=sequence_length, blend=(prefixes, weights), split=split,
        path_to_cache=cache_dir, tokenizer=_TokenizerInfo(eod=eod_id), reset_position_ids=False,
        reset_attention_mask=False, eod_mask_loss=False, create_attention_mask=False,
    )
    try:
        train, valid, test = BlendedMegatronDatasetBuilder(
            GPTDataset, [n_train, n_valid, n_test], lambda: True, config).build()
    except (AssertionError, IndexError) as exc:
        raise DataError(f"data: megatron-core could not build datasets from {path} with split {split!r}: "
                        f"{exc or type(exc).__name__} (too few documents for the split?)") from exc
    if train is None:
        raise DataError(f"data: the train split of {path} is empty (training.split={split!r})")
    return Splits(train, valid, test)


def sample_tokens(dataset, index: int) -> torch.Tensor:
    """Sample ``index`` as ``sequence_length + 1`` token ids with :data:`PAD_ID` where there is no text."""
    item = dataset[int(index)]
    tokens, labels, loss_mask = item["tokens"], item["labels"], item["loss_mask"]
    # megatron-core zeroes pad ids and masks them in loss_mask; restore the pad marker for our objectives
    return torch.cat([tokens[:1], labels.masked_fill(loss_mask == 0, PAD_ID)])


def step_batch(dataset, step: int, micro_step: int, *, global_batch: int, micro_batch: int,
               rank: int, world_size: int) -> torch.Tensor:
    """Micro-batch ``micro_step`` of this rank for optimizer step ``step`` (1-based): ``[micro, seq+1]``.

    Step ``s`` consumes samples ``[(s-1) * global_batch, s * global_batch)`` in dataset order; each
    micro-step takes ``micro_batch * world_size`` consecutive ones, split by rank.
    """
    base = (step - 1) * global_batch + micro_step * micro_batch * world_size + rank * micro_batch
    return torch.stack([sample_tokens(dataset, base + j) for j in range(micro_batch)])


def eval_batches(dataset, n_samples: int, micro_batch: int, rank: int, world_size: int):
    """The first ``n_samples`` samples of ``dataset``, this rank's share, in micro-batches."""
    n = min(n_samples, len(dataset))
    mine = np.arange(rank, n, world_size)
    for start in range(0, len(mine), micro_batch):
        yield torch.stack([sample_tokens(dataset, i) for i in mine[start:start + micro_batch]])


def check_vocab(path: str, vocab_size: int) -> None:
    """Fail early when the dataset holds token ids the model's embedding cannot take."""
    for prefix in resolve_blend(path)[0]:
        from megatron.core.datasets.indexed_dataset import IndexedDataset

        ds = IndexedDataset(prefix)
        # the largest id among a sample of documents (cheap; the manifest's vocab size is checked too)
        top = max((int(ds[i].max()) for i in range(min(len(ds), 256)) if len(ds[i])), default=0)
        if top >= vocab_size:
            raise ConfigError(f"model.vocab_size: {vocab_size} is too small for {prefix} (token id {top}); "
                              "use the tokenizer the data was preprocessed with, or vocab_size: null")
