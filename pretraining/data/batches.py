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

from pretraining.config import ConfigError
from pretraining.models.objectives import PAD_ID


class DataError(ValueError):
    """The data path, mix or tokenizer cannot be used for training."""


def _is_prefix(path: str) -> str | None:
    p = path[:-4] if path.endswith((".bin", ".idx")) else path
    return p if Path(p + ".bin").is_file() and Path(p + ".idx").is_file() else None


def load_data_mix(path: str):
    """A :class:`pretraining.data.mixes.DataMix` from a mix file or a single ``.bin/.idx`` prefix (one domain)."""
    from pretraining.data.mixes import load_mix, parse_paper_mix

    prefix = _is_prefix(str(path))
    if prefix:
        return parse_paper_mix(f"1 {Path(prefix).resolve()}", source=str(path))
    if not Path(path).is_file():
        raise DataError(f"data: {path} is neither a .bin/.idx prefix nor a mix file; pass the prefix of a "
                        "preprocessed dataset (see 'njsl preprocess') or a mix file (see 'njsl mix')")
    return load_mix(path)


@dataclass
class Splits:
    train: object
    valid: object | None
    test: object | None


def build_datasets(path: str, *, seed: int, sequence_length: int, split: str, vocab_size: int, eod_id: int,
                   n_train: int, n_valid: int, n_test: int, cache_dir: str | None) -> Splits:
    """megatron-core blended GPT datasets over the mix (via :mod:`pretraining.data.gpt_data`), sized for the run.

    A validation/test split the data is too small for is dropped (evaluation is then skipped), not an error.
    """
    from pretraining.data.gpt_data import GPTDataError, build_gpt_datasets

    mix = load_data_mix(path)
    logging.getLogger("megatron.core").setLevel(logging.WARNING)  # its INFO lines swamp the progress bar
    kw = dict(seq_length=sequence_length, seed=seed, split=split, vocab_size=vocab_size, eod_id=eod_id,
              pad_id=PAD_ID, cache_dir=cache_dir)
    try:
        train, valid, test = build_gpt_datasets(mix, num_samples_per_split=[n_train, n_valid, n_test], **kw)
    except GPTDataError:
        try:  # too few documents for held-out splits: train without them
            train, valid, test = build_gpt_datasets(mix, num_samples_per_split=[n_train, 0, 0], **kw)
        except GPTDataError as exc:
            raise DataError(f"data: {exc}") from exc
        logging.getLogger(__name__).warning("data %s: too small for validation/test splits %r; no evaluation",
                                            path, split)
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
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    for domain in load_data_mix(path).domains:
        ds = IndexedDataset(domain.path_prefix)
        # the largest id among the first documents: cheap, and catches a dataset of another tokenizer
        top = max((int(ds[i].max()) for i in range(min(len(ds), 256)) if len(ds[i])), default=0)
        if top >= vocab_size:
            raise ConfigError(f"model.vocab_size: {vocab_size} is too small for {domain.path_prefix} (token id "
                              f"{top}); use the tokenizer the data was preprocessed with, or vocab_size: null")
