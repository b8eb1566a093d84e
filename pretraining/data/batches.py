"""Data glue: a mix file or one ``.bin/.idx`` prefix -> megatron-core GPT datasets -> step-indexed batches.

The order of samples is fixed by the seed alone (not by the token budget, see :class:`EpochBlend`), and the
batch of optimizer step ``s`` is a pure function of ``s``: the data position in a checkpoint is the step.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


class EpochBlend(torch.utils.data.Dataset):
    """The train split as one sequence of samples whose order does not depend on the token budget.

    megatron-core sizes its indices to the requested number of samples (epochs, the last epoch shuffled apart,
    each domain sized from the blend), so a run planned for more tokens reads other samples at the same step.
    Here every domain is one megatron epoch (documents and samples shuffled by the seed) that repeats with a
    fresh seeded permutation per further epoch, and domains are interleaved by megatron's greedy blending
    (sample *i*'s domain depends only on *i* and the weights). Sample *i* is therefore the same for any
    budget >= *i*: extending a run keeps the samples of the steps already taken.
    """

    def __init__(self, domains: list, weights: list[float], n_samples: int, seed: int):
        from pretraining.data.gpt_data import ensure_helpers

        self.domains, self.seed, self.n = domains, seed, int(n_samples)
        self.lengths = [len(d) for d in domains]
        if any(n == 0 for n in self.lengths):
            raise DataError("data: a domain of the mix has no train samples (too few tokens for one sequence)")
        if len(domains) == 1:
            self.domain_index = np.zeros(self.n, dtype=np.int16)
            self.domain_sample = np.arange(self.n, dtype=np.int64)
        else:
            w = np.asarray(weights, dtype=np.float64)
            self.domain_index = np.zeros(self.n, dtype=np.int16)
            self.domain_sample = np.zeros(self.n, dtype=np.int64)
            ensure_helpers().build_blending_indices(self.domain_index, self.domain_sample, w / w.sum(),
                                                    len(domains), self.n, False)
        self._perm: dict[int, tuple[int, np.ndarray]] = {}

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        d, k = int(self.domain_index[i]), int(self.domain_sample[i])
        epoch, j = divmod(k, self.lengths[d])
        if epoch:  # later epochs: a new order of the same samples, fixed by (seed, domain, epoch)
            cached = self._perm.get(d)
            if cached is None or cached[0] != epoch:
                rng = np.random.default_rng([self.seed, d, epoch])
                cached = self._perm[d] = (epoch, rng.permutation(self.lengths[d]))
            j = int(cached[1][j])
        return self.domains[d][j]


def build_datasets(path: str, *, seed: int, sequence_length: int, split: str, vocab_size: int, eod_id: int,
                   n_train: int, n_valid: int, n_test: int, cache_dir: str | None) -> Splits:
    """The run's splits: a budget-independent train sequence (:class:`EpochBlend`) and megatron-core's blended
    validation/test splits (via :mod:`pretraining.data.gpt_data`), sized for the run.

    A validation/test split the data is too small for is dropped (evaluation is then skipped), not an error.
    """
    from pretraining.data.gpt_data import GPTDataError, build_gpt_datasets
    from pretraining.data.mixes import DataMix, Domain

    mix = load_data_mix(path)
    logging.getLogger("megatron.core").setLevel(logging.WARNING)  # its INFO lines swamp the progress bar
    kw: dict[str, Any] = dict(seq_length=sequence_length, seed=seed, split=split, vocab_size=vocab_size,
                              eod_id=eod_id, pad_id=PAD_ID, cache_dir=cache_dir)
    try:  # one epoch per domain (size None): its order is fixed by the seed alone
        epochs = [build_gpt_datasets(DataMix([Domain(d.name, 1.0, d.path_prefix, d.category)]),
                                     num_samples_per_split=[None, 0, 0], **kw)[0] for d in mix.domains]
    except GPTDataError as exc:
        raise DataError(f"data: {exc}") from exc
    if any(e is None for e in epochs):
        raise DataError(f"data: the train split of {path} is empty (training.split={split!r})")
    train = EpochBlend(epochs, [d.weight for d in mix.domains], n_train, seed)
    valid = test = None
    if n_valid or n_test:
        try:
            _, valid, test = build_gpt_datasets(mix, num_samples_per_split=[0, n_valid, n_test], **kw)
        except GPTDataError:  # too few documents for held-out splits: train without them
            logging.getLogger(__name__).warning("data %s: too small for validation/test splits %r; no evaluation",
                                                path, split)
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


class StepBatches(torch.utils.data.Dataset):
    """Item ``k`` = this rank's micro-batches of optimizer step ``first + k``: ``[accumulation, micro, seq+1]``.

    Indexed by step, so a DataLoader over it (workers, pinned memory, prefetch) yields exactly the batches of
    :func:`step_batch`, and starting at ``first = resumed step + 1`` keeps the data position of a checkpoint.
    """

    def __init__(self, dataset, first: int, last: int, *, accumulation: int, global_batch: int, micro_batch: int,
                 rank: int, world_size: int):
        self.dataset, self.first, self.last, self.accumulation = dataset, first, last, accumulation
        self.kw = dict(global_batch=global_batch, micro_batch=micro_batch, rank=rank, world_size=world_size)

    def __len__(self) -> int:
        return max(0, self.last - self.first + 1)

    def __getitem__(self, k: int) -> torch.Tensor:
        return torch.stack([step_batch(self.dataset, self.first + k, i, **self.kw) for i in range(self.accumulation)])


def step_loader(steps: StepBatches, *, workers: int, pin_memory: bool, prefetch: int = 4):
    """A DataLoader yielding one step's micro-batches at a time, in step order (no shuffling: order is the step)."""
    extra: dict[str, Any] = {"prefetch_factor": prefetch, "persistent_workers": False} if workers else {}
    return torch.utils.data.DataLoader(steps, batch_size=None, shuffle=False, num_workers=workers,
                                       pin_memory=pin_memory, **extra)


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
