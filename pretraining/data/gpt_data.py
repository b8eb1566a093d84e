"""Training data for the trainer: a :class:`~pretraining.data.mixes.DataMix` → megatron-core ``GPTDataset`` splits.

The trainer calls::

    from pretraining.data.gpt_data import build_gpt_datasets
    train, valid, test = build_gpt_datasets(mix, seq_length=2048,
                                            num_samples_per_split=[n_train, n_valid, n_test], seed=1234)
    sample = train[0]   # {"tokens", "labels", "loss_mask", "position_ids", ("attention_mask")} torch tensors

Each split is a ``BlendedDataset`` over one ``GPTDataset`` per domain (or the ``GPTDataset`` itself for a
one-domain mix), built by megatron-core's ``BlendedMegatronDatasetBuilder`` from a ``GPTDatasetConfig``
with the mix's weights and a ``"train,valid,test"`` document split (default ``989,10,1``).
It runs on CPU, in one process or under ``torch.distributed`` (indices built on rank 0 first).

megatron-core's index building needs its C++ extension ``helpers_cpp``; the wheel ships it compiled. When it
does not import (source install, other Python), :func:`ensure_helpers` compiles ``helpers.cpp`` once into a
cache folder (``$NJSL_CACHE_DIR`` or ``~/.cache/njsl``) with the system C++ compiler and pybind11.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import warnings
from pathlib import Path
from collections.abc import Sequence

from pretraining.data.mixes import DataMix, load_mix


class GPTDataError(ValueError):
    """The mix's datasets cannot be used together (different tokenizers/EOD) or an argument is invalid."""


class MegatronTokenizerInfo:
    """The few tokenizer facts megatron-core's GPT datasets read: ``vocab_size``, ``eod``, ``pad``.

    megatron-core only needs these attributes (not encoding), so a manifest's values suffice.
    """

    def __init__(self, vocab_size: int, eod: int, pad: int | None = None):
        self.vocab_size = int(vocab_size)
        self.eod = int(eod)
        self.eos = int(eod)
        # -1 is never a token id, so a missing pad never masks real tokens (megatron's own default is -1 too).
        self.pad = -1 if pad is None else int(pad)
        # megatron hashes this into the index cache key, so different tokenizations never share a cache
        self.unique_identifiers = {"class": type(self).__name__, "vocab_size": self.vocab_size, "eod": self.eod,
                                   "pad": self.pad}

    def __repr__(self) -> str:
        return f"MegatronTokenizerInfo(vocab_size={self.vocab_size}, eod={self.eod}, pad={self.pad})"


def _cache_dir() -> Path:
    return Path(os.environ.get("NJSL_CACHE_DIR") or Path.home() / ".cache" / "njsl")


def ensure_helpers(cache_dir: str | os.PathLike | None = None, force_compile: bool = False):
    """Return megatron-core's ``helpers_cpp`` module, compiling ``helpers.cpp`` into ``cache_dir`` if needed.

    The compiled module is registered as ``megatron.core.datasets.helpers_cpp`` so megatron's own imports
    find it. Raises :class:`GPTDataError` with the fix when no compiler or pybind11 is available.
    """
    name = "megatron.core.datasets.helpers_cpp"
    if not force_compile:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import megatron.core.datasets.helpers_cpp as mod
            return mod
        except ImportError:
            pass
    import megatron.core.datasets as pkg

    source = Path(pkg.__file__).parent / "helpers.cpp"
    code = source.read_bytes()
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    key = hashlib.sha256(code + sys.version.encode()).hexdigest()[:16]
    out_dir = Path(cache_dir) if cache_dir is not None else _cache_dir() / "megatron_helpers" / key
    target = out_dir / f"helpers_cpp{suffix}"
    if not target.exists():
        try:
            import pybind11
        except ImportError as exc:
            raise GPTDataError("megatron-core's C++ dataset helpers are not compiled and pybind11 is missing; "
                               "pip install pybind11 (and a C++ compiler) so they can be built") from exc
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = out_dir / f".helpers_cpp.{os.getpid()}{suffix}"
        cmd = [os.environ.get("CXX", "g++"), "-O3", "-Wall", "-shared", "-std=c++17", "-fPIC", "-fdiagnostics-color",
               f"-I{pybind11.get_include()}", f"-I{sysconfig.get_paths()['include']}", str(source), "-o", str(tmp)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True)
        except FileNotFoundError as exc:
            raise GPTDataError(f"no C++ compiler ({cmd[0]}) to build megatron-core's dataset helpers; "
                               "install g++ or set CXX") from exc
        if proc.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise GPTDataError(f"compiling {source} failed:\n{proc.stderr[-2000:]}")
        os.replace(tmp, target)  # atomic: concurrent ranks/processes never load a half-written .so
    spec = importlib.util.spec_from_file_location(name, target)
    assert spec is not None and spec.loader is not None  # a path to an extension module always has a loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sys.modules[name] = mod
    return mod


def tokenizer_info_from_manifests(mix: DataMix) -> MegatronTokenizerInfo:
    """Vocab size and EOD id shared by every domain's manifest; an error if they disagree or none exists."""
    seen = {}
    for d in mix.domains:
        path = Path(f"{d.path_prefix}.manifest.json")
        if not path.exists():
            continue
        m = json.loads(path.read_text(encoding="utf-8"))
        tok = m.get("tokenizer", {})
        seen[d.name] = (tok.get("vocab_size"), tok.get("eod_id"), tok.get("name"))
    if not seen:
        raise GPTDataError("no domain of the mix has a manifest (<prefix>.manifest.json); pass vocab_size= and "
                           "eod_id= to build_gpt_datasets")
    if len({v[:2] for v in seen.values()}) > 1:
        raise GPTDataError(f"the mix's datasets were tokenized differently (vocab size, eod id, tokenizer): {seen}; "
                           "re-run njsl preprocess with one tokenizer")
    vocab, eod, _ = next(iter(seen.values()))
    if vocab is None or eod is None:
        raise GPTDataError(f"manifest lacks tokenizer vocab_size/eod_id ({seen}); pass them explicitly")
    return MegatronTokenizerInfo(vocab, eod)


def build_gpt_datasets(
    mix: DataMix | str | os.PathLike,
    seq_length: int,
    num_samples_per_split: Sequence[int | None],
    seed: int = 1234,
    split: str = "989,10,1",
    *,
    vocab_size: int | None = None,
    eod_id: int | None = None,
    pad_id: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    eod_mask_loss: bool = False,
    reset_position_ids: bool = False,
    reset_attention_mask: bool = False,
    create_attention_mask: bool = False,
    mmap: bool = True,
):
    """Build ``[train, valid, test]`` megatron-core datasets for a data mix.

    Args:
        mix: a :class:`DataMix` or a mix file path (see :mod:`pretraining.data.mixes`).
        seq_length: tokens per sample (each sample holds ``seq_length + 1`` tokens: inputs and shifted labels).
        num_samples_per_split: samples wanted for train/valid/test (e.g. ``[steps * global_batch, eval_iters *
            global_batch, 0]``). Domains are repeated (epochs) when a budget exceeds their size.
        seed: seed for document shuffling and blending.
        split: ``"train,valid,test"`` document proportions within every domain (default ``989,10,1``).
        vocab_size, eod_id, pad_id: tokenizer facts; default from the domains' manifests.
        cache_dir: where megatron caches its sample indices (``.npy``, keyed by a hash of everything that
            shapes them); default ``$NJSL_CACHE_DIR/megatron_indices`` (``~/.cache/njsl``). Under
            ``torch.distributed`` rank 0 builds first and the other ranks load, so use a shared folder.
        eod_mask_loss, reset_position_ids, reset_attention_mask, create_attention_mask: ``GPTDatasetConfig``
            options (defaults: plain causal LM over packed documents, no explicit mask).
        mmap: memory-map the ``.bin`` files.

    Raises :class:`GPTDataError` when a split with samples requested has no documents in some domain
    (megatron-core would loop forever on it).

    Returns:
        a list of three datasets (``None`` for a split with no samples requested or a zero split share); each
        item is a dict of torch tensors ``tokens``, ``labels``, ``loss_mask``, ``position_ids``
        (+ ``attention_mask`` with ``create_attention_mask``; ``dataset_id`` for blends). A blended split has
        exactly the samples requested; a one-domain split is a ``GPTDataset`` of whole epochs, so it may hold
        more: draw the first ``num_samples_per_split[i]``.
    """
    if not isinstance(mix, DataMix):
        mix = load_mix(mix)
    if seq_length < 1:
        raise GPTDataError(f"seq_length must be >= 1, got {seq_length}")
    sizes = list(num_samples_per_split)
    if len(sizes) != 3 or any(s is not None and (not isinstance(s, int) or s < 0) for s in sizes):
        raise GPTDataError(f"num_samples_per_split must be 3 non-negative ints (train, valid, test), got {sizes}")
    tokenizer = _tokenizer_info(mix, vocab_size, eod_id, pad_id)
    ensure_helpers()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
        from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig

    prefixes, weights = mix.blend()
    config = GPTDatasetConfig(
        random_seed=seed,
        sequence_length=seq_length,
        blend=(prefixes, weights if len(prefixes) > 1 else None),
        split=split,
        path_to_cache=str(cache_dir if cache_dir is not None else _cache_dir() / "megatron_indices"),
        mmap_bin_files=mmap,
        tokenizer=tokenizer,
        reset_position_ids=reset_position_ids,
        reset_attention_mask=reset_attention_mask,
        eod_mask_loss=eod_mask_loss,
        create_attention_mask=create_attention_mask,
    )
    _check_splits(mix, config, sizes, split)
    # megatron asserts "size is None => weights are None" for multi-domain mixes, so 0 stays 0 there.
    sizes = [None if s is None and len(prefixes) > 1 else s for s in sizes]
    # Every data-parallel rank reads data, so every rank builds (megatron orders rank 0 first when caching).
    return _build(BlendedMegatronDatasetBuilder(GPTDataset, sizes, lambda: True, config))


def _tokenizer_info(mix: DataMix, vocab_size: int | None, eod_id: int | None,
                    pad_id: int | None) -> MegatronTokenizerInfo:
    """The tokenizer facts given, the rest from the domains' manifests."""
    if vocab_size is None or eod_id is None:
        info = tokenizer_info_from_manifests(mix)
        vocab_size = info.vocab_size if vocab_size is None else vocab_size
        eod_id = info.eod if eod_id is None else eod_id
    return MegatronTokenizerInfo(vocab_size, eod_id, pad_id)


def _build(builder) -> list:
    """Run megatron's builder: in the job's process group, or in a one-process group of our own."""
    import torch

    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return builder.build()
    with _solo_process_group():
        return builder.build()


def _check_splits(mix: DataMix, config, sizes: list, split: str) -> None:
    """Drop splits nobody asked samples of; fail clearly where a requested split has no documents.

    megatron-core loops forever on a split with zero documents (zero tokens per epoch), which tiny
    datasets and a ``989,10,1`` split easily produce; so such a split must either be dropped or refused.
    """
    from megatron.core.datasets.indexed_dataset import _IndexReader

    names = ("train", "valid", "test")
    counts = {}
    for d in mix.domains:
        reader = _IndexReader(f"{d.path_prefix}.idx", multimodal=False)
        counts[d.name] = len(reader.sequence_lengths)
        del reader
    for i, bounds in enumerate(config.split_matrix):
        if bounds is None:
            if sizes[i]:
                raise GPTDataError(f"{sizes[i]} {names[i]} samples requested but split {split!r} gives "
                                   f"{names[i]} no share; change split= or request 0")
            continue
        if sizes[i] == 0:
            config.split_matrix[i] = None  # not built; returned as None
            continue
        for name, n in counts.items():
            docs = int(round(bounds[1] * n)) - int(round(bounds[0] * n))
            if docs == 0:
                raise GPTDataError(f"domain {name!r} has {n} documents, so split {split!r} leaves its {names[i]} "
                                   f"split empty; request 0 {names[i]} samples, change split=, or add data")


@contextlib.contextmanager
def _solo_process_group():
    """A one-process gloo group for the build, when none exists.

    megatron-core's ``BlendedDataset`` calls ``torch.distributed.get_rank()`` unguarded whenever it caches
    indices on disk; a world of size 1 makes that valid without touching the caller's environment.
    """
    import torch.distributed as dist

    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()
