"""Megatron preprocessing as two datatrove pipelines: tokenize input files into shards, then assemble them.

    njsl preprocess --input DOCS/ --output_dir OUT --tokenizer TOK --executor local --tasks 8 --workers 2

``tokenize`` (N tasks): input file ``k`` goes to task ``k mod N``, which writes it as
``<output_dir>/.<name>.work/shard-kkkkk.{bin,idx}`` plus its marker JSON through the same functions as
:func:`pretraining.data.preprocess.preprocess` (``_write_shard``; a shard whose marker matches is reused).
``assemble`` (1 task, after all of them): ``_assemble`` concatenates the shards in input-file order and commits
``.bin`` -> manifest -> ``.idx``. The ``.bin/.idx`` are therefore byte-identical to the single-process output.
Inputs may be on any fsspec path (a remote file is downloaded to a temporary file while it is tokenized);
the output folder must be local, because megatron-core's builder writes local files.
"""
from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

from datatrove.data import DocumentsPipeline
from datatrove.io import get_datafolder
from datatrove.pipeline.base import PipelineStep

from njsl.atomic import write_text_atomic
from njsl.scaleout.executors import ExecutorOptions, Pipeline, StageRun, fingerprint, local_dir_of, run_stages
from njsl.scaleout.io import list_inputs


class _Setup:
    """Tokenizer, megatron module, dtype and shard settings, as ``preprocess`` derives them."""

    def __init__(self, tokenizer: str, append_eod: bool, text_column: str):
        from pretraining.data.preprocess import (
            _load_checked_tokenizer,
            _megatron_indexed,
            _shard_settings,
            kmer_unknown_id,
        )

        self.tok = _load_checked_tokenizer(tokenizer, append_eod)
        self.unk_id = kmer_unknown_id(self.tok)
        self.idx_mod = _megatron_indexed()
        self.dtype = self.idx_mod.DType.optimal_dtype(self.tok.vocab_size)
        self.settings = _shard_settings(self.tok, self.tok.worker_payload(), append_eod, text_column, self.dtype)
        self._encoder = self._encode_fn = None

    def encoder(self):
        """An in-process encoder (the task is the unit of parallelism), built once per process.

        ``preprocess``'s in-process encoder lives in a module global; it is rebuilt when something else (another
        tokenizer's run in this process) replaced it since.
        """
        from pretraining.data import preprocess as pp

        if self._encoder is None or pp._WORKER_ENCODE is not self._encode_fn:
            self._encoder = pp._Encoder(self.tok.worker_payload(), 1)
            self._encode_fn = pp._WORKER_ENCODE
        return self._encoder


# Setups built in this process: the front end builds one to check the tokenizer, and the local executor's
# in-process or forked tasks reuse it rather than loading the tokenizer (and megatron-core) again.
_SETUPS: dict[tuple, _Setup] = {}


def process_setup(tokenizer: str, append_eod: bool, text_column: str) -> _Setup:
    key = (tokenizer, append_eod, text_column)
    if key not in _SETUPS:
        _SETUPS[key] = _Setup(tokenizer, append_eod, text_column)
    return _SETUPS[key]


class TokenizeShardsStep(PipelineStep):
    """Writes this task's input files as Megatron shards (one per input file) with their markers."""

    name = "njsl megatron shards"
    type = "🔢 - TOKENIZER"

    def __init__(self, input_folder: str, files: list[str], work: str, tokenizer: str, append_eod: bool,
                 text_column: str, batch_docs: int, batch_chars: int):
        super().__init__()
        self.input_folder, self.files, self.work = input_folder, list(files), work
        self.tokenizer, self.append_eod, self.text_column = tokenizer, append_eod, text_column
        self.batch_docs, self.batch_chars = batch_docs, batch_chars

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from pretraining.data.preprocess import (
            _read_marker,
            _remove_quietly,
            _size,
            _write_shard,
            hash_source,
        )

        s = process_setup(self.tokenizer, self.append_eod, self.text_column)
        folder = get_datafolder(self.input_folder)
        work = Path(self.work)
        work.mkdir(parents=True, exist_ok=True)
        encoder = s.encoder()
        for k in range(rank, len(self.files), world_size):
            rel = self.files[k]
            shard, marker = work / f"shard-{k:05d}", work / f"shard-{k:05d}.json"
            with _LocalCopy(folder, rel) as src:
                url = folder.resolve_paths(rel)
                source = str(src.resolve()) if local_dir_of(url) else url
                expected = {**s.settings, "source": source, "sha256": hash_source(src), "limit": None}
                info = _read_marker(marker)
                if (info is not None and info.get("key") == expected
                        and all(Path(f"{shard}{x}").exists() for x in (".bin", ".idx"))):
                    self.stat_update("shards_reused")
                    continue
                _remove_quietly(marker)
                with self.track_time(unit="file"):
                    stats = _write_shard(src, shard, encoder, s.idx_mod, s.dtype,
                                         s.tok.eod_id if self.append_eod else None, self.text_column, None, None,
                                         self.batch_docs, self.batch_chars, False, s.unk_id)
                info = {"key": expected, "stats": stats.__dict__, "bytes": _size(src)}
            write_text_atomic(marker, json.dumps(info, indent=1))  # the shard's commit point
            self.stat_update("documents", value=stats.documents)
            self.stat_update("tokens", value=stats.tokens)
        yield from ()


class _LocalCopy:
    """The input file as a local path: itself when local, else a temporary download removed afterwards."""

    def __init__(self, folder, rel: str):
        self.folder, self.rel = folder, rel
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        local = local_dir_of(self.folder.resolve_paths(self.rel))
        if local is not None:
            return Path(local)
        self.tmp = Path(tempfile.mkdtemp(prefix="njsl-preprocess-"))
        dest = self.tmp / Path(self.rel).name  # the name keeps its suffix: the reader picks the format by it
        self.folder.get(self.rel, str(dest))
        return dest

    def __exit__(self, *exc) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)


class AssembleStep(PipelineStep):
    """Concatenates every shard in input-file order into ``<prefix>.bin/.idx`` + manifest (as ``preprocess``)."""

    name = "njsl megatron assemble"
    type = "🔢 - TOKENIZER"

    def __init__(self, prefix: str, work: str, n_files: int, tokenizer: str, append_eod: bool, text_column: str,
                 input_path: str, tasks: int, started: float, allow_unk: bool = False, max_unk_rate: float = 0.1):
        super().__init__()
        self.allow_unk, self.max_unk_rate = allow_unk, max_unk_rate
        self.prefix, self.work, self.n_files = prefix, work, n_files
        self.tokenizer, self.append_eod, self.text_column = tokenizer, append_eod, text_column
        self.input_path, self.tasks, self.started = input_path, tasks, started

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from pretraining.data.preprocess import _assemble, _read_marker, _refuse_content

        s = process_setup(self.tokenizer, self.append_eod, self.text_column)
        work = Path(self.work)
        infos = []
        for k in range(self.n_files):
            info = _read_marker(work / f"shard-{k:05d}.json")
            if info is None or not Path(f"{work / f'shard-{k:05d}'}.bin").exists():
                raise RuntimeError(f"shard {k} of {work} is missing; delete {work} and its .datatrove folder, "
                                   "then rerun")
            infos.append(info)
        try:  # preprocess's own refusals: no non-empty document, too many unknown k-mers
            _refuse_content(infos, s.tok.spec, self.input_path, s.unk_id, self.append_eod, self.allow_unk,
                            self.max_unk_rate)
        except ValueError:
            shutil.rmtree(work, ignore_errors=True)  # nothing half-written stays behind
            raise
        manifest = _assemble(Path(self.prefix), work, infos, s.idx_mod, s.dtype, s.tok, s.settings, self.started,
                             self.tasks, None, self.input_path)
        self.stat_update("documents", value=manifest["documents"])
        shutil.rmtree(work, ignore_errors=True)
        yield from ()


def run_preprocess_pipeline(input_path: str, output_dir: str, tokenizer: str, opts: ExecutorOptions, *,
                            text_column: str = "text", append_eod: bool = True, output_prefix: str | None = None,
                            batch_docs: int = 256, batch_chars: int = 1 << 20, overwrite: bool = False,
                            allow_unk: bool = False, max_unk_rate: float | None = None) -> tuple[StageRun, dict | None]:
    """``njsl preprocess`` on datatrove executors; returns what ran and, once complete, the manifest.

    Refuses what :func:`pretraining.data.preprocess.preprocess` refuses, through its own checks: an output folder
    holding another tokenizer's output (unless ``overwrite``), before anything runs; an input without a non-empty
    document or, for k-mer tokenizers, with too many unknown tokens (unless ``allow_unk``), before assembling.
    """
    from pretraining.data.preprocess import DEFAULT_MAX_UNK_RATE, check_output_folder, default_output_name, \
        read_manifest

    out_local = local_dir_of(str(output_dir))
    if out_local is None:
        raise ValueError(f"--output_dir {output_dir}: must be a local folder (megatron-core writes local files); "
                         "inputs may be remote")
    input_folder, files = list_inputs(str(input_path))
    setup = process_setup(tokenizer, append_eod, text_column)  # a bad tokenizer fails here, once, not per task
    name = output_prefix or default_output_name(str(input_path).rstrip("/"), text_column)
    out = Path(out_local)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--output_dir: {out} is a file, not a folder; give a folder path")
    if not overwrite:
        check_output_folder(out, out / name, setup.settings)
    out.mkdir(parents=True, exist_ok=True)
    tasks = opts.tasks if opts.shard is not None else min(opts.tasks, len(files))
    opts = opts.model_copy(update={"tasks": tasks})
    request = [input_folder, files, tokenizer, text_column, append_eod, name, tasks]
    logging_root = opts.logging_dir or str(out / f".{name}.datatrove" / fingerprint(request))
    work = str(out / f".{name}.work")
    if not Path(work).exists() and Path(logging_root).exists():
        shutil.rmtree(logging_root)  # a finished run removed its shards: its completion markers are stale
    started = time.time()
    tokenize = TokenizeShardsStep(input_folder, files, work, tokenizer, append_eod, text_column, batch_docs,
                                  batch_chars)
    assemble = AssembleStep(str(out / name), work, len(files), tokenizer, append_eod, text_column, str(input_path),
                            tasks, started, allow_unk,
                            DEFAULT_MAX_UNK_RATE if max_unk_rate is None else max_unk_rate)
    run = run_stages([Pipeline("tokenize", [tokenize], tasks), Pipeline("assemble", [assemble], 1)], opts,
                     logging_root)
    return run, (read_manifest(out / name) if run.complete else None)
